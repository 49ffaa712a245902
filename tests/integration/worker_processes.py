"""Which process holds what: the worker processes of `--workers`, and the one behind a connection.

Linux only (``/proc``), as ``--workers`` shares a port with SO_REUSEPORT there: the
tests find the worker that accepted a connection by the inode of its socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

DEADLINE = 30.0


def until(condition: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)  # polling interval for state another process changes


def children(pid: int) -> list[int]:
    """The processes ``pid`` started that are still running."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"  # a zombie has exited


def server_inode(client: socket.socket) -> int | None:
    """The inode of the server's end of ``client``'s TCP connection (from /proc/net/tcp)."""
    local_port = client.getsockname()[1]
    server_port = client.getpeername()[1]
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], int(fields[9])
                if (
                    int(local.rpartition(":")[2], 16) == server_port
                    and int(remote.rpartition(":")[2], 16) == local_port
                    and inode
                ):
                    return inode
    return None


def holder(client: socket.socket, pids: list[int]) -> int | None:
    """Which of ``pids`` holds the server's end of ``client`` (it has accepted it)."""
    inode = server_inode(client)
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
    return None


def held_connections(port: int, pids: list[int]) -> dict[int, int]:
    """The established connections to ``port`` that ``pids`` hold: server-side inode -> pid."""
    inodes: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                state, inode = fields[3], int(fields[9])
                if state == "01" and int(fields[1].rpartition(":")[2], 16) == port and inode:
                    inodes.add(inode)  # state "01": ESTABLISHED
    held: dict[int, int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:[") and int(link[8:-1]) in inodes:
                        held[int(link[8:-1])] = pid
    return held
