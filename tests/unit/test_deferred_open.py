"""A large file's cached version: opened only when a body is cut from it, and then checked.

A coded body or a 304 about a version already known needs nothing from the file; an
identity body does, and the file opened for it must still be the version the headers
name (``file_version.DeferredFile``), else the answer is made again.
"""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from siteserve.config import Config
from siteserve.http import FileBody, Headers, Request, Response
from siteserve.site import file_version, static
from siteserve.site.file_version import DeferredFile, FileChanged, OpenFile
from siteserve.site.static import StaticFiles

LARGE = 200 * 1024  # above static.SMALL_FILE: sent from disk


def get(path: str, **fields: str) -> Request:
    headers = [("host", "test"), *((name.replace("_", "-"), v) for name, v in fields.items())]
    return Request("GET", path, path, "", Headers(headers))


def script(seed: int) -> bytes:
    return (b"export const value%d = [1, 2, 3];\n" % seed * (LARGE // 30))[:LARGE]


def answer(files: StaticFiles, request: Request, path: Path) -> Response:
    response = files.respond(request, path, path.name)
    if isinstance(response, Response):
        return response

    async def later() -> Response:
        return await response  # the first coding of a large body runs in a thread

    return asyncio.run(later())


def body_bytes(response: Response) -> bytes:
    body = response.body
    if isinstance(body, bytes):
        return body
    assert isinstance(body, FileBody) and body.file is not None
    try:
        return os.pread(body.file.fileno(), body.length, body.offset)
    finally:
        body.close()


def count_opens(
    monkeypatch: pytest.MonkeyPatch, before: Callable[[], None] = lambda: None
) -> list[Path]:
    """Record every file the static files open (``before`` runs ahead of each open)."""
    opened: list[Path] = []
    real = file_version.open_file

    def open_file(path: Path) -> tuple[OpenFile, os.stat_result]:
        before()
        opened.append(path)
        return real(path)

    monkeypatch.setattr(file_version, "open_file", open_file)
    monkeypatch.setattr(static, "open_file", open_file)
    return opened


def test_a_coded_body_or_a_304_of_a_known_large_file_opens_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.js"
    path.write_bytes(script(1))
    files = StaticFiles(Config(root=tmp_path))
    first = answer(files, get("/app.js", accept_encoding="gzip"), path)  # builds the version
    assert first.status == 200 and first.header("Content-Encoding") == "gzip"
    opened = count_opens(monkeypatch)
    again = answer(files, get("/app.js", accept_encoding="gzip"), path)
    assert again.header("ETag") == first.header("ETag")
    assert gzip.decompress(body_bytes(again)) == path.read_bytes()
    tag = first.header("ETag") or ""
    revalidated = answer(files, get("/app.js", accept_encoding="gzip", if_none_match=tag), path)
    assert revalidated.status == 304
    assert opened == []
    # The file's own bytes are cut from the file, opened for them.
    whole = answer(files, get("/app.js"), path)
    assert whole.status == 200 and body_bytes(whole) == path.read_bytes()
    assert opened == [path]


def test_a_file_renamed_over_before_its_body_is_cut_is_answered_as_the_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "app.js"
    path.write_bytes(script(1))
    files = StaticFiles(Config(root=tmp_path))
    old = answer(files, get("/app.js"), path)
    body_bytes(old)
    replacement = tmp_path / "app.js.tmp"
    replacement.write_bytes(script(2))
    stat_of_old = os.stat(path)
    swaps: list[int] = []

    def swap_once() -> None:
        # An editor's save lands after the stat that found the cached version and
        # before the file is opened for the body.
        if not swaps:
            swaps.append(1)
            os.replace(replacement, path)

    monkeypatch.setattr(
        static.os, "stat", lambda target: stat_of_old if not swaps else os.lstat(target)
    )
    count_opens(monkeypatch, swap_once)
    response = answer(files, get("/app.js"), path)
    monkeypatch.undo()
    new = os.stat(path)
    assert response.status == 200
    assert response.header("ETag") == file_version.make_etag(
        new.st_ino, new.st_size, new.st_mtime_ns
    )
    assert body_bytes(response) == script(2)


def test_a_deferred_file_is_opened_only_as_the_version_it_names(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(script(1))
    files = StaticFiles(Config(root=tmp_path))
    version = files.version(path, path.name)
    opened = DeferredFile(version).give()
    try:
        assert opened.given and os.pread(opened.fileno(), 10, 0) == script(1)[:10]
    finally:
        opened.close()
    before = os.stat(path)
    path.write_bytes(script(2))  # rewritten in place: same inode, another version
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
    with pytest.raises(FileChanged):
        DeferredFile(version).give()
    path.unlink()
    with pytest.raises(FileChanged):
        DeferredFile(version).give()
    DeferredFile(version).release()  # nothing was opened: nothing to close
