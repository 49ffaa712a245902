"""Sites for the build tests: a generated one with every kind of page, and helpers.

The generated site has a layout and a partial, ``_data``, a ``[slug]`` and a
``[...path]`` route, a page that redirects, a custom 404 page, a page that reads
the query (a warning), a static route file, hashed and plain assets, a
``[headers]`` rule and a ``[build] paths`` entry that no link reaches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from siteserve.build.host_rules import file_urls
from siteserve.build.manifest import MARKER, read_manifest
from siteserve.build.report import BuildReport
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings, Layout

#: 2023-11-14T22:13:20Z: every page of a test build (and of the live server it is
#: compared with) sees this instant.
CLOCK = 1_700_000_000.0
SAMPLE_SITE = Path(__file__).resolve().parents[2] / "sample_site"

POSTS = [
    {"slug": "first", "title": "First post", "body": "Hello <world> & all."},
    {"slug": "second", "title": "Second post", "body": "More words."},
    {"slug": "café", "title": "Un café", "body": "Unicode in a URL."},
]

GENERATED = {
    "siteserve.toml": (
        '[site]\ntitle = "Generated"\n\n'
        '[headers]\n"*.txt" = { X-Robots-Tag = "noindex" }\n\n'
        '[build]\npaths = ["/docs/hidden/page"]\n'
    ),
    "_layouts/base.html": (
        "<!doctype html>\n<html><head><title>{% block title %}{% endblock %} · {{ site.title }}"
        '</title>\n<link rel="stylesheet" href="/assets/site.3f9a2c1b.css">\n'
        '<link rel="stylesheet" href="/assets/plain.css"></head>\n'
        '<body>{% include "_partials/nav.html" %}\n<main>{% block content %}{% endblock %}</main>\n'
        "</body></html>\n"
    ),
    "_partials/nav.html": (
        '<nav><a href="/">Home</a> <a href="/about">About</a> <a href="/blog/">Blog</a> '
        '<a href="/docs/guide/intro">Docs</a></nav>'
    ),
    "_data/posts.json": json.dumps(POSTS),
    "index.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}Home{% endblock %}\n'
        "{% block content %}<h1>Home</h1><ul>{% for post in data.posts %}"
        "<li><a href=\"{{ url('/blog/' ~ post.slug) }}\">{{ post.title }}</a></li>"
        '{% endfor %}</ul><p><a href="/old">the old page</a> <a href="/search?q=x">search</a>'
        ' <a href="about.html">about, spelled with .html</a></p>{% endblock %}\n'
    ),
    "about.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}About{% endblock %}\n'
        '{% block content %}<p>About us. <a href="files/readme.txt">readme</a>'
        ' <img src="/assets/bg.png" alt=""></p>{% endblock %}\n'
    ),
    "blog/index.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}Blog{% endblock %}\n'
        "{% block content %}{% for post in data.posts %}"
        "<a href=\"{{ url('/blog/' ~ post.slug) }}\">{{ post.title }}</a>\n"
        "{% endfor %}{% endblock %}\n"
    ),
    "blog/[slug].html.jinja": (
        '{%- set found = data.posts | selectattr("slug", "equalto", params.slug) | list -%}\n'
        "{%- if not found %}{% do abort(404) %}{% endif -%}\n"
        '{% extends "_layouts/base.html" %}{% block title %}{{ found[0].title }}{% endblock %}\n'
        "{% block content %}<article><h1>{{ found[0].title }}</h1><p>{{ found[0].body }}</p>"
        '<a href="/blog/">all posts</a> <a href="/blog/no-such-post">a broken link</a>'
        "</article>{% endblock %}\n"
    ),
    "docs/[...path].html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}Docs {{ params.path }}{% endblock %}\n'
        "{% block content %}<p>Chapter {{ params.path }}</p>"
        '{% if params.path == "guide/intro" %}<a href="setup">next</a>{% endif %}'
        '{% if params.path == "guide/setup" %}<a href="intro">back</a>{% endif %}'
        "{% endblock %}\n"
    ),
    "old.html.jinja": "{% do redirect(url('/about'), 301) %}",
    "search.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}Search{% endblock %}\n'
        "{% block content %}<p>Results for {{ request.args.q or 'nothing' }}</p>{% endblock %}\n"
    ),
    "404.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}Not found{% endblock %}\n'
        "{% block content %}<p>Nothing here ({{ error.status }}).</p>{% endblock %}\n"
    ),
    "lonely/[id].html.jinja": "No page links here: {{ params.id }}",
    "files/[name].txt": "One file for every name.\n",
    "assets/site.3f9a2c1b.css": "body { margin: 0 }\n" * 80,
    "assets/plain.css": "main { background: url(/assets/bg.png) }\n",
    "notes.txt": "Plain notes.\n",
    "_drafts/secret.html": "not published",
    ".env": "SECRET=1",
}

#: Binary files: bytes, not text.
GENERATED_BYTES = {"assets/bg.png": bytes(range(256)) * 8}


def write_site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def make_generated_site(root: Path) -> Path:
    write_site(root, GENERATED)
    for name, data in GENERATED_BYTES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def build(
    root: Path, out: Path, *, layout: Layout = "html", jobs: int = 0, **options: bool
) -> BuildReport:
    settings = BuildSettings(
        root=root.resolve(), out=out.resolve(), layout=layout, jobs=jobs, clock=CLOCK, **options
    )
    return build_site(settings)


def candidate_urls(out: Path) -> list[str]:
    """Every URL of the built site worth asking the live server and the host for."""
    manifest = read_manifest(out / MARKER)
    urls: set[str] = set()
    for url, record in manifest.visits.items():
        if url.startswith("/"):
            urls.add(url)
            if not url.endswith("/") and record.kind == "page":
                urls.update((url + ".html", url + "/"))
    for rel in manifest.files:
        if rel in (MARKER, "_headers", "_redirects") or rel.endswith((".gz", ".br")):
            continue
        urls.update(file_urls(rel))
    return sorted(urls)


def tree_bytes(folder: Path, *, skip: tuple[str, ...] = (MARKER,)) -> dict[str, bytes]:
    found = {}
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if rel not in skip:
                found[rel] = path.read_bytes()
    return found


def tree_state(*folders: Path) -> dict[str, tuple[int, int]]:
    """Names, sizes and mtimes (not following links): what "touched nothing" compares."""
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not os.path.lexists(folder):
            seen[str(folder)] = (-1, -1)
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                info = os.lstat(os.path.join(dirpath, name))
                seen[os.path.join(dirpath, name)] = (info.st_size, info.st_mtime_ns)
    return seen
