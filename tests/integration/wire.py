"""A raw-socket client for tests that need exact bytes on the wire."""

from __future__ import annotations

import socket
import time

DEADLINE = 10.0

#: Every Wire opened by a test, closed after it (tests/integration/conftest.py).
OPEN: list[Wire] = []


class Wire:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.buffer = b""
        OPEN.append(self)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self, deadline: float) -> bool:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data = self.sock.recv(65536)
        except TimeoutError:
            return True
        except ConnectionResetError:
            return False
        if not data:
            return False
        self.buffer += data
        return True

    def read_response(self, *, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """Read one response (Content-Length or chunked framed, else to EOF)."""
        deadline = time.monotonic() + DEADLINE
        while b"\r\n\r\n" not in self.buffer:
            if time.monotonic() > deadline or not self._fill(deadline):
                raise AssertionError(f"no complete head; got {self.buffer!r}")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if head_only or status in (100, 101, 204, 304):
            return status, headers, b""
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(self.buffer) < length:
                if time.monotonic() > deadline or not self._fill(deadline):
                    raise AssertionError("short body")
            body, self.buffer = self.buffer[:length], self.buffer[length:]
            return status, headers, body
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buffer:
                    if not self._fill(deadline):
                        raise AssertionError("short chunk")
                size_line, _, rest = self.buffer.partition(b"\r\n")
                size = int(size_line, 16)
                while len(rest) < size + 2:
                    if not self._fill(deadline):
                        raise AssertionError("short chunk")
                    size_line, _, rest = self.buffer.partition(b"\r\n")
                body += rest[:size]
                self.buffer = rest[size + 2 :]
                if size == 0:
                    return status, headers, body
        while self._fill(deadline) and time.monotonic() < deadline:
            pass
        body, self.buffer = self.buffer, b""
        return status, headers, body

    def closed_by_peer(self, within: float = DEADLINE) -> bool:
        """Whether the server closes the connection before ``within`` seconds pass."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
            if not data:
                return True
            self.buffer += data
        return False

    def close(self) -> None:
        self.sock.close()
