"""The ceiling for a dynamic page: the same template rendered in a tight loop, in-process.

    python -m bench.render_loop SITE_FOLDER SECONDS

Prints one JSON line: renders, seconds, renders_per_s and the length of one
render. bench.dynamic runs it pinned to the server CPU.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2

from bench.sitegen import PAGE_NAME, QUERY_VALUE


def template(root: Path) -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(root), autoescape=True)
    return env.get_template(f"{PAGE_NAME}.jinja")


def context(root: Path) -> dict[str, Any]:
    items = json.loads((root / "_data" / "items.json").read_text())
    return {"request": SimpleNamespace(args={"q": QUERY_VALUE}), "data": {"items": items}}


def measure(root: Path, seconds: float) -> dict[str, float]:
    page = template(root)
    values = context(root)
    body = page.render(values)
    renders = 0
    cpu_started = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        # Check the clock every 100 renders, so the loop measures rendering.
        for _ in range(100):
            page.render(values)
        renders += 100
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - started
    cpu = time.process_time() - cpu_started
    return {
        "renders": renders,
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "renders_per_s": renders / elapsed,
        "cpu_us_per_render": cpu / renders * 1e6,
        "body_bytes": len(body.encode()),
    }


def main(argv: list[str]) -> int:
    root, seconds = Path(argv[0]), float(argv[1])
    print(json.dumps(measure(root, seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
