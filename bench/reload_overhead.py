"""What live reload costs a request, in CPU microseconds, against ``--no-reload``.

The whole server but its sockets is asked in-process: one connection of the real
protocol (``server.protocol.HttpConnection``, with the answer cache the server makes)
on a transport that only counts what is written, fed one request per read, the same
bytes each time, as a browser or wrk sends them. Scenarios:

- ``file-1k``: a repeated request for a 1 KB file (after the first, a kept answer:
  ``server.answers``);
- ``file-1k-new-query``: the same file with a new query string each time, so every
  answer is made by the parser, the layers and the Site (none given again);
- ``file-100k``: as the first, a 100 KB file;
- ``page``: bench.dynamic's anchor page (a layout, a 20-item loop, the query echoed),
  whose render is reused until one of its files changes (``site.reuse``).

Reload on and off alternate in rounds so a busy machine weighs on both alike; the
figure is the best round's CPU time per request (``time.process_time``). The watcher's
thread is idle and the socket work is the same for both, so what differs is what the
reload layer adds. Run from the repository root:
``python -m bench.reload_overhead [--requests 20000] [--rounds 5] [--only file-1k,page]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from bench.sitegen import PAGE_PATH, make_dynamic_site
from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.layers import App
from siteserve.server.protocol import HttpConnection
from siteserve.server.state import ServerState

FILES = {"small.txt": 1024, "large.txt": 100 * 1024}


@dataclass(frozen=True)
class Scenario:
    name: str
    #: The request target of the n-th request.
    target: Callable[[int], str]


SCENARIOS = (
    Scenario("file-1k", lambda n: "/small.txt"),
    Scenario("file-1k-new-query", lambda n: f"/small.txt?n={n}"),
    Scenario("file-100k", lambda n: "/large.txt"),
    Scenario("page", lambda n: PAGE_PATH),
)


class CountingTransport:
    """The transport side the protocol uses: writes are counted, never kept."""

    def __init__(self) -> None:
        self.writes = 0
        self.closing = False
        #: Set at each write, for an answer made in a task or a thread.
        self.wrote = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.writes += 1
        self.wrote.set()

    def writelines(self, chunks: Iterable[bytes]) -> None:
        self.write(b"")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 50000) if name == "peername" else default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def request_bytes(target: str) -> bytes:
    return (
        f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
        "User-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip, br\r\n\r\n"
    ).encode()


class Client:
    """One connection of a server built on ``app``, asked one request per read."""

    def __init__(self, app: App, root: Path) -> None:
        config = build_config(root, quiet=True)
        state = ServerState(app=app, limits=config.limits, loop=asyncio.get_running_loop())
        self.connection = HttpConnection(state)
        self.transport = CountingTransport()
        self.connection.connection_made(cast(asyncio.Transport, self.transport))

    async def ask(self, data: bytes) -> None:
        transport = self.transport
        written = transport.writes
        transport.wrote.clear()
        self.connection.data_received(data)
        if transport.writes == written:  # an answer made in a task or a thread
            await transport.wrote.wait()


async def per_request_us(client: Client, scenario: Scenario, count: int, start: int) -> float:
    requests = [request_bytes(scenario.target(start + n)) for n in range(count)]
    started = time.process_time()
    for data in requests:
        await client.ask(data)
    return (time.process_time() - started) / count * 1e6


async def measure(
    root: Path, scenarios: list[Scenario], requests: int, rounds: int
) -> dict[tuple[str, bool], float]:
    apps: dict[bool, App] = {}
    clients: dict[bool, Client] = {}
    for reload in (True, False):
        app = build_app(build_config(root, reload=reload, quiet=True))
        await app.startup()
        apps[reload] = app
        clients[reload] = Client(app, root)
    best: dict[tuple[str, bool], float] = {}
    sent = 0
    try:
        for scenario in scenarios:
            for reload in (True, False):  # warm every cache first (a page is timed cheap)
                await per_request_us(clients[reload], scenario, 300, sent)
            sent += 300
        for _ in range(rounds):
            for scenario in scenarios:
                for reload in (True, False):
                    us = await per_request_us(clients[reload], scenario, requests, sent)
                    key = (scenario.name, reload)
                    best[key] = min(us, best.get(key, us))
                sent += requests
    finally:
        for app in apps.values():
            await app.shutdown()
    return best


def make_site(root: Path) -> None:
    make_dynamic_site(root, "simple")
    for name, size in FILES.items():
        (root / name).write_bytes(b"x" * size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated scenarios, of {', '.join(s.name for s in SCENARIOS)} [all]",
    )
    args = parser.parse_args(argv)
    wanted = {name.strip() for name in args.only.split(",") if name.strip()}
    scenarios = [s for s in SCENARIOS if not wanted or s.name in wanted]
    if not scenarios:
        parser.error(f"no scenario named {args.only!r}")
    with tempfile.TemporaryDirectory(prefix="reload-overhead-") as folder:
        root = Path(folder)
        make_site(root)
        best = asyncio.run(measure(root, scenarios, args.requests, args.rounds))
    width = max(len(s.name) for s in scenarios)
    print(f"{'request':<{width}} {'reload on':>10} {'--no-reload':>12} {'cost':>7}")
    for scenario in scenarios:
        on, off = best[(scenario.name, True)], best[(scenario.name, False)]
        cost = (on / off - 1) * 100
        print(f"{scenario.name:<{width}} {on:>8.1f}us {off:>10.1f}us {cost:>+6.1f}%")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
