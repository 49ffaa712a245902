"""Static file responses: headers, validators, the per-version cache, one pipeline."""

from __future__ import annotations

import os
import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from siteserve.config import Config
from siteserve.http import FileBody, Headers, Request, Response
from siteserve.site import static
from siteserve.site.file_version import NotAFile, make_etag
from siteserve.site.static import StaticFiles


def get(path: str = "/x") -> Request:
    return Request("GET", path, path, "", Headers([("host", "test")]))


def write(path: Path, data: bytes, mtime_ns: int | None = None) -> Path:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


class Files(StaticFiles):
    """StaticFiles whose answers these tests know to be immediate (no step defers)."""

    def respond(self, request: Request, path: Path, served_as: str) -> Response:
        response = super().respond(request, path, served_as)
        assert isinstance(response, Response)
        return response


@pytest.fixture
def files(tmp_path: Path) -> Files:
    return Files(Config(root=tmp_path))


def test_headers_of_a_small_file(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "app.js", b"export {};\n", 1_700_000_000_123_456_789)
    response = files.respond(get(), path, "app.js")
    info = os.stat(path)
    assert response.status == 200
    assert response.body == b"export {};\n"
    assert response.header("Content-Type") == "text/javascript; charset=utf-8"
    assert response.header("ETag") == make_etag(info.st_ino, info.st_size, info.st_mtime_ns)
    assert re.fullmatch(r'"[0-9a-f]+-[0-9a-f]+-[0-9a-f]+"', response.header("ETag") or "")
    assert response.header("Last-Modified") == "Tue, 14 Nov 2023 22:13:20 GMT"
    assert response.header("Cache-Control") == "no-cache"
    assert response.header("Accept-Ranges") == "bytes"
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.sources == (path,)
    # The writer owns framing: no Content-Length, Date or Server here.
    for name in ("Content-Length", "Date", "Server", "Transfer-Encoding"):
        assert response.header(name) is None


def test_last_modified_is_an_imf_fixdate(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.txt", b"a", 1_600_000_000_999_000_000)
    value = files.respond(get(), path, "a.txt").header("Last-Modified") or ""
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", value)
    # Whole seconds, truncated: the file is not "newer" than what a client echoes back.
    assert parsedate_to_datetime(value).timestamp() == 1_600_000_000


def test_cache_profile(tmp_path: Path) -> None:
    path = write(tmp_path / "a.css", b"body{}")
    files = Files(Config(root=tmp_path, cache_seconds=600))
    assert files.respond(get(), path, "a.css").header("Cache-Control") == "public, max-age=600"


def test_served_as_decides_the_type(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "about", b"<p>hi</p>")
    assert files.respond(get(), path, "about.html").header("Content-Type") == (
        "text/html; charset=utf-8"
    )
    assert files.respond(get(), path, "about").header("Content-Type") == (
        "application/octet-stream"
    )


def test_unchanged_small_file_is_not_read_again(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.txt", b"same")
    first = files.version(path, "a.txt")
    opened: list[object] = []
    real_open = open

    def counting_open(*args: object, **kwargs: object) -> object:
        opened.append(args[0])
        return real_open(*args, **kwargs)  # type: ignore[call-overload]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("builtins.open", counting_open)
        second = files.version(path, "a.txt")
        response = files.respond(get(), path, "a.txt")
    assert second is first
    assert response.body is first.data
    assert opened == []
    # Headers are built once per version and copied, not rebuilt, per response.
    assert response.headers == list(first.headers)
    assert response.headers is not files.respond(get(), path, "a.txt").headers


def test_a_changed_file_is_seen(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.txt", b"old", 1_700_000_000_000_000_000)
    old = files.respond(get(), path, "a.txt")
    write(path, b"new!", 1_700_000_001_000_000_000)
    new = files.respond(get(), path, "a.txt")
    assert new.body == b"new!"
    assert new.header("ETag") != old.header("ETag")
    # Same size, only the nanoseconds of the mtime differ: still a new version.
    write(path, b"NEW!", 1_700_000_001_000_000_001)
    newer = files.respond(get(), path, "a.txt")
    assert newer.body == b"NEW!"
    assert newer.header("ETag") != new.header("ETag")


def test_a_replaced_file_is_seen_by_inode(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.txt", b"one", 1_700_000_000_000_000_000)
    first = files.respond(get(), path, "a.txt")
    other = write(tmp_path / "b.txt", b"two", 1_700_000_000_000_000_000)
    os.replace(other, path)  # same size and mtime, another inode
    second = files.respond(get(), path, "a.txt")
    assert second.body == b"two"
    assert second.header("ETag") != first.header("ETag")


def test_large_files_go_from_disk(tmp_path: Path, files: Files) -> None:
    size = static.SMALL_FILE + 1
    path = write(tmp_path / "big.bin", b"x" * size)
    response = files.respond(get(), path, "big.bin")
    assert response.body == FileBody(path, 0, size)
    assert files.cached_bytes == 0
    edge = write(tmp_path / "edge.bin", b"y" * static.SMALL_FILE)
    assert files.respond(get(), edge, "edge.bin").body == b"y" * static.SMALL_FILE


def test_empty_file(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "empty.txt", b"")
    assert files.respond(get(), path, "empty.txt").body == b""


def test_gone_or_not_a_file(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.txt", b"a")
    files.respond(get(), path, "a.txt")
    path.unlink()
    with pytest.raises(NotAFile):
        files.respond(get(), path, "a.txt")
    path.mkdir()
    with pytest.raises(NotAFile):
        files.respond(get(), path, "a.txt")
    with pytest.raises(NotAFile):
        files.respond(get(), tmp_path / "missing" / "x", "x")


def test_memory_is_bounded(tmp_path: Path, files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static, "CACHE_BYTES", 2500)
    paths = [write(tmp_path / f"f{i}.txt", bytes([65 + i]) * 1000) for i in range(4)]
    for path in paths[:2]:
        files.respond(get(), path, path.name)
    files.respond(get(), paths[0], paths[0].name)  # f0 is now the most recent
    files.respond(get(), paths[2], paths[2].name)
    assert files.cached_bytes <= 2500
    assert set(files._versions) == {paths[0], paths[2]}  # f1 was least recently used
    files.respond(get(), paths[3], paths[3].name)
    assert set(files._versions) == {paths[2], paths[3]}
    assert files.cached_bytes == 2000


def test_entries_are_bounded(tmp_path: Path, files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static, "CACHE_ENTRIES", 2)
    for i in range(5):
        path = write(tmp_path / f"f{i}", b"z")
        files.respond(get(), path, path.name)
    assert len(files._versions) == 2


def test_invalidate(tmp_path: Path, files: Files) -> None:
    (tmp_path / "d").mkdir()
    inside = write(tmp_path / "d" / "a.txt", b"aaa")
    other = write(tmp_path / "b.txt", b"bb")
    files.respond(get(), inside, "a.txt")
    files.respond(get(), other, "b.txt")
    assert files.cached_bytes == 5
    files.invalidate([tmp_path / "d"])
    assert set(files._versions) == {other}
    assert files.cached_bytes == 2
    files.invalidate()
    assert files.cached_bytes == 0 and not files._versions


def test_a_file_changing_while_read_is_described_by_what_was_read(
    tmp_path: Path, files: Files, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "a.txt", b"short", 1_700_000_000_000_000_000)
    info = os.stat(path)
    write(path, b"much longer now", 1_700_000_005_000_000_000)
    # Build from the stale stat, as if the file changed between stat and read.
    version = files._build(path, "a.txt", info)
    assert version.data == b"much longer now"
    assert version.size == len(b"much longer now")
    assert version.mtime_ns == 1_700_000_005_000_000_000


def test_one_version_object_answers_every_request(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.css", b"body{}")
    plain = files.respond(get(), path, "a.css")
    # Compressible types say Vary even when too small to code (RFC 9110 section 12.5.5).
    assert plain.status == 200 and plain.header("Vary") == "Accept-Encoding"
    version = files.version(path, "a.css")
    representation = version.as_is
    assert representation is not None and representation.etag == plain.header("ETag")
    revalidated = Request(
        "GET", "/a.css", "/a.css", "", Headers([("if-none-match", representation.etag)])
    )
    stopped = files.respond(revalidated, path, "a.css")
    assert stopped.status == 304 and stopped.header("Vary") == "Accept-Encoding"
    # Made once per version: the same representation answered both.
    assert files.version(path, "a.css").as_is is representation
    binary = write(tmp_path / "a.bin", b"\x00\x01")
    assert files.respond(get(), binary, "a.bin").header("Vary") is None


class Marker:
    """An HtmlTransform that puts ``<m>`` first, except for requests with ``?raw``."""

    max_bytes = 1024 * 1024

    def rewrites(self, content_type: str) -> bool:
        return content_type.startswith("text/html")

    def applies_to(self, request: Request) -> bool:
        return request.query != "raw"

    def rewrite(self, html: bytes) -> bytes:
        return b"<m>" + html

    def rewritten_etag(self, etag: str) -> str:
        return etag[:-1] + '+m"'


def test_an_html_transform_makes_a_representation_of_its_own(tmp_path: Path) -> None:
    files = Files(Config(root=tmp_path))
    files.html_transform = Marker()
    page = b"<p>x</p>" * 10000  # larger than a small file: read whole to be rewritten
    path = write(tmp_path / "big.html", page)
    shown = files.respond(get(), path, "big.html")
    assert shown.body == b"<m>" + page
    own_tag = make_etag(path.stat().st_ino, len(page), path.stat().st_mtime_ns)
    assert shown.header("ETag") == own_tag[:-1] + '+m"'
    assert shown.header("Accept-Ranges") is None
    # Only the rewritten page is kept: the file itself is still sent from disk.
    assert files.cached_bytes == len(page) + 3
    ranged = Request("GET", "/big", "/big", "", Headers([("range", "bytes=0-1")]))
    assert files.respond(ranged, path, "big.html").status == 200  # the page is sent whole
    raw = Request("GET", "/big?raw", "/big", "raw", Headers([("range", "bytes=0-1")]))
    part = files.respond(raw, path, "big.html")
    assert part.status == 206 and part.body == FileBody(path, 0, 2)
    assert part.header("ETag") == own_tag
    # Other types are left alone; invalidation frees the rewritten bytes too.
    css = write(tmp_path / "a.css", b"p{}")
    assert files.respond(get(), css, "a.css").body == b"p{}"
    files.invalidate([path, css])
    assert files.cached_bytes == 0


def test_a_changed_files_coded_bodies_leave_memory(tmp_path: Path, files: Files) -> None:
    path = write(tmp_path / "a.css", b"body { color: red; } " * 100, 1_700_000_000_000_000_000)
    coded = Request("GET", "/a.css", "/a.css", "", Headers([("accept-encoding", "gzip")]))
    assert files.respond(coded, path, "a.css").header("Content-Encoding") == "gzip"
    assert len(files.codings) == 1
    # A new version replaces the old one, and the old one's coded body goes with it.
    write(path, b"body { color: blue; } " * 100, 1_700_000_001_000_000_000)
    assert files.respond(coded, path, "a.css").header("Content-Encoding") == "gzip"
    assert len(files.codings) == 1
    files.invalidate([path])
    assert len(files.codings) == 0 and files.cached_bytes == 0
