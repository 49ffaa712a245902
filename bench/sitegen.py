"""The generated site every server serves: fixed sizes, deterministic content."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class StaticFiles:
    root: Path
    small: str = "/1k.txt"
    medium: str = "/100k.txt"
    large: str = "/10m.bin"
    script: str = "/app.js"


def _text(size: int, seed: int) -> bytes:
    """Readable ASCII text of exactly ``size`` bytes."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        for _ in range(400)
    ]
    out: list[str] = []
    length = 0
    while length < size:
        line = " ".join(rng.choice(words) for _ in range(12)) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out).encode()[:size]


def _javascript(size: int, seed: int) -> bytes:
    """Plausible, compressible JavaScript of exactly ``size`` bytes (about 4:1 with gzip)."""
    rng = random.Random(seed)
    names = ["render", "update", "state", "node", "value", "items", "index", "event", "props"]
    chunks: list[str] = []
    length = 0
    n = 0
    while length < size:
        a, b, c = rng.sample(names, 3)
        chunk = (
            f"export function {a}{n}({b}, {c}) {{\n"
            f"  const {a} = {b}.map((x, i) => x * {rng.randint(1, 999)} + i);\n"
            f"  if ({c} && {c}.length > {rng.randint(0, 50)}) {{\n"
            f'    return {a}.filter(Boolean).join("{rng.choice(names)}");\n'
            f"  }}\n"
            f"  return {{ {a}, {b}, count: {rng.randint(0, 100000)} }};\n"
            f"}}\n"
        )
        chunks.append(chunk)
        length += len(chunk)
        n += 1
    return "".join(chunks).encode()[:size]


def make_static_site(root: Path) -> StaticFiles:
    root.mkdir(parents=True, exist_ok=True)
    files = StaticFiles(root)
    (root / files.small.lstrip("/")).write_bytes(_text(KB, 1))
    (root / files.medium.lstrip("/")).write_bytes(_text(100 * KB, 2))
    (root / files.script.lstrip("/")).write_bytes(_javascript(100 * KB, 3))
    rng = random.Random(4)
    # Incompressible bytes: the large-file scenario measures copying, nothing else.
    (root / files.large.lstrip("/")).write_bytes(rng.randbytes(10 * MB))
    return files


# The dynamic page: a layout, a loop over 20 items, the query echoed. The same
# files are rendered by siteserve, by Flask and in-process (the ceiling).
LAYOUT = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}Bench{% endblock %}</title>
  <link rel="stylesheet" href="/style.css">
</head>
<body>
  <header><nav><a href="/">Home</a> <a href="/about">About</a></nav></header>
  <main>{% block content %}{% endblock %}</main>
  <footer>Generated for the benchmark.</footer>
</body>
</html>
"""

#: The pages, by weight. "simple": each item's name, link and price. "rich":
#: filters (format, join), loop.cycle and a condition per item, which makes the
#: render itself several times dearer, so the server's own share shrinks.
PAGES = {
    "simple": """\
{% extends "_layouts/base.html" %}
{% block title %}Items for {{ request.args.get("q", "nobody") }}{% endblock %}
{% block content %}
<h1>Hello, {{ request.args.get("q", "nobody") }}</h1>
<ul class="items">
{% for item in data["items"] %}
  <li><a href="/items/{{ item.id }}">{{ item.name }}</a> {{ item.price }}</li>
{% endfor %}
</ul>
{% endblock %}
""",
    "rich": """\
{% extends "_layouts/base.html" %}
{% block title %}Items for {{ request.args.get("q", "nobody") }}{% endblock %}
{% block content %}
<h1>Hello, {{ request.args.get("q", "nobody") }}</h1>
<ul class="items">
{% for item in data["items"] %}
  <li id="item-{{ item.id }}" class="{{ parity }}">
    <strong>{{ item.name }}</strong> costs {{ "%.2f"|format(item.price) }}
    {% if item.tags %}<em>{{ item.tags|join(", ") }}</em>{% endif %}
  </li>
{% endfor %}
</ul>
<p>{{ data["items"]|length }} items.</p>
{% endblock %}
""",
    # "heavy": what a real page does besides a loop: a macro file imported, a
    # partial included per item, filters (sort, truncate, format, join, sum, round).
    "heavy": """\
{% extends "_layouts/base.html" %}
{% import "_partials/macros.html" as m %}
{% block title %}Items for {{ request.args.get("q", "nobody")|title }}{% endblock %}
{% block content %}
<h1>Hello, {{ request.args.get("q", "nobody")|upper }}</h1>
<ul class="items">
{% for item in data["items"]|sort(attribute="price") %}
{% with parity = loop.cycle("odd", "even") %}{% include "_partials/item.html" %}{% endwith %}
{% endfor %}
</ul>
<p>{{ m.total(data["items"]) }}</p>
{% endblock %}
""",
}

#: The partials of the "heavy" page, under ``_partials/`` (written for every page).
PARTIALS = {
    "macros.html": """\
{% macro price(value) %}<span class="price">{{ "%.2f"|format(value) }} EUR</span>{% endmacro %}
{% macro tags(names) %}<em>{{ names|map("upper")|join(", ") }}</em>{% endmacro %}
{% macro total(items) %}{{ items|length }} items, {{ items|sum(attribute="price")|round(2) }}\
 EUR in all{% endmacro %}
""",
    "item.html": """\
{% import "_partials/macros.html" as m %}
  <li id="item-{{ item.id }}" class="{{ parity }}">
    <strong>{{ item.name|truncate(12) }}</strong> {{ m.price(item.price) }}
    {% if item.tags %}{{ m.tags(item.tags) }}{% endif %}
  </li>
""",
}

PAGE_NAME = "page.html"
#: Echoed by the page; the markup in it must come out escaped.
QUERY_VALUE = "bench<user>"
PAGE_PATH = "/page?q=bench%3Cuser%3E"


def items() -> list[dict[str, object]]:
    rng = random.Random(5)
    return [
        {
            "id": i,
            "name": f"Item <{i}> & co",
            "price": round(rng.uniform(1, 500), 2),
            "tags": rng.sample(["red", "green", "blue", "new", "sale"], rng.randint(0, 3)),
        }
        for i in range(20)
    ]


def make_dynamic_site(root: Path, page: str = "simple") -> None:
    """siteserve's layout: ``page.html.jinja``, ``_layouts/base.html``, ``_partials/*.html``,
    ``_data/items.json``."""
    (root / "_layouts").mkdir(parents=True, exist_ok=True)
    (root / "_data").mkdir(exist_ok=True)
    (root / "_partials").mkdir(exist_ok=True)
    (root / "_layouts" / "base.html").write_text(LAYOUT)
    for name, text in PARTIALS.items():
        (root / "_partials" / name).write_text(text)
    (root / f"{PAGE_NAME}.jinja").write_text(PAGES[page])
    (root / "_data" / "items.json").write_text(json.dumps(items(), indent=1))
