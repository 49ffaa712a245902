"""The file sender's one-version rule, driven without sockets.

``os.sendfile`` is replaced by a fake that copies the file's bytes into the fake
transport's buffer (and may rewrite or truncate the file right after, as an editor
would), so each test can tell which bytes went by sendfile and which by a write after
a check, and that a file changed in place never completes its body.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from siteserve.http.response import BodyChanged, FileBody
from siteserve.server.file_sender import SENDFILE_CHUNK, TAIL, send_file
from siteserve.server.flow import WriteFlow
from siteserve.site.file_version import open_file
from tests.unit.connection_support import FakeTransport

SOCKET_FD = 1000  # never a real descriptor: only the fake sendfile sees it


class _Socket:
    def fileno(self) -> int:
        return SOCKET_FD


class SendfileTransport(FakeTransport):
    """A plain-TCP transport: it has a socket for sendfile, and no TLS."""

    def __init__(self) -> None:
        super().__init__()
        #: Bytes that reached the peer by sendfile, and by write, in order.
        self.pieces: list[tuple[str, int]] = []

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "socket":
            return _Socket()
        return super().get_extra_info(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        self.pieces.append(("write", len(data)))


def fake_sendfile(
    monkeypatch: pytest.MonkeyPatch,
    transport: SendfileTransport,
    after_call: Callable[[int], None] = lambda calls: None,
) -> list[int]:
    """Route ``os.sendfile`` into ``transport``; ``after_call(n)`` runs after the n-th call."""
    calls: list[int] = []

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        assert out_fd == SOCKET_FD
        data = os.pread(in_fd, count, offset)
        transport.data += data
        transport.pieces.append(("sendfile", len(data)))
        calls.append(len(data))
        after_call(len(calls))
        return len(data)

    monkeypatch.setattr(os, "sendfile", sendfile)
    return calls


def body_of(path: Path) -> FileBody:
    file, info = open_file(path)
    return FileBody(path, 0, info.st_size, file.give(), (info.st_size, info.st_mtime_ns))


def send(transport: SendfileTransport, body: FileBody) -> None:
    async def run() -> None:
        await send_file(asyncio.get_running_loop(), transport, WriteFlow(), body)  # type: ignore[arg-type]

    asyncio.run(run())


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Same name, same inode, new bytes, and an mtime surely unlike the old one."""
    before = os.stat(path)
    with path.open("r+b") as handle:
        handle.write(data)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def test_the_end_of_a_body_is_written_after_a_check_and_the_rest_goes_by_sendfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "medium.bin"
    path.write_bytes(bytes(range(256)) * 400)  # 100 KiB: one sendfile call, then the tail
    transport = SendfileTransport()
    calls = fake_sendfile(monkeypatch, transport)
    send(transport, body_of(path))
    assert bytes(transport.data) == path.read_bytes()
    assert calls == [path.stat().st_size - TAIL]
    assert transport.pieces[-1] == ("write", TAIL)


def test_a_body_no_longer_than_the_tail_is_only_read_and_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(b"s" * (TAIL - 1))
    transport = SendfileTransport()
    calls = fake_sendfile(monkeypatch, transport)
    send(transport, body_of(path))
    assert bytes(transport.data) == path.read_bytes() and calls == []


@pytest.mark.parametrize("change", ["rewrite", "truncate"])
def test_a_file_changed_after_its_only_sendfile_call_never_completes_its_body(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    path = tmp_path / "edited.bin"
    size = 100 * 1024
    path.write_bytes(b"a" * size)
    transport = SendfileTransport()

    def edit(calls: int) -> None:
        if change == "rewrite":
            rewrite_in_place(path, b"b" * size)
        else:
            os.truncate(path, size - TAIL // 2)

    fake_sendfile(monkeypatch, transport, edit)
    with pytest.raises(BodyChanged):
        send(transport, body_of(path))
    # What went out is the old version's bytes, short of the promised length.
    assert len(transport.data) < size
    assert bytes(transport.data) == b"a" * len(transport.data)


def test_a_long_body_changed_in_place_stops_at_the_next_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.bin"
    size = 3 * SENDFILE_CHUNK
    path.write_bytes(b"a" * size)
    transport = SendfileTransport()
    calls = fake_sendfile(monkeypatch, transport, lambda n: rewrite_in_place(path, b"b" * size))
    with pytest.raises(BodyChanged):
        send(transport, body_of(path))
    assert calls == [SENDFILE_CHUNK]  # not sent on to the tail's check
    assert bytes(transport.data) == b"a" * SENDFILE_CHUNK


def test_an_unchanged_long_body_is_sent_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "long.bin"
    path.write_bytes(os.urandom(2 * SENDFILE_CHUNK + 12345))
    transport = SendfileTransport()
    calls = fake_sendfile(monkeypatch, transport)
    send(transport, body_of(path))
    assert bytes(transport.data) == path.read_bytes()
    assert sum(calls) == path.stat().st_size - TAIL
    assert transport.pieces[-1] == ("write", TAIL)


def test_two_long_bodies_take_turns_between_sendfile_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fast reader never keeps the loop for a whole large body: each sendfile call
    is followed by the other connections' turn."""
    paths = [tmp_path / "one.bin", tmp_path / "two.bin"]
    for path in paths:
        path.write_bytes(os.urandom(4 * SENDFILE_CHUNK))
    transports = [SendfileTransport(), SendfileTransport()]
    order: list[int] = []

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        number = next(n for n, p in enumerate(paths) if os.path.samestat(os.fstat(in_fd), p.stat()))
        transports[number].data += os.pread(in_fd, count, offset)
        order.append(number)
        return count

    monkeypatch.setattr(os, "sendfile", sendfile)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.gather(
            *(
                send_file(loop, transport, WriteFlow(), body_of(path))  # type: ignore[arg-type]
                for transport, path in zip(transports, paths, strict=True)
            )
        )

    asyncio.run(run())
    assert [bytes(t.data) for t in transports] == [p.read_bytes() for p in paths]
    assert len(order) >= 8
    assert all(order[n] != order[n + 1] for n in range(len(order) - 1)), order
