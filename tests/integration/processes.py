"""Servers in child processes for the tests: a free port, a readiness wait, a stop by PID.

The production servers (uvicorn, granian, gunicorn) run ``siteserve.asgi``
as they would in a deployment: a process of their own, told the folder with
``SITESERVE_ROOT``. Each is stopped by its PID (SIGTERM, then SIGKILL after a
deadline), whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

#: Seconds a server may take to answer its first request (four gunicorn workers
#: importing siteserve on two busy cores take a few).
START_DEADLINE = 30.0
STOP_DEADLINE = 10.0


def free_port() -> int:
    """A port the OS says is free now: bind port 0, read the number, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def executable(name: str) -> str:
    """``name`` from PATH, or from beside this Python (a virtualenv run without activating it)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        raise AssertionError(f"{name} is not installed: pip install -e '.[test]'")
    return found


@dataclass
class ServerProcess:
    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def _answers(port: int, path: str) -> bool:
    """Whether a GET of ``path`` gets any HTTP answer (one short connection)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            return sock.recv(16).startswith(b"HTTP/1.")
    except OSError:
        return False


def wait_answering(server: ServerProcess, path: str, deadline_s: float = START_DEADLINE) -> None:
    deadline = time.monotonic() + deadline_s
    while not _answers(server.port, path):
        if server.popen.poll() is not None:
            raise AssertionError(
                f"{server.name} exited ({server.popen.returncode}):\n{server.log_text()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{server.name} did not answer in {deadline_s}s:\n{server.log_text()}"
            )
        time.sleep(0.05)


def stop(server: ServerProcess) -> None:
    """SIGTERM to the server's PID, SIGKILL if it has not exited by the deadline."""
    popen = server.popen
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(popen.pid, signal.SIGTERM)
        try:
            popen.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)
            popen.wait(STOP_DEADLINE)


@contextlib.contextmanager
def server_process(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    log: Path,
    env: Mapping[str, str] = {},
    ready_path: str = "/__siteserve/health",
) -> Iterator[ServerProcess]:
    """Run ``argv`` (our environment plus ``env``) until the block ends; it answers on ``port``."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
        )
    server = ServerProcess(name, popen, port, log)
    try:
        wait_answering(server, ready_path)
        yield server
    finally:
        stop(server)


def asgi_command(kind: str, port: int) -> list[str]:
    """The command line that runs ``siteserve.asgi:app`` under ``kind`` on 127.0.0.1:``port``."""
    if kind == "uvicorn":
        return [
            executable("uvicorn"),
            "siteserve.asgi:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
    if kind == "granian":
        return [
            executable("granian"),
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "siteserve.asgi:app",
        ]
    raise ValueError(kind)
