"""The zip producer: what goes in, ZIP64, file names in headers, and the async stream."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from siteserve.share import archive


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("docs.zip", 'attachment; filename="docs.zip"'),
        ("my file.txt", 'attachment; filename="my file.txt"'),
        (
            'say "hi".txt',
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt",
        ),
        (
            "back\\slash;%.txt",
            "attachment; filename=\"back_slash__.txt\"; filename*=UTF-8''back%5Cslash%3B%25.txt",
        ),
        ("日本.zip", "attachment; filename=\"__.zip\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.zip"),
        ("a\r\nb", "attachment; filename=\"a__b\"; filename*=UTF-8''a%0D%0Ab"),
    ],
)
def test_content_disposition(name: str, value: str) -> None:
    # RFC 6266 section 4.3: an ASCII fallback, then the real name in filename* (RFC 8187).
    assert archive.content_disposition(name) == value


def _build(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.txt").write_text("deep")
    (root / "a" / "_partial.html").write_text("no")
    (root / "a" / ".hidden").write_text("no")
    (root / "a" / "t.jinja").write_text("no")
    (root / "a" / "page.md").write_text("rendered")
    (root / "a" / "loop").symlink_to(root / "a")  # a loop inside the root
    os.mkfifo(root / "a" / "fifo")
    return root


def test_walk(tmp_path: Path) -> None:
    root = _build(tmp_path)
    entries = archive.walk(
        root / "a", root=root, follow_symlinks=True, is_page=lambda rel: rel.endswith(".md")
    )
    names = [name for _, name, _ in entries]
    # The loop is entered once (it is the folder itself, already seen): no endless walk.
    assert names == ["a/", "a/b/", "a/b/deep.txt", "a/loop/"]


def _never(relative: str) -> bool:
    return False


def _zip_bytes(entries: Any) -> bytes:
    return b"".join(archive.produce(entries))


def test_zip64_records_when_sizes_need_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "z"
    root.mkdir()
    data = os.urandom(300_000)
    (root / "big.bin").write_bytes(data)
    (root / "small.txt").write_text("small")
    # zipfile switches to ZIP64 above ZIP64_LIMIT: lowering it exercises the same code paths
    # as a file over 4 GiB, without writing one.
    monkeypatch.setattr(zipfile, "ZIP64_LIMIT", 100_000)
    produced = _zip_bytes(archive.walk(root, root=root, follow_symlinks=False, is_page=_never))
    monkeypatch.undo()
    assert b"\x01\x00" in produced  # the ZIP64 extra field's header id
    path = tmp_path / "out.zip"
    path.write_bytes(produced)
    tested = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout
    with zipfile.ZipFile(io.BytesIO(produced)) as read:
        assert read.read("z/big.bin") == data
        assert read.read("z/small.txt") == b"small"


def test_text_is_deflated_at_zlibs_fastest_level(tmp_path: Path) -> None:
    # Made while it is sent, beside the requests the server answers meanwhile.
    root = tmp_path / "t"
    root.mkdir()
    text = b" ".join(b"word%d" % (n % 977) for n in range(50_000))
    (root / "notes.txt").write_bytes(text)
    produced = _zip_bytes(archive.walk(root, root=root, follow_symlinks=False, is_page=_never))
    fastest = zlib.compressobj(archive.DEFLATE_LEVEL, zlib.DEFLATED, -15)
    with zipfile.ZipFile(io.BytesIO(produced)) as read:
        entry = read.getinfo("t/notes.txt")
        assert entry.compress_type == zipfile.ZIP_DEFLATED
        assert entry.compress_size == len(fastest.compress(text) + fastest.flush())
        assert read.read("t/notes.txt") == text


def test_blocks_are_bounded(tmp_path: Path) -> None:
    root = tmp_path / "m"
    root.mkdir()
    for index in range(3):
        (root / f"{index}.bin").write_bytes(os.urandom(archive.BLOCK * 3 + 17))
    blocks = list(
        archive.produce(archive.walk(root, root=root, follow_symlinks=False, is_page=_never))
    )
    assert len(blocks) > 9
    # A block is at most one read more than BLOCK (plus an entry's headers).
    assert max(len(block) for block in blocks) < 2 * archive.BLOCK + 4096


def test_files_that_vanish_are_left_out(tmp_path: Path) -> None:
    root = tmp_path / "v"
    root.mkdir()
    (root / "stays.txt").write_text("here")
    entries = [
        (root, "v/", True),
        (root / "gone.txt", "v/gone.txt", False),
        (root / "stays.txt", "v/stays.txt", False),
    ]
    with zipfile.ZipFile(io.BytesIO(_zip_bytes(iter(entries)))) as read:
        assert read.namelist() == ["v/", "v/stays.txt"]


def test_stream_runs_off_the_loop_and_closes(tmp_path: Path) -> None:
    closed: list[bool] = []

    def blocks() -> Any:
        try:
            for index in range(100):
                yield bytes([index]) * 10
        finally:
            closed.append(True)

    async def take_three() -> list[bytes]:
        taken = []
        stream = archive.stream(blocks())
        async for block in stream:
            taken.append(block)
            if len(taken) == 3:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return taken

    taken = asyncio.run(take_three())
    assert taken == [b"\x00" * 10, b"\x01" * 10, b"\x02" * 10]
    assert closed == [True]  # the producer was closed: its files are released
