"""The proxy frames the body it sends a backend as its head says, whatever else the head holds."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import RunningServer

Serve = Callable[..., RunningServer]
DEADLINE_S = 10.0


class RecordingBackend:
    """Accepts one connection, reads one request framed by its Content-Length, answers 204."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.body = b""
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(DEADLINE_S)
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(DEADLINE_S)
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, rest = data.partition(b"\r\n\r\n")
            fields = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
            length = int(fields[b"content-length"])
            while len(rest) < length:
                rest += connection.recv(65536)
            self.body = rest[:length]
            connection.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    def join(self) -> None:
        self._thread.join(DEADLINE_S)
        self.listener.close()


def test_a_field_value_naming_chunked_does_not_chunk_a_sized_body(
    serve_site: Serve, tmp_path: Path
) -> None:
    backend = RecordingBackend()
    site = tmp_path / "site"
    site.mkdir()
    (site / "siteserve.toml").write_text(
        f'[proxy."/api"]\nurl = "http://127.0.0.1:{backend.port}"\n'
    )
    server = serve_site(site)
    answer = httpx.post(
        server.url("/api/upload"),
        content=b"hello",
        headers={"X-Note": "transfer-encoding: chunked"},
    )
    backend.join()
    assert answer.status_code == 204
    # Chunk framing on a Content-Length body would give the backend "5\r\nhe" here, and
    # the rest would be read as a second request on a reused connection.
    assert backend.body == b"hello"
