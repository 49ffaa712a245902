"""Folder zips, single-file downloads and JSON listings on a real server."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from siteserve.share import archive
from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]
DEADLINE = 10.0


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    (root / "docs" / "deep" / "deeper").mkdir(parents=True)
    (root / "docs" / "empty").mkdir()
    (root / "docs" / "a.txt").write_text("alpha\n" * 100)
    (root / "docs" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (root / "docs" / "deep" / "c.css").write_text("body { color: red }")
    (root / "docs" / "deep" / "deeper" / "d.json").write_text('{"d": 1}')
    (root / "docs" / "héllo wörld.txt").write_text("unicode name")
    # What the site never serves, so the zip never holds.
    (root / "docs" / ".env").write_text("SECRET=1")
    (root / "docs" / ".git").mkdir()
    (root / "docs" / ".git" / "config").write_text("[core]")
    (root / "docs" / "_draft.md").write_text("draft")
    (root / "docs" / "_layouts").mkdir()
    (root / "docs" / "_layouts" / "base.html").write_text("layout")
    (root / "docs" / "page.html.jinja").write_text("{{ secret }}")
    (root / "docs" / "[slug].html.jinja").write_text("route")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("outside the root")
    (root / "docs" / "link-out.txt").symlink_to(outside / "private.txt")
    (root / "docs" / "dir-out").symlink_to(outside)
    (root / "docs" / "link-in.txt").symlink_to(root / "docs" / "a.txt")
    (root / "site").mkdir()
    (root / "site" / "index.html").write_text("<!doctype html><title>home</title><p>home</p>")
    (root / "site" / "style.css").write_text("p { margin: 0 }")
    return root


EXPECTED = {
    "docs/",
    "docs/a.txt",
    "docs/b.bin",
    "docs/deep/",
    "docs/deep/c.css",
    "docs/deep/deeper/",
    "docs/deep/deeper/d.json",
    "docs/empty/",
    "docs/héllo wörld.txt",
    "docs/link-in.txt",
}


def _zip(response: httpx.Response) -> zipfile.ZipFile:
    archive_file = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive_file.testzip() is None  # every CRC checks out
    return archive_file


def test_zip_holds_what_the_site_serves(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree)
    response = httpx.get(server.url("/docs/?download=zip"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["content-disposition"] == 'attachment; filename="docs.zip"'
    assert response.headers["cache-control"] == "no-store"
    # Streamed: the size is not known up front, so the body is chunked (RFC 9112 section 7.1).
    assert response.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in response.headers
    archive_file = _zip(response)
    assert set(archive_file.namelist()) == EXPECTED
    assert archive_file.read("docs/a.txt") == (tree / "docs" / "a.txt").read_bytes()
    assert archive_file.read("docs/b.bin") == (tree / "docs" / "b.bin").read_bytes()
    assert archive_file.read("docs/héllo wörld.txt") == b"unicode name"
    assert archive_file.read("docs/link-in.txt") == (tree / "docs" / "a.txt").read_bytes()
    text = archive_file.getinfo("docs/a.txt")
    assert text.compress_type == zipfile.ZIP_DEFLATED and text.compress_size < text.file_size
    assert archive_file.getinfo("docs/b.bin").compress_type == zipfile.ZIP_STORED


def test_symlinks_out_of_the_root_only_with_follow_symlinks(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree, follow_symlinks=True)
    names = set(_zip(httpx.get(server.url("/docs/?download=zip"))).namelist())
    assert names == EXPECTED | {"docs/link-out.txt", "docs/dir-out/", "docs/dir-out/private.txt"}


def test_rendered_pages_and_bare_download_and_index_folders(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree, render=("*.css",))
    # ?download alone on a folder is a zip too; a folder with an index page can be zipped.
    names = set(_zip(httpx.get(server.url("/docs/?download"))).namelist())
    assert names == EXPECTED - {"docs/deep/c.css"}  # a render glob makes it a page: no source
    site_zip = _zip(httpx.get(server.url("/site/?download=zip")))
    assert set(site_zip.namelist()) == {"site/", "site/index.html"}


def test_root_and_unicode_folder_names(serve_site: Serve, tree: Path) -> None:
    (tree / "docs" / "déjà vu").mkdir()
    (tree / "docs" / "déjà vu" / "x.txt").write_text("x")
    server = serve_site(tree)
    response = httpx.get(server.url("/docs/d%C3%A9j%C3%A0%20vu/?download=zip"))
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"d_j_ vu.zip\"; filename*=UTF-8''d%C3%A9j%C3%A0%20vu.zip"
    )
    assert _zip(response).namelist() == ["déjà vu/", "déjà vu/x.txt"]
    root = _zip(httpx.get(server.url("/?download=zip")))
    assert "share/docs/a.txt" in root.namelist()


def test_refusals(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree)
    assert httpx.get(server.url("/docs/?download=tar")).status_code == 400
    assert httpx.get(server.url("/docs/_layouts/?download=zip")).status_code == 404
    assert httpx.get(server.url("/docs/.git/?download=zip")).status_code == 404
    assert httpx.get(server.url("/nothing/?download=zip")).status_code == 404
    assert httpx.get(server.url("/docs/dir-out/?download=zip")).status_code == 404
    head = httpx.head(server.url("/docs/?download=zip"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/zip"


def test_single_file_download_is_an_attachment(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree, reload=True)
    plain = httpx.get(server.url("/docs/a.txt"))
    assert "content-disposition" not in plain.headers
    download = httpx.get(server.url("/docs/a.txt?download"))
    assert download.headers["content-disposition"] == 'attachment; filename="a.txt"'
    assert download.content == plain.content
    unicode = httpx.get(server.url("/docs/h%C3%A9llo%20w%C3%B6rld.txt?download"))
    assert unicode.headers["content-disposition"].endswith(
        "filename*=UTF-8''h%C3%A9llo%20w%C3%B6rld.txt"
    )
    # An HTML file is saved as it is on disk: live reload does not put its script in.
    page = httpx.get(server.url("/site/index.html?download"))
    assert page.content == (tree / "site" / "index.html").read_bytes()
    assert "reload" not in page.text
    assert "/__siteserve/" in httpx.get(server.url("/site/")).text  # (it does in the page)
    ranged = httpx.get(server.url("/docs/a.txt?download"), headers={"Range": "bytes=0-4"})
    assert ranged.status_code == 206 and ranged.content == b"alpha"
    assert ranged.headers["content-disposition"] == 'attachment; filename="a.txt"'


# -- streaming: the archive is made as it is sent, never whole -------------------------


@pytest.fixture
def produced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Bytes the archive producer has made so far (one entry per block), server side."""
    made: list[int] = []
    original = archive.produce

    def counting(entries: Any) -> Iterator[bytes]:
        for block in original(entries):
            made.append(len(block))
            yield block

    monkeypatch.setattr(archive, "produce", counting)
    yield made


def _settled(made: list[int]) -> int:
    """Wait until the producer stops (the socket buffers are full); what it made by then."""
    deadline = time.monotonic() + DEADLINE
    last, stable_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        now = sum(made)
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 0.5:
            return now
        threading.Event().wait(0.02)
    raise AssertionError("the producer never paused")


def _stalled_client(port: int, target: str) -> socket.socket:
    """A client with a small receive buffer that sends a request and then reads nothing."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Set before connecting: a fixed small window (no autotuning) for the whole exchange.
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    client.settimeout(DEADLINE)
    client.connect(("127.0.0.1", port))
    client.sendall(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
    return client


def _read_chunked(client: socket.socket) -> tuple[bytes, bytes]:
    """(head, body) of one chunked response, read to its last chunk."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += client.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    body = bytearray()
    while True:
        while b"\r\n" not in rest:
            rest += client.recv(1 << 20)
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line, 16)
        while len(rest) < size + 2:
            more = client.recv(1 << 20)
            assert more, "the connection closed mid-chunk"
            rest += more
        body += rest[:size]
        rest = rest[size + 2 :]
        if size == 0:
            return head, bytes(body)


def test_a_slow_reader_holds_the_producer_back(
    serve_site: Serve, tmp_path: Path, produced: list[int]
) -> None:
    root = tmp_path / "big"
    (root / "media").mkdir(parents=True)
    size = 48 * 1024 * 1024
    for index in range(3):  # random bytes: stored as they are, nothing to compress
        (root / "media" / f"clip{index}.bin").write_bytes(os.urandom(size // 3))
    server = serve_site(root)
    with _stalled_client(server.port, "/media/?download=zip") as client:
        made_while_stalled = _settled(produced)
        # The client reads nothing: the server stops producing once the socket is full,
        # holding a few blocks at most, never the 48 MB archive.
        assert made_while_stalled < 12 * 1024 * 1024
        head, body = _read_chunked(client)
    assert b"Transfer-Encoding: chunked" in head and b"Content-Length" not in head
    assert sum(produced) == len(body)
    archive_file = zipfile.ZipFile(io.BytesIO(body))
    names = archive_file.namelist()
    assert names == ["media/", "media/clip0.bin", "media/clip1.bin", "media/clip2.bin"]
    assert archive_file.read("media/clip2.bin") == (root / "media" / "clip2.bin").read_bytes()


def test_a_client_that_leaves_stops_the_archive(
    serve_site: Serve, tmp_path: Path, produced: list[int]
) -> None:
    root = tmp_path / "big"
    root.mkdir()
    (root / "large.bin").write_bytes(os.urandom(32 * 1024 * 1024))
    server = serve_site(root)
    client = _stalled_client(server.port, "/?download=zip")
    _settled(produced)
    client.close()
    stopped = _settled(produced)
    assert stopped < 16 * 1024 * 1024
    # The server is still well and answers the next client.
    assert httpx.get(server.url("/large.bin"), headers={"Range": "bytes=0-0"}).status_code == 206


# -- the listing as JSON, sorted and filtered ---------------------------------------------


def test_json_listing_by_accept_or_format(serve_site: Serve, tree: Path) -> None:
    os.utime(tree / "docs" / "a.txt", (1_700_000_000, 1_700_000_000))
    os.utime(tree / "docs" / "b.bin", (1_600_000_000, 1_600_000_000))
    server = serve_site(tree)
    by_accept = httpx.get(server.url("/docs/"), headers={"Accept": "application/json"})
    assert by_accept.headers["content-type"] == "application/json"
    assert by_accept.headers["vary"] == "Accept"
    document = by_accept.json()
    assert document["path"] == "/docs/"
    assert document["upload"] is False
    names = [entry["name"] for entry in document["entries"]]
    assert names == ["deep", "empty", "a.txt", "b.bin", "héllo wörld.txt", "link-in.txt"]
    a_txt = document["entries"][2]
    assert a_txt == {
        "name": "a.txt",
        "href": "a.txt",
        "type": "file",
        "size": 600,
        "modified": "2023-11-14T22:13:20+00:00",
    }
    assert document["files"] == 4 and document["folders"] == 2
    assert document["total_size"] == sum(e["size"] or 0 for e in document["entries"])
    by_format = httpx.get(server.url("/docs/?format=json&sort=size&order=desc"))
    sizes = [e["name"] for e in by_format.json()["entries"]]
    assert sizes == ["deep", "empty", "b.bin", "a.txt", "link-in.txt", "héllo wörld.txt"]
    by_date = httpx.get(server.url("/docs/?format=json&sort=date"))
    assert [e["name"] for e in by_date.json()["entries"]][2:4] == ["b.bin", "a.txt"]
    filtered = httpx.get(server.url("/docs/?format=json&q=TXT"))
    assert [e["name"] for e in filtered.json()["entries"]] == [
        "a.txt",
        "héllo wörld.txt",
        "link-in.txt",
    ]
    # A browser's Accept prefers HTML; so does */*.
    browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    html = httpx.get(server.url("/docs/"), headers={"Accept": browser})
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert httpx.get(server.url("/docs/"), headers={"Accept": "*/*"}).text.startswith("<!doctype")


def test_html_listing_sort_links_and_filter(serve_site: Serve, tree: Path) -> None:
    server = serve_site(tree)
    html = httpx.get(server.url("/docs/")).text
    assert 'href="?order=desc">Name' in html  # sorted by name: its link flips the order
    assert 'href="?sort=size">Size' in html and 'href="?sort=date">Modified' in html
    assert 'href="?download=zip"' in html and 'href="a.txt?download"' in html
    assert "2 folders, 4 files" in html and 'type="search"' in html
    assert 'enctype="multipart/form-data"' not in html  # uploads are off
    by_size = httpx.get(server.url("/docs/?sort=size&order=desc")).text
    assert by_size.index("b.bin") < by_size.index("a.txt")
    assert 'href="?sort=size">Size' in by_size  # flips back to ascending
    filtered = httpx.get(server.url("/docs/?q=b.b")).text
    assert "b.bin" in filtered and ">a.txt<" not in filtered
    assert "No names match." in httpx.get(server.url("/docs/?q=zzz")).text
