"""The proxy's cost: a small JSON answer from a backend, directly and through ``--proxy``.

    python -m bench.proxy [--requests 5000] [--rounds 5] [--stream-mib 512]

A backend (``bench.proxy --backend``: asyncio, one fixed JSON answer, keep-alive)
and siteserve with ``--proxy /api=BACKEND`` run pinned to CPU 0; this process
(CPU 1) sends sequential keep-alive requests on one connection, alternating
rounds of direct and proxied requests, and prints p50/p90/p99 of both and the
difference at p50 (the latency the proxy adds). With wrk installed, requests/s
of both with 8 connections for 5 s each. The server CPU time per proxied request
(user + system, from /proc) is printed too: unlike wall time it holds up on a
busy machine. Then ``--stream-mib`` MiB are
downloaded and uploaded through the proxy, and the server's peak RSS (VmHWM)
is printed before and after: streaming keeps it flat. The load average is
printed with the figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.proc import (
    CLIENT_CPU,
    SERVER_CPU,
    cpu_seconds,
    free_port,
    pin_self,
    pinned,
    supervised,
    wait_ready,
)

BODY = b'{"ok":true,"items":[1,2,3],"name":"siteserve"}'
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
CHUNK = b"s" * 65536


class _Backend(asyncio.Protocol):
    """Answers every request head with ANSWER; /stream streams, POST bodies are counted."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        self.left = 0

    def data_received(self, data: bytes) -> None:
        if self.left:
            taken = min(self.left, len(data))
            self.left -= taken
            data = data[taken:]
            if not self.left:
                self.transport.write(ANSWER)
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            lowered = head.lower()
            if b"content-length:" in lowered:
                length = int(lowered.split(b"content-length:")[1].split(b"\r\n")[0])
                taken = min(length, len(self.buffer))
                self.buffer = self.buffer[taken:]
                self.left = length - taken
                if not self.left:
                    self.transport.write(ANSWER)
                return
            if head.startswith(b"GET /api/stream"):
                mib = int(head.split(b"mib=")[1].split(b" ")[0])
                asyncio.get_running_loop().create_task(self._stream(mib))
                return
            self.transport.write(ANSWER)

    async def _stream(self, mib: int) -> None:
        size = mib * 1024 * 1024
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        for _ in range(mib * 16):
            self.transport.write(CHUNK)
            while self.transport.get_write_buffer_size() > 1024 * 1024:  # noqa: ASYNC110
                await asyncio.sleep(0.001)


async def _serve_backend(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(_Backend, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def _latencies(port: int, path: str, count: int) -> list[float]:
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    times = []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while not data.endswith(BODY):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                data += chunk
            times.append(time.perf_counter() - started)
    return times


def _quantiles(times: list[float]) -> tuple[float, float, float]:
    ordered = sorted(times)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1e6  # noqa: E731
    return pick(0.5), pick(0.9), pick(0.99)


def _wrk(port: int, path: str) -> float | None:
    try:
        out = subprocess.run(
            pinned(["wrk", "-t1", "-c8", "-d5s", f"http://127.0.0.1:{port}{path}"], CLIENT_CPU),
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _stream(port: int, mib: int) -> None:
    host = f"127.0.0.1:{port}"  # the host check answers 403 to any other name
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /api/stream?mib={mib} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        got = 0
        while got < mib * 1024 * 1024:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        print(f"  downloaded {got / 2**20:.0f} MiB through the proxy")
        size = mib * 1024 * 1024
        head = f"POST /api/upload HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode())
        for _ in range(mib * 16):
            sock.sendall(CHUNK)
        data = b""
        while BODY not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        print(f"  uploaded {mib} MiB through the proxy: {'answered' if BODY in data else 'FAILED'}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream-mib", type=int, default=512)
    args = parser.parse_args()
    if args.backend:
        asyncio.run(_serve_backend(args.backend))
        return 0
    pin_self(CLIENT_CPU)
    scratch = Path(tempfile.mkdtemp(prefix="siteserve-bench-proxy-"))
    (scratch / "site").mkdir()
    backend_port, proxy_port = free_port(), free_port()
    with supervised() as children:
        backend = children.launch(
            "backend",
            pinned(
                [sys.executable, "-m", "bench.proxy", "--backend", str(backend_port)], SERVER_CPU
            ),
            scratch / "backend.log",
        )
        wait_ready(backend, backend_port, "/api/x")
        server = children.launch(
            "siteserve",
            pinned(
                [
                    sys.executable, "-m", "siteserve", str(scratch / "site"),
                    "--port", str(proxy_port), "--strict-port", "--quiet", "--no-reload",
                    "--proxy", f"/api=http://127.0.0.1:{backend_port}",
                ],
                SERVER_CPU,
            ),
            scratch / "siteserve.log",
        )  # fmt: skip
        wait_ready(server, proxy_port, "/api/x")
        direct: list[float] = []
        proxied: list[float] = []
        _latencies(proxy_port, "/api/x", 500)  # warm up both
        server_cpu = 0.0
        for _ in range(args.rounds):
            direct += _latencies(backend_port, "/api/x", args.requests // args.rounds)
            before_cpu = cpu_seconds(server.pid)
            proxied += _latencies(proxy_port, "/api/x", args.requests // args.rounds)
            server_cpu += cpu_seconds(server.pid) - before_cpu
        load = os.getloadavg()
        d, p = _quantiles(direct), _quantiles(proxied)
        print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)")
        print("| path | p50 us | p90 us | p99 us |\n| --- | --- | --- | --- |")
        print(f"| backend directly | {d[0]:.0f} | {d[1]:.0f} | {d[2]:.0f} |")
        print(f"| through --proxy | {p[0]:.0f} | {p[1]:.0f} | {p[2]:.0f} |")
        added = p[0] - d[0]
        verdict = "met" if added < 300 else "NOT met"
        print(f"added at p50: {added:.0f} us (target < 300 us: {verdict})")
        print(f"mean added: {(statistics.mean(proxied) - statistics.mean(direct)) * 1e6:.0f} us")
        print(f"siteserve CPU per proxied request: {server_cpu / len(proxied) * 1e6:.0f} us")
        rate_direct, rate_proxy = _wrk(backend_port, "/api/x"), _wrk(proxy_port, "/api/x")
        if rate_direct and rate_proxy:
            print(f"wrk -c8: backend {rate_direct:.0f} req/s, through the proxy {rate_proxy:.0f}")
            print(f"  ratio {rate_proxy / rate_direct:.2f}")
        if args.stream_mib:
            before = _peak_rss_mib(server.pid)
            _stream(proxy_port, args.stream_mib)
            after = _peak_rss_mib(server.pid)
            print(f"siteserve peak RSS: {before:.0f} MiB before, {after:.0f} MiB after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
