"""What only the ASGI app has: WebSockets refused, a start without lifespan, start-up errors.

The shared HTTP checks are in test_matrix.py; these start uvicorn and granian
processes of their own.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import (
    START_DEADLINE,
    asgi_command,
    free_port,
    server_process,
)

HANDSHAKE = (
    b"GET /__siteserve/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("asgi") / "site"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (root / "page.html.jinja").write_text("<p>{{ request.method }} {{ request.path }}</p>")
    return root


@pytest.fixture(scope="module", params=["uvicorn", "granian"])
def base_url(
    request: pytest.FixtureRequest, site: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    kind: str = request.param
    port = free_port()
    log = tmp_path_factory.mktemp(kind) / "server.log"
    env = {"SITESERVE_ROOT": str(site)}
    with server_process(kind, asgi_command(kind, port), port=port, log=log, env=env) as server:
        yield server.base_url


def test_websocket_handshakes_are_refused(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(HANDSHAKE)
        head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 403")


def test_the_served_page_and_file(base_url: str) -> None:
    assert httpx.get(base_url + "/page", timeout=10).text == "<p>GET /page</p>"
    assert httpx.get(base_url + "/hello.txt", timeout=10).text == "hello\n"


def test_without_lifespan_the_first_request_starts_the_app(site: Path, tmp_path: Path) -> None:
    port = free_port()
    argv = [*asgi_command("uvicorn", port), "--lifespan", "off"]
    env = {"SITESERVE_ROOT": str(site)}
    with server_process("uvicorn", argv, port=port, log=tmp_path / "log", env=env) as server:
        assert httpx.get(server.base_url + "/page", timeout=10).text == "<p>GET /page</p>"
        assert "startup" not in server.log_text().lower()


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
def test_a_start_up_error_is_one_line_and_the_server_exits(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    returncode, output = _run_to_its_end(kind, missing)
    assert returncode != 0
    assert output.count(f"siteserve: folder not found: {missing}") == 1, output
    assert "Traceback" not in output


@pytest.mark.parametrize("kind", ["uvicorn", "granian"])
def test_a_failing_stack_startup_is_said_once_and_the_server_exits(
    kind: str, tmp_path: Path
) -> None:
    # The stack's own startup fails (Redis out of reach), not the configuration: uvicorn's
    # default lifespan took a raised exception for "lifespan unsupported" and served on,
    # starting the stack again on every request.
    (tmp_path / "siteserve.toml").write_text(f'sessions = "redis://127.0.0.1:{free_port()}/0"\n')
    returncode, output = _run_to_its_end(kind, tmp_path)
    assert returncode != 0
    assert output.count("siteserve: sessions: cannot reach Redis at redis://127.0.0.1:") == 1, (
        output
    )
    assert "Traceback" not in output


def _run_to_its_end(kind: str, root: Path) -> tuple[int, str]:
    """Run ``kind`` serving ``root`` until it exits (by the deadline): its code and output."""
    done = subprocess.run(
        asgi_command(kind, free_port()),
        env={**os.environ, "SITESERVE_ROOT": str(root)},
        capture_output=True,
        text=True,
        timeout=START_DEADLINE,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr
