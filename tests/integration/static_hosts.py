"""Real static hosts for a build's output: nginx and ``python -m http.server``, on port 0.

nginx runs from its Debian package with a configuration of our own in the
test's temporary folder (pid, logs and temp paths there too), in the
foreground, one process, on a port the kernel picked; it is stopped by its
PID. Without nginx a test is skipped, unless ``CI`` is set: CI must have it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

NGINX = "/usr/sbin/nginx"
DEADLINE = 15.0

#: What a typical host does with clean URLs: the file, then .html, then a folder's index.
TRY_FILES = "$uri $uri.html $uri/ =404"


def nginx_or_skip() -> str:
    found = NGINX if os.access(NGINX, os.X_OK) else shutil.which("nginx")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("nginx is missing in CI: .ci/run installs it (apt-get install nginx)")
    pytest.skip("nginx is not installed (apt-get install nginx)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait
    raise RuntimeError(f"nothing listens on port {port}: {log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(DEADLINE)


def nginx_config(root: Path, work: Path, port: int, *, try_files: str, extra: str) -> str:
    temp = work / "temp"
    temp.mkdir(exist_ok=True)
    paths = "\n".join(
        f"    {name}_temp_path {temp / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""\
daemon off;
master_process off;
worker_processes 1;
pid {work / "nginx.pid"};
error_log {work / "error.log"} warn;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
{paths}
    server {{
        listen 127.0.0.1:{port};
        root {root};
        index index.html;
        error_page 404 /404.html;
        location / {{
            try_files {try_files};
        }}
{extra}
    }}
}}
"""


@contextmanager
def running_nginx(
    root: Path, work: Path, *, try_files: str = TRY_FILES, extra: str = ""
) -> Iterator[str]:
    """nginx serving ``root``; yields its base URL (``http://127.0.0.1:PORT``)."""
    binary = nginx_or_skip()
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = work / "nginx.conf"
    config.write_text(nginx_config(root, work, port, try_files=try_files, extra=extra))
    log = work / "stderr.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "-p", str(work), "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, process, work / "error.log")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def running_http_server(root: Path, work: Path) -> Iterator[str]:
    """``python -m http.server`` serving ``root``; yields its base URL."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = work / "http-server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
            cwd=root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_listening(port, process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)
