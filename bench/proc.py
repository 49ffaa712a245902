"""Child processes for the benchmark: free ports, pinned launches, readiness, memory, stopping.

Every process is started here, remembered by PID, and stopped by that PID
(SIGTERM, then SIGKILL after a deadline), also when the run is interrupted.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import NoReturn

LOCALHOST = "127.0.0.1"
#: The server runs on this CPU, the load generator on the other one.
SERVER_CPU = 0
CLIENT_CPU = 1


def free_port() -> int:
    """A port the OS says is free now: bind port 0, read the number, close."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def pinned(argv: Sequence[str], cpu: int) -> list[str]:
    """``argv`` run on one CPU with taskset, when there is more than one CPU to choose from."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu), *argv]
    return list(argv)


def pin_self(cpu: int) -> None:
    """Keep this (client-side) process off the server's CPU."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu})


@dataclass
class Child:
    """A started server: its PID, its log file and when it was launched."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    launched: float = field(default_factory=time.perf_counter)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class Children:
    """Every process this run started; ``stop_all`` ends each one by its PID."""

    def __init__(self) -> None:
        self._children: list[Child] = []

    def launch(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> Child:
        log = log_path.open("wb")
        try:
            started = time.perf_counter()
            # A session of its own: Ctrl-C in the terminal reaches only us, and we
            # stop the child ourselves (by PID) in the finally blocks.
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()
        child = Child(name, popen, log_path, started)
        self._children.append(child)
        return child

    def stop(self, child: Child, timeout: float = 5.0) -> None:
        if child.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
            try:
                child.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child.pid, signal.SIGKILL)
                child.popen.wait(timeout)
        with contextlib.suppress(ValueError):
            self._children.remove(child)

    def stop_all(self) -> None:
        for child in list(reversed(self._children)):
            self.stop(child)


@contextlib.contextmanager
def supervised() -> Iterator[Children]:
    """A Children registry whose processes are stopped on exit, Ctrl-C or SIGTERM."""
    children = Children()

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield children
    finally:
        children.stop_all()
        signal.signal(signal.SIGTERM, previous)


class NotReady(RuntimeError):
    pass


def http_get(port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """One GET on a fresh connection; returns the status and the raw head."""
    with socket.create_connection((LOCALHOST, port), timeout=timeout) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {LOCALHOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.partition(b"\r\n\r\n")[0]
    parts = head.split(b" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise NotReady(f"not an HTTP answer: {head[:80]!r}")
    return int(parts[1]), head


def fetch(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """One GET on its own connection; returns the status and the whole body."""
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_ready(child: Child, port: int, path: str, deadline_s: float = 20.0) -> float:
    """Poll (connect + GET, tight loop) until ``path`` answers 200; seconds since launch."""
    deadline = child.launched + deadline_s
    last_error = "no answer"
    while True:
        try:
            status, _ = http_get(port, path, timeout=1.0)
            if status == 200:
                return time.perf_counter() - child.launched
            last_error = f"status {status}"
        except (OSError, NotReady) as error:
            last_error = str(error)
        if not child.alive():
            raise NotReady(f"{child.name} exited ({child.popen.returncode}):\n{child.log_tail()}")
        if time.perf_counter() > deadline:
            raise NotReady(f"{child.name} did not answer in {deadline_s}s: {last_error}")
        time.sleep(0.0005)


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            with contextlib.suppress(OSError):
                text = Path(f"/proc/{current}/task/{task}/children").read_text()
                pending.extend(int(child) for child in text.split())
    return found


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` and every process under it, in MB (from /proc)."""
    total_kb = 0
    seen = False
    for each in _descendants(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    seen = True
    return total_kb / 1024 if seen else None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by ``pid`` and every process under it (from /proc).

    Divided by the requests served in between, it gives the server's CPU cost
    per request, which holds even when other work shares the server's CPU.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for each in _descendants(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{each}/stat").read_text()
            # Fields after the ")" that ends the command name; utime and stime are 14 and 15.
            fields = stat.rpartition(")")[2].split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def cpu_busy_seconds(cpu: int) -> float:
    """Time ``cpu`` spent on any work (not idle, not waiting for I/O), from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith(f"cpu{cpu} "):
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(
                    int, line.split()[1:9]
                )
                return (user + nice + system + irq + softirq + steal) / ticks
    return 0.0


def exit_with(main: Callable[[], int]) -> NoReturn:
    """Run a benchmark's ``main`` as a script: its status, or 130 on Ctrl-C.

    The servers and wrk were already stopped by the finally blocks on the way out.
    """
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
