"""Uploads on a real server: streamed to disk, never overwriting, bounded, clean when broken."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from siteserve.config import build_config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from tests.conftest import RunningServer, running_server

Serve = Callable[..., RunningServer]
DEADLINE = 10.0
JSON = {"Accept": "application/json"}
MB = 1024 * 1024


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "existing.txt").write_text("keep me")
    (folder / "_private").mkdir()
    (folder / "page.html.jinja").write_text("{{ request.method }} {{ request.form.x }}")
    return folder


def names(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.02)


def test_a_form_upload_lands_and_goes_back_to_the_listing(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    response = httpx.post(
        server.url("/inbox/"), files={"file": ("report.pdf", b"%PDF-1.7 data", "application/pdf")}
    )
    assert response.status_code == 303  # See Other: the browser GETs the listing
    assert response.headers["location"] == "/inbox/"
    assert (root / "inbox" / "report.pdf").read_bytes() == b"%PDF-1.7 data"
    assert names(root / "inbox") == {"existing.txt", "report.pdf"}  # no temporary file left
    listing = httpx.get(server.url("/inbox/")).text
    assert "report.pdf" in listing
    assert 'enctype="multipart/form-data"' in listing and 'name="mkdir"' in listing


def test_several_files_and_json_for_scripts(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    files = [
        ("file", ("one.txt", b"1", "text/plain")),
        ("file", ("two.txt", b"22", "text/plain")),
        ("file", ("", b"", "application/octet-stream")),  # an empty file input: ignored
    ]
    response = httpx.post(server.url("/"), files=files, headers=JSON)
    assert response.status_code == 201
    assert response.json() == {
        "created": [
            {"name": "one.txt", "href": "/one.txt", "type": "file", "size": 1},
            {"name": "two.txt", "href": "/two.txt", "type": "file", "size": 2},
        ]
    }
    assert (root / "two.txt").read_bytes() == b"22"


def test_never_overwrites(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    for content in (b"first", b"second", b"third"):
        files = {"file": ("existing.txt", content, "text/plain")}
        assert httpx.post(server.url("/inbox/"), files=files).status_code == 303
    assert (root / "inbox" / "existing.txt").read_text() == "keep me"
    assert (root / "inbox" / "existing (1).txt").read_bytes() == b"first"
    assert (root / "inbox" / "existing (2).txt").read_bytes() == b"second"
    assert (root / "inbox" / "existing (3).txt").read_bytes() == b"third"
    archive = {"file": ("backup.tar.gz", b"gz", "application/gzip")}
    httpx.post(server.url("/inbox/"), files=archive)
    httpx.post(server.url("/inbox/"), files=archive)
    assert {"backup.tar.gz", "backup (1).tar.gz"} <= names(root / "inbox")


def test_concurrent_uploads_of_one_name_keep_both(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    results: list[int] = []

    def send(content: bytes) -> None:
        files = {"file": ("same.bin", content, "application/octet-stream")}
        results.append(httpx.post(server.url("/inbox/"), files=files).status_code)

    threads = [threading.Thread(target=send, args=(bytes([i]) * 300_000,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)
    assert results == [303] * 4
    stored = sorted(
        (root / "inbox" / name).read_bytes()[:1]
        for name in names(root / "inbox") - {"existing.txt"}
    )
    assert stored == [b"\x00", b"\x01", b"\x02", b"\x03"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../escape.txt", "escape.txt"),
        ("..\\..\\windows.txt", "windows.txt"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        (".bashrc", "bashrc"),
        ("_layout.html", "layout.html"),
        ("bell\x07\x1b[31mred.txt", "bell[31mred.txt".replace("[", "(")),
        ("gpj\u202e.exe", "gpj.exe"),  # the right-to-left override that disguises names
        ("x.html.jinja", "x.html.jinja.txt"),
        ("[slug].html", "(slug).html"),
        ("siteserve.toml", "siteserve.toml.txt"),  # the config name is hidden: made visible
        ('a<b>:c"d|e?f*.txt', "a_b__c_d_e_f_.txt"),
        ("CON.txt", "CON_.txt"),
        ("...", "upload"),
        ("   spaced   out  .txt", "spaced out .txt"),
    ],
)
def test_names_are_sanitized(serve_site: Serve, root: Path, sent: str, stored: str) -> None:
    server = serve_site(root, upload=True)
    response = httpx.post(
        server.url("/inbox/"), files={"file": (sent, b"data", "text/plain")}, headers=JSON
    )
    assert response.status_code == 201, response.text
    created = response.json()["created"][0]["name"]
    assert names(root / "inbox") == {"existing.txt", created}
    assert (root / "inbox" / created).read_bytes() == b"data"
    assert created == stored
    assert httpx.get(server.url("/inbox/" + quote(created))).content == b"data"


def test_render_globs_never_turn_an_upload_into_a_page(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True, render=("*.html",))
    page = b"{{ 7 * 6 }}"
    response = httpx.post(
        server.url("/inbox/"), files={"file": ("evil.html", page, "text/html")}, headers=JSON
    )
    created = response.json()["created"][0]["name"]
    assert created == "evil.html.txt"
    served = httpx.get(server.url("/inbox/" + created))
    assert served.content == page  # shown as text, never rendered to "42"


def test_mkdir(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    made = httpx.post(server.url("/inbox/"), data={"mkdir": "Holiday photos"})
    assert made.status_code == 303 and made.headers["location"] == "/inbox/"
    assert (root / "inbox" / "Holiday photos").is_dir()
    again = httpx.post(server.url("/inbox/"), data={"mkdir": "Holiday photos"}, headers=JSON)
    assert again.json()["created"] == [
        {
            "name": "Holiday photos",
            "href": "/inbox/Holiday%20photos/",
            "type": "directory",
            "size": None,
        }
    ]
    clash = httpx.post(server.url("/inbox/"), data={"mkdir": "existing.txt"}, headers=JSON)
    assert clash.json()["created"][0]["name"] == "existing (1).txt"
    hidden = httpx.post(server.url("/inbox/"), data={"mkdir": "../.ssh"}, headers=JSON)
    assert hidden.json()["created"][0]["name"] == "ssh"
    # Multipart (the listing's upload form may carry it too) and then upload into it.
    httpx.post(server.url("/inbox/"), files={"mkdir": (None, "sub")})
    into = httpx.post(server.url("/inbox/sub/"), files={"file": ("in.txt", b"in", "text/plain")})
    assert into.status_code == 303 and (root / "inbox" / "sub" / "in.txt").read_bytes() == b"in"


def test_the_size_limit_answers_413_and_leaves_nothing(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True, max_upload="1M")
    big = os.urandom(2 * 1024 * 1024)
    response = httpx.post(server.url("/inbox/"), files={"file": ("big.bin", big)}, headers=JSON)
    assert response.status_code == 413
    assert "1.0 MiB" in response.json()["error"]
    assert names(root / "inbox") == {"existing.txt"}

    # Without a length up front (chunked), the excess is found while reading.
    def chunks() -> Iterator[bytes]:
        boundary = b"--b0und"
        yield (
            boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="c.bin"\r\n\r\n'
        )
        for _ in range(32):
            yield os.urandom(64 * 1024)
        yield b"\r\n" + boundary + b"--\r\n"

    chunked = httpx.post(
        server.url("/inbox/"),
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=b0und", **JSON},
    )
    assert chunked.status_code == 413
    wait_until(lambda: names(root / "inbox") == {"existing.txt"})
    small = httpx.post(server.url("/inbox/"), files={"file": ("ok.bin", big[:500_000])})
    assert small.status_code == 303


def test_other_bodies_keep_the_ordinary_limit(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True, limits={"max_body": 4096})
    body = {"file": ("ok.bin", b"x" * 100_000)}
    assert httpx.post(server.url("/inbox/"), files=body).status_code == 303
    # A page's form body is read whole into memory: it stays under limits.max_body.
    assert httpx.post(server.url("/page"), data={"x": "y" * 100_000}).status_code == 413
    assert httpx.post(server.url("/page"), data={"x": "y"}).text == "POST y"


def test_a_broken_upload_leaves_nothing(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    inbox = root / "inbox"
    head = (
        "POST /inbox/ HTTP/1.1\r\nHost: localhost\r\n"
        "Content-Type: multipart/form-data; boundary=XyZ\r\n"
        f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
    ).encode()
    part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n'
    done_part = (
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="whole.txt"\r\n\r\n'
        b"complete\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as client:
        client.sendall(head + done_part + part + os.urandom(3 * 1024 * 1024))
        # The part is being written to a hidden temporary file in the folder...
        wait_until(lambda: any(name.startswith(".siteserve-upload-") for name in names(inbox)))
    # ... and the connection drops before the end: every file of the request is gone,
    # the complete first one too (an upload is all or nothing).
    wait_until(lambda: names(inbox) == {"existing.txt"})
    assert httpx.get(server.url("/inbox/")).status_code == 200


def test_malformed_bodies_are_400_and_leave_nothing(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    url = server.url("/inbox/")
    cut = b'--q\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nabc'
    multipart = {"Content-Type": "multipart/form-data; boundary=q", **JSON}
    assert httpx.post(url, content=cut, headers=multipart).status_code == 400
    no_boundary = {"Content-Type": "multipart/form-data"}
    assert httpx.post(url, content=b"x", headers=no_boundary).status_code == 400
    assert httpx.post(url, content=b"x", headers={"Content-Type": "text/plain"}).status_code == 415
    assert httpx.post(url, data={"other": "field"}).status_code == 400  # nothing to do
    assert names(root / "inbox") == {"existing.txt"}


def test_uploads_are_opt_in_and_only_to_listed_folders(serve_site: Serve, root: Path) -> None:
    off = serve_site(root)
    assert httpx.post(off.url("/inbox/"), files={"file": ("a.txt", b"a")}).status_code == 405
    assert 'name="mkdir"' not in httpx.get(off.url("/inbox/")).text
    on = serve_site(root, upload=True)
    assert httpx.post(on.url("/_private/"), files={"file": ("a.txt", b"a")}).status_code == 404
    assert httpx.post(on.url("/nothing/"), files={"file": ("a.txt", b"a")}).status_code == 404
    assert httpx.post(on.url("/inbox/existing.txt"), files={"file": ("a", b"a")}).status_code == 405
    options = httpx.request("OPTIONS", on.url("/inbox/"))
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    assert names(root / "inbox") == {"existing.txt"} and names(root / "_private") == set()


def test_a_large_upload_streams_to_disk(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, upload=True)
    data = os.urandom(40 * 1024 * 1024)
    response = httpx.post(
        server.url("/inbox/"), files={"file": ("large.bin", data)}, headers=JSON, timeout=60
    )
    assert response.json()["created"][0]["size"] == len(data)
    assert (root / "inbox" / "large.bin").read_bytes() == data


class _SlowReader(App):
    """An app that holds a request's body unread until told, then reads it all."""

    def __init__(self) -> None:
        self.request: Request | None = None
        self.release = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle(self, request: Request) -> Response:
        self.loop = asyncio.get_running_loop()
        self.request = request
        await self.release.wait()
        size = 0
        async for chunk in request.body.stream():
            size += len(chunk)
        return Response(200, [("Content-Type", "text/plain")], str(size).encode())


def test_a_slow_reader_stops_the_server_reading(tmp_path: Path) -> None:
    # Regression: the pipelining check in the connection used to resume reading after
    # every read, so a body the handler had not taken yet piled up in memory.
    app = _SlowReader()
    config = build_config(tmp_path, port=0, reload=False, limits={"max_body": 64 * MB})
    size = 32 * MB
    with (
        running_server(app, config) as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as client,
    ):
        head = f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode()
        sender = threading.Thread(target=client.sendall, args=(head + bytes(size),))
        sender.start()
        wait_until(lambda: app.request is not None and app.request.body.received > 0)
        assert app.request is not None
        received = _settled_received(app.request)
        assert received < 2 * MB  # a quarter-megabyte buffer and a read or two, never 32 MB
        assert app.loop is not None
        app.loop.call_soon_threadsafe(app.release.set)
        sender.join(DEADLINE)
        answer = b""
        while not answer.endswith(str(size).encode()):
            answer += client.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")


def _settled_received(request: Request) -> int:
    deadline = time.monotonic() + DEADLINE
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = request.body.received
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > 0.3:
            return now
        threading.Event().wait(0.02)
    raise AssertionError("the server never stopped reading")
