"""A kept answer (``server.answers``) is byte for byte the answer the normal path makes.

Two servers serve the same folder with the same config: ``kept`` as the CLI builds it,
``made`` with the same stack inside a plain ``Layer``, which allows no reuse, so every
answer of ``made`` goes through the parser, the layers, the Site and the writer. Each
request is sent to ``kept`` twice (the first answer is made and kept, the second given
again) and to ``made`` once, and the three answers must be the same bytes but for the
Date line: for many targets (files, folders, 404s, dotfiles, partials, a page), both
methods, many header combinations, with CORS, header and redirect rules, sharing with
uploads, a password, and after the file changed between two requests.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.layers import App, Layer
from siteserve.reload.app import ReloadApp
from siteserve.server import wire_files
from tests.conftest import RunningServer, find_layer, running_server, wait_until

DEADLINE = 10.0
_DATE = re.compile(rb"\r\nDate: [^\r]*\r\n")

TARGETS = (
    "/a.txt",
    "/style.css",
    "/big.bin",
    "/",
    "/sub",
    "/sub/",
    "/nope",
    "/.env",
    "/_partial.html",
    "/a.txt?x=1",
    "/page",
    "/new.html",
    "/old.html",
    "/favicon.ico",
)

HEADER_SETS: tuple[tuple[tuple[str, str], ...], ...] = (
    (),
    (("Accept-Encoding", "gzip"),),
    (("Accept-Encoding", "br, gzip"),),
    (("User-Agent", "test/1"), ("Accept", "*/*"), ("Accept-Language", "fr")),
    (("If-None-Match", "*"),),
    (("If-Modified-Since", "Tue, 01 Jan 2030 00:00:00 GMT"),),
    (("Range", "bytes=0-9"),),
    (("Connection", "close"),),
    (("Origin", "http://other.example"), ("Sec-Fetch-Site", "cross-site")),
    (("Cookie", "a=b"),),
    (("Authorization", "Basic YW5uOnMzY3JldA=="),),
)


def make_site(root: Path) -> Path:
    root.mkdir(exist_ok=True)
    (root / "a.txt").write_bytes(b"a" * 1024)
    (root / "style.css").write_text("body { color: red; }\n" * 100)
    (root / "big.bin").write_bytes(os.urandom(100 * 1024))
    (root / "index.html").write_text("<p>home</p>")
    (root / "sub").mkdir(exist_ok=True)
    (root / "sub" / "index.html").write_text("<p>sub</p>")
    (root / ".env").write_text("SECRET=1")
    (root / "_partial.html").write_text("partial")
    (root / "page.html.jinja").write_text("<p>{{ request.path }}</p>")
    (root / "new.html").write_text("<p>new</p>")
    return root


def request_bytes(
    port: int, method: str, target: str, headers: tuple[tuple[str, str], ...]
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Reader:
    """Whole responses as sent, one at a time, from one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def _more(self, what: str) -> None:
        chunk = self.sock.recv(65536)
        assert chunk, f"{what}: {self.buffer!r}"
        self.buffer += chunk

    def answer(self, head_only: bool) -> bytes:
        """The next response, its Date line taken out."""
        while b"\r\n\r\n" not in self.buffer:
            self._more("no complete head")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        match = re.search(rb"\r\nContent-Length: (\d+)", head)
        length = 0 if head_only or match is None else int(match.group(1))
        while len(self.buffer) < length:
            self._more("short body")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return _DATE.sub(b"\r\n", head + b"\r\n\r\n" + body, count=1)


def ask(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        answer = reader.answer(raw.startswith(b"HEAD "))
        assert not reader.buffer, "more bytes than one answer"
        return answer


@contextmanager
def pair(root: Path, **options: Any) -> Iterator[tuple[RunningServer, RunningServer]]:
    options.setdefault("reload", False)
    options.setdefault("quiet", True)
    config = build_config(root, port=0, **options)
    made_app: App = Layer(build_app(config))
    with (
        running_server(build_app(config), config) as kept,
        running_server(made_app, config) as made,
    ):
        assert made.server.answers is None
        yield kept, made


def compare_all(kept: RunningServer, made: RunningServer) -> int:
    """Send every request of the matrix; answer how many were given again by ``kept``."""
    answers = kept.server.answers
    before = 0 if answers is None else answers.reused
    for target in TARGETS:
        for method in ("GET", "HEAD"):
            for headers in HEADER_SETS:
                # The Host names each server's own port: the same bytes but for it.
                first = ask(kept.port, request_bytes(kept.port, method, target, headers))
                again = ask(kept.port, request_bytes(kept.port, method, target, headers))
                fresh = ask(made.port, request_bytes(made.port, method, target, headers))
                label = f"{method} {target} {headers}"
                assert first == again, label
                assert first.replace(b":%d" % kept.port, b":PORT") == fresh.replace(
                    b":%d" % made.port, b":PORT"
                ), label
    return 0 if answers is None else answers.reused - before


def test_kept_answers_are_the_made_ones_byte_for_byte(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    with pair(root, upload=True) as (kept, made):
        assert compare_all(kept, made) > 0


def test_with_cors_and_header_rules_too(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    (root / "_headers").write_text("/*\n  X-Frame-Options: DENY\n/a.txt\n  X-Robots-Tag: none\n")
    with pair(root, cors=True) as (kept, made):
        assert kept.server.answers is not None
        assert compare_all(kept, made) > 0


def test_redirect_rules_and_a_password_are_asked_every_time(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    (root / "_redirects").write_text("/old.html /new.html 301\n/a.txt /new.html 200\n")
    with pair(root) as (kept, made):
        assert kept.server.answers is None  # a rule that gives way to a file looks each time
        compare_all(kept, made)
    (root / "_redirects").unlink()
    with pair(root, auth=("ann:s3cret",)) as (kept, made):
        assert kept.server.answers is None  # failures are counted per client address
        signed_in = (("Authorization", "Basic YW5uOnMzY3JldA=="),)
        for target in ("/a.txt", "/big.bin", "/nope"):
            raw = request_bytes(kept.port, "GET", target, signed_in)
            assert ask(kept.port, raw) == ask(kept.port, raw), target


def test_with_live_reload_a_files_answer_is_given_again_and_a_page_is_answered_by_the_layers(
    tmp_path: Path,
) -> None:
    # A file's answer given again is noted as its first was (``ReloadApp._kept_check``).
    # A page's every serving is noted with its time in the page graph, so the server
    # never gives its answer again by itself: it goes through the layers, where a kept
    # render comes back with the reload layer's copy of it (``reload.repeats``).
    root = make_site(tmp_path / "site")
    with pair(root, reload=True) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        assert compare_all(kept, made) > 0
        for target, given_again in (("/a.txt", 1), ("/big.bin", 1), ("/", 0), ("/page", 0)):
            raw = request_bytes(kept.port, "GET", target, ())
            first = ask(kept.port, raw)
            reused = answers.reused
            assert ask(kept.port, raw) == first, target
            assert answers.reused == reused + given_again, target
        assert len(find_layer(kept.app, ReloadApp).repeats) > 0, "the page's copy was given"


CHANGES: tuple[tuple[str, Callable[[Path], None]], ...] = (
    ("rewritten in place", lambda path: path.write_bytes(b"b" * 1000)),
    ("renamed over", lambda path: _rename_over(path, b"c" * 2000)),
    ("deleted", lambda path: path.unlink()),
    ("replaced by a folder", lambda path: (path.unlink(), path.mkdir())),
)


def _rename_over(path: Path, data: bytes) -> None:
    temp = path.with_name(".tmp-" + path.name)
    temp.write_bytes(data)
    temp.replace(path)


@pytest.mark.parametrize("name", ["a.txt", "big.bin"])
@pytest.mark.parametrize(("how", "change"), CHANGES, ids=[how for how, _ in CHANGES])
def test_a_file_changed_between_two_requests_is_answered_anew(
    tmp_path: Path, name: str, how: str, change: Callable[[Path], None]
) -> None:
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        for method in ("GET", "HEAD"):
            raw = request_bytes(kept.port, method, "/" + name, ())
            ask(kept.port, raw)
            reused = answers.reused
            ask(kept.port, raw)
            assert answers.reused == reused + 1, "kept and given again"
        change(root / name)
        for method in ("GET", "HEAD"):
            after = ask(kept.port, request_bytes(kept.port, method, "/" + name, ()))
            fresh = ask(made.port, request_bytes(made.port, method, "/" + name, ()))
            assert after == fresh, how


@pytest.mark.parametrize("name", ["a.txt", "big.bin"])
def test_a_revalidation_is_given_again_until_the_file_changes(tmp_path: Path, name: str) -> None:
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        first = ask(kept.port, request_bytes(kept.port, "GET", "/" + name, ()))
        match = re.search(rb"\r\nETag: ([^\r]*)\r\n", first)
        assert match is not None, first
        asks = (("If-None-Match", match.group(1).decode("latin-1")),)
        for method in ("GET", "HEAD"):
            raw = request_bytes(kept.port, method, "/" + name, asks)
            assert ask(kept.port, raw).startswith(b"HTTP/1.1 304 ")
            reused = answers.reused
            again = ask(kept.port, raw)
            assert answers.reused == reused + 1, "kept and given again"
            fresh = ask(made.port, request_bytes(made.port, method, "/" + name, asks))
            assert again.replace(b":%d" % kept.port, b":PORT") == fresh.replace(
                b":%d" % made.port, b":PORT"
            )
        _rename_over(root / name, b"d" * 3000)
        for method in ("GET", "HEAD"):
            after = ask(kept.port, request_bytes(kept.port, method, "/" + name, asks))
            assert after.startswith(b"HTTP/1.1 200 "), "the new version, not a 304"
            assert after == ask(made.port, request_bytes(made.port, method, "/" + name, asks))


def test_the_same_connection_and_pipelined_requests(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, _):
        answers = kept.server.answers
        assert answers is not None
        raw = request_bytes(kept.port, "GET", "/a.txt", ())
        with socket.create_connection(("127.0.0.1", kept.port), timeout=DEADLINE) as sock:
            reader = Reader(sock)
            sock.sendall(raw)
            first = reader.answer(False)
            reused, logged = answers.reused, len(kept.records)
            for _ in range(3):  # one keep-alive connection, one request per read
                sock.sendall(raw)
                assert reader.answer(False) == first
            assert answers.reused == reused + 3
            # Each answer given again is in the request log as any other (logged once
            # written, as every answer is: the client may read it first).
            wait_until(lambda: len(kept.records) >= logged + 3)
            records = kept.records[logged:]
            assert [(r.method, r.path, r.status, r.size) for r in records] == [
                ("GET", "/a.txt", 200, 1024)
            ] * 3
            kept_before = len(answers)
            # Two requests in one read are answered the normal way, in order, and the
            # pair is never kept as if it were one request.
            sock.sendall(raw + raw)
            assert reader.answer(False) == first
            assert reader.answer(False) == first
            assert len(answers) == kept_before
            # A request split over two reads is parsed, and answered the same.
            sock.sendall(raw[:10])
            sock.sendall(raw[10:])
            assert reader.answer(False) == first
        # HTTP/1.0 with keep-alive: its own key, its own head.
        old = raw.replace(b"HTTP/1.1", b"HTTP/1.0").replace(
            b"\r\n\r\n", b"\r\nConnection: keep-alive\r\n\r\n"
        )
        assert ask(kept.port, old) == ask(kept.port, old)
        assert b"Connection: keep-alive" in ask(kept.port, old)


def test_a_request_that_asks_to_close_gets_its_answer_again_and_the_close(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        closing = (("Connection", "close"),)
        for method, target in (("GET", "/a.txt"), ("HEAD", "/a.txt"), ("GET", "/big.bin")):
            raw = request_bytes(kept.port, method, target, closing)
            ask(kept.port, raw)
            reused = answers.reused
            with socket.create_connection(("127.0.0.1", kept.port), timeout=DEADLINE) as sock:
                sock.sendall(raw)
                reader = Reader(sock)
                again = reader.answer(method == "HEAD")
                assert sock.recv(1) == b"" and not reader.buffer  # and then the close
            assert answers.reused == reused + 1
            assert b"\r\nConnection: close\r\n" in again
            fresh = ask(made.port, request_bytes(made.port, method, target, closing))
            assert again.replace(b":%d" % kept.port, b"") == fresh.replace(b":%d" % made.port, b"")


def test_a_file_that_appears_in_front_of_a_fallback_is_served(tmp_path: Path) -> None:
    # The server's own favicon answers while the site has none: not a file of the site,
    # so its answer is never kept as if the URL named that file.
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        raw = request_bytes(kept.port, "GET", "/favicon.ico", ())
        assert ask(kept.port, raw) == ask(kept.port, raw)
        (root / "favicon.ico").write_bytes(b"the site's own")
        after = ask(kept.port, raw)
        assert after.endswith(b"\r\n\r\nthe site's own")
        fresh = ask(made.port, request_bytes(made.port, "GET", "/favicon.ico", ()))
        assert after.replace(b":%d" % kept.port, b"") == fresh.replace(b":%d" % made.port, b"")


def test_a_client_that_does_not_read_gets_no_unbounded_buffer(tmp_path: Path) -> None:
    """Kept answers wait for room like any other: a client asking again and again for a
    100 KiB file, one request per packet, without reading, must not pile them up."""
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, _):
        answers = kept.server.answers
        assert answers is not None
        raw = request_bytes(kept.port, "GET", "/big.bin", ())
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(DEADLINE)
        with sock:
            sock.connect(("127.0.0.1", kept.port))
            reader = Reader(sock)
            sock.sendall(raw)
            first = reader.answer(False)
            state = kept.server._state  # the test looks at the one connection's buffer
            assert state is not None
            (connection,) = state.connections
            transport = connection._transport
            assert transport is not None
            sent, most = 150, 0
            for _ in range(sent):
                before = answers.reused
                sock.sendall(raw)
                # Taken in by the server, one request per read: answered again, or waiting
                # on the normal path behind the full buffer (then reading stops).
                wait_until(
                    lambda: (
                        answers.reused > before  # noqa: B023
                        or connection._active is not None
                        or connection._reads.paused
                    )
                )
                most = max(most, transport.get_write_buffer_size())
            # At most a few answers beyond the high-water mark, never all 150 (15 MiB).
            assert most < 1024 * 1024, most
            for _ in range(sent):
                assert reader.answer(False) == first


def test_a_large_answer_given_again_goes_whole_from_its_wire_file(tmp_path: Path) -> None:
    """A 100 KiB answer given again is one sendfile from a private file (``wire_files``):
    the same bytes as the normal path, also to a client with a small window, for which
    the socket takes only part of it and the transport sends the rest."""
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        raw = request_bytes(kept.port, "GET", "/big.bin", ())
        fresh = ask(made.port, request_bytes(made.port, "GET", "/big.bin", ()))
        for small_window in (False, True):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if small_window:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(DEADLINE)
            with sock:
                sock.connect(("127.0.0.1", kept.port))
                reader = Reader(sock)
                reused = answers.reused
                for _ in range(4):
                    sock.sendall(raw)
                    again = reader.answer(False)
                    assert again.replace(b":%d" % kept.port, b"") == fresh.replace(
                        b":%d" % made.port, b""
                    )
                assert answers.reused >= reused + 3
        assert answers.wire_files >= 1 or not wire_files.AVAILABLE


def test_a_connection_answered_from_kept_answers_makes_no_parser_until_it_needs_one(
    tmp_path: Path,
) -> None:
    """A new connection's parser and sender are made with its first request that must be
    parsed: none for kept answers, and the requests after them are parsed as ever."""
    root = make_site(tmp_path / "site")
    with pair(root) as (kept, made):
        answers = kept.server.answers
        assert answers is not None
        raw = request_bytes(kept.port, "GET", "/a.txt", ())
        first = ask(kept.port, raw)  # made and kept
        with socket.create_connection(("127.0.0.1", kept.port), timeout=DEADLINE) as sock:
            reader = Reader(sock)
            sock.sendall(raw)
            assert reader.answer(False) == first
            state = kept.server._state  # the test looks at the one connection's parts
            assert state is not None
            (connection,) = state.connections
            assert connection._parser is None and connection._sender is None
            # A request never seen: parsed and answered the normal way, then one split
            # over two reads, then a kept one again.
            other = request_bytes(kept.port, "GET", "/style.css", ())
            sock.sendall(other)
            assert reader.answer(False) == ask(kept.port, other)
            assert connection._parser is not None and connection._sender is not None
            sock.sendall(raw[:7])
            sock.sendall(raw[7:])
            assert reader.answer(False) == first
            reused = answers.reused
            sock.sendall(raw)
            assert reader.answer(False) == first
            assert answers.reused == reused + 1
        assert first.replace(b":%d" % kept.port, b"") == ask(
            made.port, request_bytes(made.port, "GET", "/a.txt", ())
        ).replace(b":%d" % made.port, b"")
