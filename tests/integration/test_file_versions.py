"""One file version per response, while the file is replaced under the server.

A writer thread replaces files in a loop (an editor's write-temp-then-rename, and a
rewrite in place: truncate, then write), while a client asks for them whole, by
range, several ranges at once, and gzip-coded. Every version's bytes say which
version they are (``content``), so each answer can be checked: its body is the
bytes of one version (or of one version's first bytes, when the server caught the
file half-written: what was on disk then), of the length its head gives; its ETag
names that body and no other; its Content-Range fits the version. An answer cut short
(the server closed the connection because the file changed while it was sent) is
allowed; a body of the promised length holding two versions is not.

Then, one at a time: a file truncated and one rewritten in place while a slow client
is reading it end in a closed connection short of Content-Length, logged as one line.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from siteserve.site.file_version import make_etag
from tests.conftest import RunningServer, wait_until

DEADLINE = 30.0
REQUESTS = 240
RECORD = 16  # bytes per record: b"%08d:%06d\n" % (version, index)
BIG = 1024 * 1024  # sent from disk
SMALL = 16 * 1024  # kept in memory
VERSIONS = 8


@functools.cache
def content(version: int, size: int) -> bytes:
    """The bytes of ``version``: records that each name the version and their place."""
    records = size // RECORD
    return b"".join(b"%08d:%06d\n" % (version, index) for index in range(records))


def version_at(body: bytes, offset: int) -> int | None:
    """The version named by the first whole record of ``body`` (which starts at ``offset``)."""
    start = (-offset) % RECORD
    match = re.match(rb"(\d{8}):\d{6}\n", body[start : start + RECORD])
    return int(match.group(1)) if match else None


class Writer(threading.Thread):
    """Replaces ``paths`` in turn, by rename-over and by rewrite in place, until stopped.

    After each write it notes the ETag the file has now and the version it holds, so
    an answer's tag can be held to the bytes it names.
    """

    def __init__(self, paths: dict[Path, int]) -> None:
        super().__init__(name="replacer", daemon=True)
        self.paths = paths
        self.stop = threading.Event()
        self.versions = 1
        #: ETag -> version written under it; None when a tag named two versions (the
        #: clock did not move between two writes of one inode: such a tag proves nothing).
        self.tags: dict[str, int | None] = {}

    def run(self) -> None:
        while not self.stop.is_set():
            self.versions += 1
            for path, size in self.paths.items():
                # A few distinct versions in turn (each made once): neighbours always differ.
                version = self.versions % VERSIONS
                data = content(version, size)
                if self.versions % 2:
                    temporary = path.with_name(f".{path.name}.tmp")
                    temporary.write_bytes(data)
                    os.replace(temporary, path)  # an editor's atomic save
                else:
                    path.write_bytes(data)  # truncate, then write, in place
                info = path.stat()
                tag = make_etag(info.st_ino, info.st_size, info.st_mtime_ns)
                self.tags[tag] = version if self.tags.get(tag, version) == version else None
            self.stop.wait(0.005)


class Checker:
    """Checks each answer's body against its own head as it comes; its tag, at the end."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes
        #: (identity ETag, the version the body holds) of every whole-version answer.
        self.seen: list[tuple[str, int]] = []
        self.complete = 0
        self.cut_short = 0

    def check(self, name: str, response: httpx.Response) -> None:
        """One answer: 200 or a single-range 206, identity or gzip."""
        body = response.content
        if response.headers.get("content-encoding") != "gzip":  # httpx decodes gzip
            assert len(body) == int(response.headers["content-length"])
        else:
            assert response.num_bytes_downloaded == int(response.headers["content-length"])
        tag = identity_tag(response.headers["etag"])
        tag_size = int(tag.strip('"').split("-")[1], 16)
        if response.status_code == 200:
            offset, total = 0, tag_size
            assert len(body) == tag_size, "the tag describes another length"
        else:
            assert response.status_code == 206
            found = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", response.headers["content-range"])
            assert found is not None
            offset, last, total = (int(group) for group in found.groups())
            assert total == tag_size and last - offset + 1 == len(body)
        self.record(name, tag, total, {offset: body})

    def record(self, name: str, tag: str, total: int, pieces: dict[int, bytes]) -> None:
        """Pieces of one answer (offset -> bytes) must all be bytes of one version."""
        if total == 0:
            self.complete += 1  # the moment between truncating and writing
            return
        versions = {version_at(data, offset) for offset, data in pieces.items()} - {None}
        assert len(versions) == 1, f"not the bytes of one version: {versions}"
        version = versions.pop()
        assert version is not None
        expected = content(version, self.sizes[name])
        for offset, data in pieces.items():
            assert data == expected[offset : offset + len(data)], "bytes of two versions"
        if total == self.sizes[name]:
            # Whole (not caught half-written): the tag must name this version.
            self.complete += 1
            self.seen.append((tag, version))

    def check_parts(self, name: str, response: httpx.Response) -> None:
        """A multipart/byteranges answer: every part of one version, the one its tag names."""
        boundary = response.headers["content-type"].split("boundary=")[1]
        body = response.content
        assert len(body) == int(response.headers["content-length"])
        pieces: dict[int, bytes] = {}
        totals = set()
        for part in body.split(b"--" + boundary.encode())[1:-1]:
            head, _, data = part.partition(b"\r\n\r\n")
            data = data.removesuffix(b"\r\n")
            found = re.search(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)", head)
            assert found is not None
            offset, last, total = (int(group) for group in found.groups())
            assert last - offset + 1 == len(data)
            pieces[offset] = data
            totals.add(total)
        tag = identity_tag(response.headers["etag"])
        assert len(pieces) == 3 and totals == {int(tag.strip('"').split("-")[1], 16)}
        self.record(name, tag, totals.pop(), pieces)

    def check_tags(self, tags: dict[str, int | None]) -> int:
        """Every whole answer whose tag the writer knows holds the version of that tag."""
        held = 0
        for tag, version in self.seen:
            written = tags.get(tag)
            if written is not None:
                assert version == written, f"ETag {tag} names version {written}, not {version}"
                held += 1
        return held


def identity_tag(etag: str) -> str:
    """The tag of the file's own bytes (a coded body's tag adds ``-gz``)."""
    return etag.removesuffix('-gz"') + '"' if etag.endswith('-gz"') else etag


def requests_for(name: str, number: int) -> dict[str, str]:
    kind = number % 4
    if kind == 1:
        return {"range": "bytes=4096-"}
    if kind == 2:
        return {"range": "bytes=0-99,5000-5999,9000-"}
    if kind == 3 and name.endswith(".txt"):
        return {"accept-encoding": "gzip"}
    return {"accept-encoding": "identity"}


def test_every_answer_is_one_version_while_files_are_replaced(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    sizes = {"big.bin": BIG, "big.txt": BIG, "small.txt": SMALL}
    for name, size in sizes.items():
        (root / name).write_bytes(content(1, size))
    server = serve_site(root)
    writer = Writer({root / name: size for name, size in sizes.items()})
    checker = Checker(sizes)
    writer.start()
    deadline = time.monotonic() + DEADLINE
    try:
        with httpx.Client(base_url=server.base_url, timeout=DEADLINE) as client:
            for number in range(REQUESTS):
                assert time.monotonic() < deadline
                name = list(sizes)[number % len(sizes)]
                headers = requests_for(name, number // len(sizes))
                try:
                    response = client.get("/" + name, headers=headers)
                except (httpx.RemoteProtocolError, httpx.ReadError):
                    checker.cut_short += 1  # closed short of its length: the file changed
                    continue
                if response.status_code == 503:
                    continue  # rewritten during both reads of a small file: asked to retry
                if response.status_code == 416:
                    # Caught between truncating and writing: no byte of the range exists.
                    found = re.fullmatch(r"bytes \*/(\d+)", response.headers["content-range"])
                    assert found is not None and int(found.group(1)) <= 4096
                    continue
                assert response.status_code in (200, 206), response.status_code
                if "multipart/byteranges" in response.headers["content-type"]:
                    checker.check_parts(name, response)
                else:
                    checker.check(name, response)
    finally:
        writer.stop.set()
        writer.join(DEADLINE)
    assert writer.versions > 10, "the files were replaced while they were asked for"
    assert checker.complete > REQUESTS // 2
    held = checker.check_tags(writer.tags)
    assert held > REQUESTS // 4


# -- one change while a slow client reads -------------------------------------------------


def slow_read(port: int, path: str, change: Callable[[], None]) -> tuple[int, int, bytes]:
    """GET ``path`` with a small receive window; ``change`` the file once the body flows.

    Returns the promised Content-Length, the bytes that came, and how the head read.
    """
    with socket.socket() as client:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        client.settimeout(DEADLINE)
        client.connect(("127.0.0.1", port))
        client.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            data = client.recv(4096)
            assert data, f"no complete head: {received!r}"
            received += data
        head, _, body = received.partition(b"\r\n\r\n")
        found = re.search(rb"(?i)content-length: (\d+)", head)
        assert found is not None
        promised = int(found.group(1))
        got = len(body)
        while got < min(promised, 256 * 1024):
            data = client.recv(65536)
            assert data, "closed before the change"
            got += len(data)
        change()
        while True:
            data = client.recv(1024 * 1024)
            if not data:
                return promised, got, head
            got += len(data)


@pytest.mark.parametrize("how", ["truncate", "rewrite"])
def test_a_file_changed_in_place_while_sent_ends_in_a_closed_connection(
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
    caplog: pytest.LogCaptureFixture,
    how: str,
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    path = root / "large.bin"
    size = 64 * 1024 * 1024  # far more than the socket buffers hold
    path.write_bytes(bytes(range(256)) * (size // 256))
    server = serve_site(root)

    def change() -> None:
        if how == "truncate":
            os.truncate(path, size // 2)
        else:
            with path.open("r+b") as handle:  # same size, other bytes, in place
                handle.write(b"x" * 1024 * 1024)
            info = path.stat()
            os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))

    with caplog.at_level(logging.WARNING, logger="siteserve.server"):
        promised, got, head = slow_read(server.port, "/large.bin", change)
        assert b" 200 " in head.split(b"\r\n")[0]
        assert promised == size and got < promised  # never a full-length body
        # The server still answers, and the file as it is now.
        assert httpx.get(server.url("/large.bin"), timeout=DEADLINE).status_code == 200
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "changed while it was being sent" in lines[0], lines


def test_open_files_are_closed_whatever_becomes_of_the_answer(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    """Sent, asked with HEAD, cut by a client that left, or answered 304: no fd stays open."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "big.bin").write_bytes(bytes(range(256)) * 4096)  # 1 MiB, sent from disk
    server = serve_site(root)
    tag = httpx.get(server.url("/big.bin"), timeout=DEADLINE).headers["etag"]

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    idle = open_fds()
    asks = [
        "GET /big.bin HTTP/1.1",
        "HEAD /big.bin HTTP/1.1",
        "GET /big.bin HTTP/1.1\r\nRange: bytes=10-99,5000-",
        f"GET /big.bin HTTP/1.1\r\nIf-None-Match: {tag}",
    ]
    for number in range(60):
        with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as client:
            ask = asks[number % len(asks)]
            host = f"127.0.0.1:{server.port}"
            client.sendall(f"{ask}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            if number == 0:
                assert client.recv(100).startswith(b"HTTP/1.1 200 ")
            if number % 3 == 0:
                client.recv(1000)  # then leave in the middle
                continue
            while client.recv(1024 * 1024):
                pass
    wait_until(lambda: open_fds() <= idle)
