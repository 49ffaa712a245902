"""A small backend for the proxy's tests, run as its own process: ``python proxy_backend.py``.

It listens on 127.0.0.1 port 0 (or the port given, to come back where it
was), prints the port on its first line, and serves what a web app does that
a proxy can get wrong: an echo of what it was sent,
a redirect to its own absolute URL, a login that sets a cookie for its own
domain and path, streamed answers and uploads of any size, a slow answer, an
answer cut off by the process dying, an HTML page, and a WebSocket echo.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Request,
    TextMessage,
)

CHUNK = b"x" * 65536


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: The version of ``/versioned`` (its ETag is ``"vN"``); ``POST .../bump`` adds one.
    version = 1

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str, *extra: tuple[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: object, *extra: tuple[str, str]) -> None:
        self._send(200, json.dumps(value).encode(), "application/json", *extra)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        port = self.server.server_address[1]
        if url.path.endswith("/ws") and self.headers.get("Upgrade", "").lower() == "websocket":
            return self._websocket()
        if url.path.endswith("/echo"):
            return self._json(
                {
                    "target": self.path,
                    "headers": [[k.lower(), v] for k, v in self.headers.items()],
                    "peer": list(self.client_address),
                },
                ("Connection", "X-Private"),
                ("X-Private", "hop"),
                ("Keep-Alive", "timeout=5"),
            )
        if url.path.endswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{port}/base/landing?x=1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if url.path.endswith("/me"):
            return self._json({"cookie": self.headers.get("Cookie")})
        if url.path.endswith("/stream"):
            mib = int(parse_qs(url.query).get("mib", ["1"])[0])
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(mib * 16):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK))
            self.wfile.write(b"0\r\n\r\n")
            return None
        if url.path.endswith("/slow"):
            time.sleep(30)
            return self._json({"slow": True})
        if url.path.endswith("/die"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            self.wfile.write(b"y" * 1000)
            self.wfile.flush()
            os._exit(1)
        if url.path.endswith("/versioned"):
            return self._versioned()
        if url.path.endswith("/page") or url.path == "/":
            html = b"<!doctype html><html><head><title>backend</title></head>"
            html += b"<body><h1 id=from>from the backend</h1></body></html>"
            return self._send(200, html, "text/html; charset=utf-8")
        return self._send(404, b"backend: no such page", "text/plain")

    def _versioned(self) -> None:
        etag = f'"v{Handler.version}"'
        asked = self.headers.get("If-None-Match", "")
        seen = ("X-Seen-If-None-Match", asked)
        if etag.strip('"') in [
            tag.strip().removeprefix("W/").strip('"') for tag in asked.split(",")
        ]:
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header(*seen)
            self.end_headers()
            return
        html = b"<!doctype html><html><head><title>versioned</title></head>"
        html += b"<body><h1 id=from>version %d</h1></body></html>" % Handler.version
        self._send(200, html, "text/html; charset=utf-8", ("ETag", etag), seen)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path.endswith("/bump"):
            Handler.version += 1
            return self._json({"version": Handler.version})
        if url.path.endswith("/login"):
            return self._json(
                {"ok": True},
                ("Set-Cookie", "sid=s3cret; Domain=127.0.0.1; Path=/base; HttpOnly"),
            )
        received = 0
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                while size:
                    received += len(self.rfile.read(min(size, 65536)))
                    size = max(0, size - 65536)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                data = self.rfile.read(min(left, 65536))
                received += len(data)
                left -= len(data)
        return self._json({"received": received})

    def _websocket(self) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        head = f"GET {self.path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in self.headers.items()
        )
        ws.receive_data((head + "\r\n").encode("latin-1"))
        sock: socket.socket = self.connection
        for event in ws.events():
            if isinstance(event, Request):
                sock.sendall(ws.send(AcceptConnection()))
        self.close_connection = True
        while True:
            data = sock.recv(65536)
            if not data:
                return
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, TextMessage):
                    sock.sendall(ws.send(Message(data="echo: " + event.data)))
                elif isinstance(event, CloseConnection):
                    sock.sendall(ws.send(event.response()))
                    return


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
