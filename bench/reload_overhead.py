"""What live reload costs a file request, in CPU microseconds, against ``--no-reload``.

The whole layer stack (``assemble.build_app``) is asked in-process, one request after
another, for a 1 KB file and a 100 KB file, with reload on and off, alternating in
rounds so a busy machine weighs on both alike; the figure is the best round's CPU time
per request (``time.process_time``). Everything reload adds to a file's answer happens
in the app (the reload layer, the page graph; the watcher's thread is idle), so the
server's socket work, the same for both, is left out, and the figure does not depend on
a free core (which ``bench.static`` needs). Run from the repository root:
``python -m bench.reload_overhead [--requests 20000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import tempfile
import time
from pathlib import Path

from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import FileBody
from siteserve.layers import App

FILES = {"small.txt": 1024, "large.txt": 100 * 1024}


async def per_request_us(app: App, path: str, count: int) -> float:
    request = Request(
        "GET",
        path,
        path,
        "",
        Headers([("host", "127.0.0.1:8000"), ("accept-encoding", "gzip, br")]),
    )
    started = time.process_time()
    for _ in range(count):
        result = app.handle(request)
        response = await result if inspect.isawaitable(result) else result
        if isinstance(response.body, FileBody):
            response.body.close()
    return (time.process_time() - started) / count * 1e6


async def measure(root: Path, requests: int, rounds: int) -> dict[tuple[str, bool], float]:
    apps: dict[bool, App] = {}
    for reload in (True, False):
        app = build_app(build_config(root, reload=reload, quiet=True))
        await app.startup()
        apps[reload] = app
    best: dict[tuple[str, bool], float] = {}
    try:
        for name in FILES:
            for reload in (True, False):  # warm every cache first
                await per_request_us(apps[reload], f"/{name}", 200)
        for _ in range(rounds):
            for name in FILES:
                for reload in (True, False):
                    us = await per_request_us(apps[reload], f"/{name}", requests)
                    key = (name, reload)
                    best[key] = min(us, best.get(key, us))
    finally:
        for app in apps.values():
            await app.shutdown()
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="reload-overhead-") as folder:
        root = Path(folder)
        for name, size in FILES.items():
            (root / name).write_bytes(b"x" * size)
        best = asyncio.run(measure(root, args.requests, args.rounds))
    print(f"{'file':<10} {'reload on':>10} {'--no-reload':>12} {'cost':>7}")
    for name in FILES:
        on, off = best[(name, True)], best[(name, False)]
        print(f"{name:<10} {on:>8.1f}us {off:>10.1f}us {(on / off - 1) * 100:>+6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
