"""Sharing: a 1 GB folder downloaded as a zip, and a 200 MB upload, with the server's peak memory.

    python -m bench.share                       # 1 GB zip, 200 MB upload
    python -m bench.share --zip-mb 2048 --upload-mb 500

siteserve runs as a child process (pinned to CPU 0, this client on CPU 1), a
fresh one for each measurement, so each peak is that measurement's own. Peak
memory is the kernel's high-water mark of resident memory (VmHWM in
/proc/PID/status), which catches a spike between two samples; the resident
size at start is printed beside it. The target: the peak stays under 100 MB.

The folder is generated in a temporary directory: a few large files of random
bytes (stored in the zip as they are) and a hundred text files (deflated).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.proc import (
    CLIENT_CPU,
    LOCALHOST,
    SERVER_CPU,
    Children,
    free_port,
    pin_self,
    pinned,
    supervised,
    wait_ready,
)

MB = 1024 * 1024
TARGET_PEAK_MB = 100.0
RESULTS = Path(__file__).parent / "results"
BOUNDARY = "benchboundary7d1f"


@dataclass
class Result:
    name: str
    bytes: int
    seconds: float
    start_mb: float
    peak_mb: float

    @property
    def mb_per_s(self) -> float:
        return self.bytes / MB / self.seconds

    @property
    def ok(self) -> bool:
        return self.peak_mb < TARGET_PEAK_MB


def memory_mb(pid: int, field: str) -> float:
    """``VmHWM`` (the peak) or ``VmRSS`` (now) of one process, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for {pid}")


def make_folder(root: Path, total_mb: int) -> int:
    """Large random files plus text files, about ``total_mb`` in all; the bytes written."""
    folder = root / "data"
    (folder / "text").mkdir(parents=True)
    block = os.urandom(8 * MB)
    written = 0
    text = ("siteserve shares a folder; " * 40 + "\n").encode()
    for index in range(100):
        data = text * 25  # about 100 KB each
        (folder / "text" / f"notes-{index:03}.txt").write_bytes(data)
        written += len(data)
    index = 0
    while written < total_mb * MB:
        size = min(128 * MB, total_mb * MB - written)
        with (folder / f"media-{index:02}.bin").open("wb") as handle:
            left = size
            while left:
                piece = block[: min(len(block), left)]
                handle.write(piece)
                left -= len(piece)
        written += size
        index += 1
    return written


def start_server(children: Children, root: Path, logs: Path, name: str) -> tuple[int, int]:
    port = free_port()
    argv = [sys.executable, "-m", "siteserve", str(root), "-p", str(port), "--strict-port"]
    argv += ["--no-reload", "-q", "--upload", "--max-upload", "2G"]
    child = children.launch(name, pinned(argv, SERVER_CPU), logs / f"{name}.log")
    wait_ready(child, port, "/__siteserve/health")
    return child.pid, port


def measure_zip(children: Children, root: Path, logs: Path) -> tuple[Result, Path]:
    pid, port = start_server(children, root, logs, "siteserve-zip")
    start = memory_mb(pid, "VmRSS")
    archive = root.parent / "download.zip"
    received = 0
    began = time.perf_counter()
    with socket.create_connection((LOCALHOST, port)) as sock, archive.open("wb") as out:
        sock.sendall(
            f"GET /data/?download=zip HTTP/1.1\r\nHost: {LOCALHOST}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            buffer += sock.recv(65536)
        head, _, rest = buffer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"chunked" in head.lower(), head
        # Undo the chunked framing as it streams, keeping only the archive on disk.
        pending = bytearray(rest)
        while True:
            while b"\r\n" not in pending:
                pending += sock.recv(1 << 20)
            line, _, tail = bytes(pending).partition(b"\r\n")
            size = int(line, 16)
            pending = bytearray(tail)
            while len(pending) < size + 2:
                more = sock.recv(1 << 20)
                if not more:
                    raise RuntimeError("connection closed mid-chunk")
                pending += more
            out.write(pending[:size])
            received += size
            del pending[: size + 2]
            if size == 0:
                break
    seconds = time.perf_counter() - began
    peak = memory_mb(pid, "VmHWM")
    with zipfile.ZipFile(archive) as check:
        assert check.testzip() is None, "a CRC did not match"
    return Result("zip download", received, seconds, start, peak), archive


def measure_upload(children: Children, root: Path, logs: Path, size_mb: int) -> Result:
    target = root / "data" / "uploads"
    target.mkdir(exist_ok=True)
    pid, port = start_server(children, root, logs, "siteserve-upload")
    start = memory_mb(pid, "VmRSS")
    size = size_mb * MB
    opening = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        'filename="big upload.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    closing = f"\r\n--{BOUNDARY}--\r\n".encode()
    length = len(opening) + size + len(closing)
    block = os.urandom(4 * MB)
    began = time.perf_counter()
    with socket.create_connection((LOCALHOST, port)) as sock:
        sock.sendall(
            f"POST /data/uploads/ HTTP/1.1\r\nHost: {LOCALHOST}\r\nAccept: application/json\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
            + opening
        )
        left = size
        while left:
            piece = block[: min(len(block), left)]
            sock.sendall(piece)
            left -= len(piece)
        sock.sendall(closing)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    seconds = time.perf_counter() - began
    peak = memory_mb(pid, "VmHWM")
    status = answer.split(b" ", 2)[1]
    assert status == b"201", answer[:300]
    stored = target / "big upload.bin"
    assert stored.stat().st_size == size, stored.stat().st_size
    stored.unlink()
    return Result("upload", size, seconds, start, peak)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip-mb", type=int, default=1024, help="size of the zipped folder")
    parser.add_argument("--upload-mb", type=int, default=200, help="size of the uploaded file")
    args = parser.parse_args(argv)
    pin_self(CLIENT_CPU)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-share-") as temp, supervised() as kids:
        root = Path(temp) / "site"
        logs = Path(temp) / "logs"
        logs.mkdir()
        print(f"generating {args.zip_mb} MB in {root} ...", flush=True)
        source = make_folder(root, args.zip_mb)
        zipped, archive = measure_zip(kids, root, logs)
        kids.stop_all()
        print(f"zip of {source / MB:.0f} MB of files: {zipped.bytes / MB:.0f} MB archive")
        archive.unlink()
        results.append(zipped)
        results.append(measure_upload(kids, root, logs, args.upload_mb))
    print()
    print("| what | MB | seconds | MB/s | RSS at start MB | peak RSS MB (VmHWM) | < 100 MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for result in results:
        print(
            f"| {result.name} | {result.bytes / MB:.0f} | {result.seconds:.2f} | "
            f"{result.mb_per_s:.0f} | {result.start_mb:.1f} | {result.peak_mb:.1f} | "
            f"{'ok' if result.ok else 'OVER'} |"
        )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"share-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(
        json.dumps([asdict(r) | {"mb_per_s": r.mb_per_s} for r in results], indent=2) + "\n"
    )
    print(f"\nresults: {out}")
    return 0 if all(result.ok for result in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
