"""The floor for a Python server on uvloop: the same bytes for every request, no parsing.

    python -m bench.floor_server SITE_FOLDER PORT

Reads each file of the folder into memory once at start and answers ``GET /name`` with a
fixed head and the file's bytes (anything else: 404). Requests are split on
the blank line; nothing else is parsed, nothing is checked. It is not a
server anyone should use: it shows how far siteserve's own per-request work
is from what uvloop and the kernel cost by themselves (bench.static's
``uvloop-floor``).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop

NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def answers(root: Path, extra: str = "") -> dict[bytes, bytes]:
    table: dict[bytes, bytes] = {}
    for path in root.iterdir():
        if path.is_file():
            body = path.read_bytes()
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode()
            table[f"/{path.name}".encode()] = head + body
    return table


class Floor(asyncio.Protocol):
    def __init__(self, table: dict[bytes, bytes], closing: dict[bytes, bytes]) -> None:
        self.table = table
        self.closing = closing
        self.pending = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport) or hasattr(transport, "write")
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.pending += data
        out = []
        close = False
        while True:
            end = self.pending.find(b"\r\n\r\n")
            if end < 0:
                break
            request, self.pending = self.pending[:end], self.pending[end + 4 :]
            target = request.split(b" ", 2)[1] if request.count(b" ") >= 2 else b""
            if b"connection: close" in request.lower():
                # The "close" scenario: one request per connection, said in the answer.
                out.append(self.closing.get(target, NOT_FOUND))
                close = True
                break
            out.append(self.table.get(target, NOT_FOUND))
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
            if close:
                self.transport.close()


async def serve(root: Path, port: int) -> None:
    table, closing = answers(root), answers(root, "Connection: close\r\n")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Floor(table, closing), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    uvloop.run(serve(Path(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
