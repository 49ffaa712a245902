"""``siteserve --workers 2`` as a user runs it: real processes, real signals, real sockets.

Linux: the workers share the port with SO_REUSEPORT, and the tests tell which
worker accepted a connection from /proc (``processes.holder``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, TextMessage
from wsproto.events import Request as WsRequest

from siteserve.config import build_config
from siteserve.server import workers
from siteserve.server.state import AccessRecord
from tests.integration.test_cli import Siteserve, _env
from tests.integration.test_reload_http import Socket
from tests.integration.wire import Wire
from tests.integration.worker_processes import DEADLINE, alive, children, holder, until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tests read /proc")

WORKERS_LINE = re.compile(r"^  Workers  2 processes, sessions in SQLite \(_state/sessions\.db\)$")
LOCAL = re.compile(r"Local +(http://127\.0\.0\.1:(\d+)/)")


class Workers(Siteserve):
    """A ``siteserve --workers 2`` process and its workers."""

    def ready(self) -> str:
        return self.wait_for(LOCAL, DEADLINE).group(1)

    @property
    def port(self) -> int:
        local = next(m for m in map(LOCAL.search, self.stdout) if m)
        return int(local.group(2))

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def stderr_lines(self, pattern: re.Pattern[str]) -> list[str]:
        return [line for line in self.stderr if pattern.search(line)]


@pytest.fixture
def start() -> Iterator[type[Workers]]:
    started: list[Workers] = []

    class Tracked(Workers):
        def __init__(self, *args: str) -> None:
            super().__init__(*args, env=_env())
            started.append(self)

    yield Tracked
    for server in started:
        pids = server.workers()
        server.kill()
        for pid in pids:  # orphans, if the supervisor died before them
            if alive(pid):
                with_signal(pid, signal.SIGKILL)


def with_signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text(
        '<!doctype html><link rel="stylesheet" href="/style.css"><h1>home</h1>'
    )
    (root / "style.css").write_text("h1 { color: red }")
    (root / "siteserve.toml").write_text('sessions = "_state/sessions.db"\n')
    return root


def connection_per_worker(port: int, pids: list[int], target: str = "/") -> dict[int, Wire]:
    """Open connections until each worker holds one (SO_REUSEPORT spreads them by hash,
    and a worker just started may not listen yet); each asks for ``target`` once."""
    held: dict[int, Wire] = {}
    end = time.monotonic() + DEADLINE
    while len(held) < len(pids) and time.monotonic() < end:
        wire = Wire(port)
        wire.send(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        wire.read_response()  # answered: accepted by a worker
        pid = holder(wire.sock, pids)
        if pid is not None and pid not in held:
            held[pid] = wire
        else:
            wire.close()
    assert len(held) == len(pids), f"connections reached {len(held)} of {len(pids)} workers"
    return held


def test_two_workers_serve_one_port_with_one_banner_and_one_log(
    start: type[Workers], site: Path
) -> None:
    server = start(str(site), "--workers", "2", "-p", "0")
    url = server.ready()
    pids = server.workers()
    assert len(pids) == 2
    for wire in connection_per_worker(server.port, pids).values():
        wire.close()  # both workers have answered
    with httpx.Client(timeout=DEADLINE) as client:
        for _ in range(6):
            assert client.get(url + "style.css", headers={"Connection": "close"}).status_code == 200
    until(lambda: len(server.log_lines()) >= 2 + 6, "the requests in the log")
    assert server.stop() == 0
    assert sum(line.startswith("siteserve ") for line in server.stdout) == 1
    assert [line for line in server.stdout if LOCAL.search(line)] == [f"  Local    {url}"]
    assert any(WORKERS_LINE.match(line) for line in server.stdout)
    logged = [match.group(1, 2, 3) for match in server.log_lines()]
    assert logged.count(("GET", "/style.css", "200")) == 6, "each request once"
    assert set(logged) == {("GET", "/", "200"), ("GET", "/style.css", "200")}
    assert server.stderr == []


def test_two_workers_with_sessions_in_memory_refuse_to_start(site: Path) -> None:
    (site / "siteserve.toml").unlink()
    done = subprocess.run(
        [sys.executable, "-m", "siteserve", str(site), "--workers", "2", "-p", "0"],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("siteserve: error: 2 workers cannot share sessions kept in")
    assert len(done.stderr.splitlines()) == 1


def test_a_worker_that_dies_is_replaced_and_logged_once(start: type[Workers], site: Path) -> None:
    server = start(str(site), "--workers", "2", "-p", "0", "--quiet")
    url = server.ready()
    first, second = server.workers()
    with_signal(first, signal.SIGKILL)
    died = re.compile(rf"^worker [12] \(pid {first}\) was killed by SIGKILL; starting a new one$")
    until(lambda: bool(server.stderr_lines(died)), "the line about the dead worker")
    until(lambda: len(server.workers()) == 2 and first not in server.workers(), "a new worker")
    replacement = next(pid for pid in server.workers() if pid != second)
    for wire in connection_per_worker(server.port, [second, replacement]).values():
        wire.close()  # both serve
    with httpx.Client(timeout=DEADLINE) as client:
        for _ in range(8):
            assert client.get(url, headers={"Connection": "close"}).status_code == 200
    assert server.stop() == 0
    assert server.stderr == [server.stderr_lines(died)[0]]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_worker_with_status_0(
    start: type[Workers], site: Path, signum: int
) -> None:
    server = start(str(site), "--workers", "2", "-p", "0")
    url = server.ready()
    pids = server.workers()
    with httpx.Client(timeout=DEADLINE) as client:  # an idle keep-alive connection
        assert client.get(url).status_code == 200
        assert server.stop(signum) == 0
    assert not any(alive(pid) for pid in pids)
    assert "Traceback" not in server.output()
    assert server.stderr == []


def test_a_download_in_flight_finishes_when_the_workers_stop(
    start: type[Workers], site: Path
) -> None:
    size = 32 * 1024 * 1024  # far more than the socket buffers hold
    (site / "big.bin").write_bytes(b"x" * size)
    server = start(str(site), "--workers", "2", "-p", "0", "--quiet")
    url = server.ready()
    with httpx.stream("GET", url + "big.bin", timeout=DEADLINE) as response:
        assert response.status_code == 200
        chunks = response.iter_raw(64 * 1024)
        received = len(next(chunks))
        server.process.send_signal(signal.SIGTERM)
        refused = False

        def closed() -> bool:
            nonlocal refused
            try:
                socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE).close()
            except ConnectionRefusedError:
                refused = True
            return refused

        until(closed, "the workers to stop listening")
        for chunk in chunks:
            received += len(chunk)
    assert received == size
    assert server.finish() == 0


def test_workers_stop_when_their_supervisor_is_killed(start: type[Workers], site: Path) -> None:
    server = start(str(site), "--workers", "2", "-p", "0", "--quiet")
    server.ready()
    pids = server.workers()
    server.kill()
    until(lambda: not any(alive(pid) for pid in pids), "the orphaned workers to stop")


class Tab(Socket):
    """A tab's WebSocket, with the token the page fetched (from whichever worker)."""

    def __init__(self, port: int, token: str) -> None:
        self.wire = Wire(port)
        self.ws = WSConnection(ConnectionType.CLIENT)
        origin = f"http://127.0.0.1:{port}"
        self.wire.send(
            self.ws.send(
                WsRequest(
                    host=f"127.0.0.1:{port}",
                    target=f"/__siteserve/ws?socket_token={token}",
                    extra_headers=[("Origin", origin)],
                )
            )
        )


def test_live_reload_reaches_the_tabs_of_every_worker(start: type[Workers], site: Path) -> None:
    server = start(str(site), "--workers", "2", "-p", "0", "--quiet")
    server.ready()
    pids = server.workers()
    # The page asks one worker for the socket's token and may connect to the other.
    asked = connection_per_worker(server.port, pids, "/__siteserve/ws-token")
    issuer, wire = next(iter(asked.items()))
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    wire.send(f"GET /__siteserve/ws-token HTTP/1.1\r\n{host}\r\n".encode())
    status, _, body = wire.read_response()
    assert status == 200
    token = json.loads(body)["token"]
    tabs: dict[int, Tab] = {}
    end = time.monotonic() + DEADLINE
    while len(tabs) < len(pids) and time.monotonic() < end:
        tab = Tab(server.port, token)
        tab.events(AcceptConnection)
        pid = holder(tab.wire.sock, pids)
        if pid is not None and pid not in tabs:
            tabs[pid] = tab
        else:
            tab.wire.close()
    assert len(tabs) == 2 and issuer in tabs, "a tab on each worker, one token"
    for tab in tabs.values():
        tab.say({"type": "hello", "page": "/", "scripts": []})
    (site / "style.css").write_text("h1 { color: blue }")
    for tab in tabs.values():
        update = tab.events(TextMessage)[-1]
        assert isinstance(update, TextMessage)
        assert json.loads(update.data) == {"type": "update", "css": ["/style.css"], "images": []}
    (site / "index.html").write_text("<!doctype html><h1>new</h1>")
    for tab in tabs.values():
        reload = tab.events(TextMessage)[-1]
        assert isinstance(reload, TextMessage)
        # The page was never served: what it is made from is not known, so it loads whole.
        assert json.loads(reload.data) == {"type": "reload", "full": True}
    assert server.stop() == 0


def test_workers_can_share_one_inherited_listening_socket(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Where SO_REUSEPORT does not spread connections (macOS, the BSDs), the supervisor
    # listens and the workers accept on the socket they inherit: the same here, on Linux.
    monkeypatch.setattr(workers, "REUSE_PORT", False)
    records: list[AccessRecord] = []
    config = build_config(site, port=0, workers=2, reload=False)
    supervisor = workers.Supervisor(config, access_log=records.append)
    served: threading.Thread | None = None
    pids: list[int] = []
    try:
        info = supervisor.start()
        assert info is not None and info.port == supervisor.port != 0
        served = threading.Thread(target=supervisor.serve)
        served.start()
        pids = supervisor.pids
        for wire in connection_per_worker(info.port, pids).values():
            wire.close()
        until(lambda: len(records) >= 2, "the records of both workers")
        assert {record.path for record in records} == {"/"}
    finally:
        supervisor.request_stop()
        if served is not None:
            served.join(DEADLINE)
        supervisor.stop()
    assert not any(alive(pid) for pid in pids)


def test_one_share_link_opens_every_worker(start: type[Workers], site: Path) -> None:
    server = start(str(site), "--workers", "2", "-p", "0", "--share-link", "ro", "--quiet")
    server.ready()
    link = server.wait_for(re.compile(r"\?token=([\w-]+)"), DEADLINE).group(1)
    pids = server.workers()
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    for wire in connection_per_worker(server.port, pids, f"/?token={link}").values():
        wire.send(f"GET /?token={link} HTTP/1.1\r\n{host}\r\n".encode())
        status, headers, _ = wire.read_response()
        assert status == 303, "the token of the banner is this worker's too"
        cookie = headers["set-cookie"].split(";")[0]
        wire.send(f"GET / HTTP/1.1\r\n{host}Cookie: {cookie}\r\n\r\n".encode())
        assert wire.read_response()[0] == 200
    assert server.stop() == 0


def told_on_hello(tab: Tab, page: str) -> TextMessage:
    """The first message a tab is told after its hello, saying hello again (as a tab does
    after showing a change in place) until one comes: the worker holding its socket knows
    the page only once another worker's note about it has reached it."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        tab.say({"type": "hello", "page": page, "scripts": []})
        with contextlib.suppress(AssertionError):  # nothing yet: hello again
            told = tab.events(TextMessage, within=0.1)[-1]
            assert isinstance(told, TextMessage)
            return told
    raise AssertionError(f"the tab on {page} was told nothing after its hello")


def tab_on(worker: int, port: int, token: str, pids: list[int], renderer: int) -> Tab:
    """A tab's socket held by ``worker``: sockets are opened until the kernel puts one there."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        candidate = Tab(port, token)
        candidate.events(AcceptConnection)
        if holder(candidate.wire.sock, pids) == worker:
            return candidate
        candidate.wire.close()
    raise AssertionError(f"no socket reached worker {worker} (the page came from {renderer})")


def test_a_tab_on_another_worker_than_its_page_is_told_what_one_process_would(
    start: type[Workers], site: Path
) -> None:
    # A page whose render warns (an undefined name): the warnings go to its tab on hello.
    page = site / "warned.html.jinja"
    page.write_text('<!doctype html><link rel="stylesheet" href="/style.css"><h1>{{ gone }}</h1>')
    server = start(str(site), "--workers", "2", "-p", "0", "--quiet")
    server.ready()
    pids = server.workers()
    held = connection_per_worker(server.port, pids, "/__siteserve/ws-token")
    (renderer, wire), (other, _) = held.items()
    # The page is served by one worker (its sources are that worker's to know)...
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    wire.send(f"GET /warned.html HTTP/1.1\r\n{host}\r\n".encode())
    assert wire.read_response()[0] == 200
    wire.send(f"GET /__siteserve/ws-token HTTP/1.1\r\n{host}\r\n".encode())
    token = json.loads(wire.read_response()[2])["token"]
    # ...and its tab's socket lands on the other one, which learns of the page from the
    # first worker through the supervisor, a few milliseconds later: once it has, the
    # tab's hello is told the render's warnings, as one process would tell them.
    tab = tab_on(other, server.port, token, pids, renderer)
    warnings = json.loads(told_on_hello(tab, "/warned.html").data)
    assert warnings["type"] == "warnings" and "gone" in warnings["messages"][0]
    (site / "style.css").write_text("h1 { color: blue }")
    update = tab.events(TextMessage)[-1]
    assert isinstance(update, TextMessage)
    assert json.loads(update.data) == {"type": "update", "css": ["/style.css"], "images": []}
    page.write_text("<!doctype html><h1>new</h1>")
    reload = tab.events(TextMessage)[-1]
    assert isinstance(reload, TextMessage)
    assert json.loads(reload.data) == {"type": "reload"}  # its HTML only: shown in place
    assert server.stop() == 0


def add_layout_page(site: Path) -> None:
    """/page, made from a layout; and notes.txt, a file no page uses."""
    (site / "_layouts").mkdir()
    layout = "<!doctype html><h1>{% block h %}{% endblock %}</h1>"
    (site / "_layouts" / "base.html").write_text(layout)
    (site / "page.html.jinja").write_text('{% extends "_layouts/base.html" %}')
    (site / "notes.txt").write_text("a file no page uses")


def serve_page_noted(server: Workers, wire: Wire, host: str) -> None:
    """/page served through ``wire``, and its graph note with the supervisor.

    A worker sends its request log and its graph notes in one batch, log first: once the
    supervisor has printed /page's line, it has the page's note to relay too. (A real
    tab takes far longer to open its socket than this test does.)
    """
    wire.send(f"GET /page HTTP/1.1\r\n{host}\r\n".encode())
    assert wire.read_response()[0] == 200
    until(
        lambda: any(line.group(2) == "/page" for line in server.log_lines()),
        "the page's line in the supervisor's log",
    )


def test_a_file_no_page_uses_reloads_no_tab_whichever_worker_served_its_page(
    start: type[Workers], site: Path
) -> None:
    # Without the relay of page graphs, the worker holding the tab's socket has never
    # seen the page: it counts as unknown, and an unknown page reloads on any change
    # (not only on its own sources), which one process would never do.
    add_layout_page(site)
    server = start(str(site), "--workers", "2", "-p", "0")
    server.ready()
    pids = server.workers()
    held = connection_per_worker(server.port, pids, "/__siteserve/ws-token")
    (renderer, wire), (other, _) = held.items()
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    serve_page_noted(server, wire, host)
    wire.send(f"GET /__siteserve/ws-token HTTP/1.1\r\n{host}\r\n".encode())
    token = json.loads(wire.read_response()[2])["token"]
    tab = tab_on(other, server.port, token, pids, renderer)
    tab.say({"type": "hello", "page": "/page", "scripts": []})
    # The unused file first, then a stylesheet: the first message must be the stylesheet's.
    (site / "notes.txt").write_text("still unused")
    (site / "style.css").write_text("h1 { color: blue }")
    update = tab.events(TextMessage)[-1]
    assert isinstance(update, TextMessage)
    assert json.loads(update.data) == {"type": "update", "css": ["/style.css"], "images": []}
    (site / "_layouts" / "base.html").write_text("<!doctype html><p>new</p>")
    reload = tab.events(TextMessage)[-1]
    assert isinstance(reload, TextMessage)
    assert json.loads(reload.data) == {"type": "reload"}
    assert server.stop() == 0


def test_a_restarted_worker_knows_the_pages_served_before_it_started(
    start: type[Workers], site: Path
) -> None:
    # The supervisor keeps the page-graph notes and hands them to a new worker before it
    # listens: without them, its tabs' pages count as unknown and reload on any change.
    add_layout_page(site)
    server = start(str(site), "--workers", "2", "-p", "0")
    server.ready()
    pids = server.workers()
    held = connection_per_worker(server.port, pids, "/__siteserve/ws-token")
    (renderer, wire), (doomed, doomed_wire) = held.items()
    doomed_wire.close()
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    serve_page_noted(server, wire, host)
    with_signal(doomed, signal.SIGKILL)
    until(lambda: len(server.workers()) == 2 and doomed not in server.workers(), "a new worker")
    replacement = next(pid for pid in server.workers() if pid != renderer)
    for other_wire in connection_per_worker(server.port, [renderer, replacement]).values():
        other_wire.close()  # both listen
    wire.send(f"GET /__siteserve/ws-token HTTP/1.1\r\n{host}\r\n".encode())
    token = json.loads(wire.read_response()[2])["token"]
    tab = tab_on(replacement, server.port, token, [renderer, replacement], renderer)
    tab.say({"type": "hello", "page": "/page", "scripts": []})
    (site / "notes.txt").write_text("still unused")
    (site / "style.css").write_text("h1 { color: blue }")
    update = tab.events(TextMessage)[-1]
    assert isinstance(update, TextMessage)
    assert json.loads(update.data) == {"type": "update", "css": ["/style.css"], "images": []}
    assert server.stop() == 0
