"""``--tls`` and ``--cert/--key`` as a user runs them, checked by a client that verifies."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import re
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.server.runner import Server, bind_socket, new_event_loop
from siteserve.share.tls import make_certificate, server_context
from tests.integration.test_cli import Siteserve, _env, run_to_end

HTTPS_URL = re.compile(r"Local +(https://127\.0\.0\.1:(\d+)/)")
FINGERPRINT = re.compile(r"TLS +SHA-256 ([0-9A-F:]{95})")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>tls</title><p>over https</p>")
    return root


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[type[Siteserve]]:
    """Start siteserve with its cache folder in tmp_path; stopped (by PID) at the end."""
    started: list[Siteserve] = []
    env = _env(XDG_CACHE_HOME=str(tmp_path / "cache"))

    class Tracked(Siteserve):
        def __init__(self, *args: str) -> None:
            super().__init__(*args, env=env)
            started.append(self)

    yield Tracked
    for server in started:
        server.kill()


def _fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return hashlib.sha256(der).hexdigest().upper()


def _trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_self_signed_certificate_is_made_kept_and_reused(
    launch: type[Siteserve], site: Path, tmp_path: Path
) -> None:
    server = launch(str(site), "-p", "0", "--tls", "--no-reload")
    url = server.wait_for(HTTPS_URL).group(1)
    shown = server.wait_for(FINGERPRINT).group(1)
    cert = tmp_path / "cache" / "siteserve" / "cert.pem"
    key = tmp_path / "cache" / "siteserve" / "key.pem"
    assert shown.replace(":", "") == _fingerprint(cert)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600  # the private key is the user's alone
    # A real client that checks the certificate against the generated one.
    for host in ("127.0.0.1", "localhost"):
        response = httpx.get(url.replace("127.0.0.1", host), verify=_trusting(cert))
        assert response.status_code == 200 and "over https" in response.text
    with pytest.raises(httpx.ConnectError):
        httpx.get(url)  # the system's trust store does not know it
    # Plain HTTP on the port is sent to HTTPS (not served: see the plain-http tests below).
    plain = httpx.get(url.replace("https:", "http:"))
    assert plain.status_code == 307 and plain.headers["location"] == url
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert "localhost" in names.value.get_values_for_type(x509.DNSName)
    addresses = names.value.get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in addresses
    assert ipaddress.ip_address("::1") in addresses
    assert server.stop() == 0
    again = launch(str(site), "-p", "0", "--tls", "--no-reload")
    again.wait_for(HTTPS_URL)
    assert again.wait_for(FINGERPRINT).group(1) == shown  # the same certificate, reused
    again.wait_for(re.compile(r"self-signed \(reused from "))
    assert again.stop() == 0


def test_own_certificate_and_key(launch: type[Siteserve], site: Path, tmp_path: Path) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert_pem, key_pem = make_certificate(["localhost"], [ipaddress.ip_address("127.0.0.1")], now)
    cert, key = tmp_path / "mine.crt", tmp_path / "mine.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    server = launch(str(site), "-p", "0", "--cert", str(cert), "--key", str(key), "--no-reload")
    url = server.wait_for(HTTPS_URL).group(1)
    assert server.wait_for(FINGERPRINT).group(1).replace(":", "") == _fingerprint(cert)
    assert httpx.get(url, verify=_trusting(cert)).status_code == 200
    assert not (tmp_path / "cache" / "siteserve").exists()  # nothing generated
    server.wait_for(re.compile(r"Press Ctrl-C"))
    assert not any("self-signed" in line for line in server.stdout)
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert", "{tmp}/mine.crt"], "--cert and --key go together"),
        (["--cert", "{tmp}/none.crt", "--key", "{tmp}/none.key"], "certificate file not found"),
        (["--cert", "{tmp}/mine.crt", "--key", "{tmp}/other.key"], "cannot use certificate"),
        (["--auth", "nopassword"], "--auth must be user:password"),
        (["--auth", "bob:sha256:1234"], "64 hex digits"),
        (["--auth-file", "{tmp}/missing.txt"], "cannot read auth file"),
        (["--max-upload", "lots"], "not a size"),
        (["--max-upload", "0"], "more than zero"),
    ],
)
def test_bad_options_are_one_line_and_status_2(
    site: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert_pem, _ = make_certificate(["localhost"], [], now)
    _, other_key = make_certificate(["localhost"], [], now)
    (tmp_path / "mine.crt").write_bytes(cert_pem)
    (tmp_path / "other.key").write_bytes(other_key)
    done = run_to_end(str(site), "-p", "0", *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("siteserve: error: ")
    assert message in lines[0]
    assert "sha256:1234" not in done.stderr or "bob" in done.stderr


def test_banner_says_who_can_come_in(launch: type[Siteserve], site: Path) -> None:
    server = launch(
        str(site), "-p", "0", "--no-reload", "--upload", "--max-upload", "10M", "--auth", "a:b"
    )
    server.wait_for(re.compile(r"Press Ctrl-C"))
    text = "\n".join(server.stdout)
    assert "Access   password required (1 user)" in text
    assert "Uploads  on, up to 10 MiB per request" in text
    assert "ANYONE" not in text and "a:b" not in text  # bound to this machine, password on
    assert server.stop() == 0


# -- plain http:// on the HTTPS port ------------------------------------------------------


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        received = b""
        while chunk := conn.recv(65536):
            received += chunk
    return received


def test_plain_http_to_the_tls_port_is_redirected_and_logged(
    launch: type[Siteserve], site: Path, tmp_path: Path
) -> None:
    server = launch(str(site), "-p", "0", "--tls", "--no-reload")
    shown = server.wait_for(HTTPS_URL)
    url, port = shown.group(1), int(shown.group(2))
    cert = tmp_path / "cache" / "siteserve" / "cert.pem"
    # What curl http://127.0.0.1:PORT/docs/?q=1 sends: an answer, not an empty reply.
    answer = _raw(port, f"GET /docs/?q=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 307 Temporary Redirect\r\n")
    assert f"\r\nLocation: {url}docs/?q=1\r\n".encode() in head
    assert b"\r\nContent-Type: text/html; charset=utf-8\r\n" in head
    assert b"\r\nX-Content-Type-Options: nosniff\r\n" in head
    assert b"This port speaks HTTPS" in body
    # The redirect never leaves the host asked for: "//evil.example/" keeps one slash.
    evil = _raw(port, f"GET //evil.example/ HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n".encode())
    assert f"\r\nLocation: https://localhost:{port}/evil.example/\r\n".encode() in evil
    # No usable Host (HTTP/1.0 without one, or a forged one): a 400 page instead.
    for request in (b"GET / HTTP/1.0\r\n\r\n", b"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"):
        refused = _raw(port, request)
        assert refused.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"Location" not in refused
    # HTTPS on the same port still works, before and after.
    response = httpx.get(url, verify=_trusting(cert))
    assert response.status_code == 200 and "over https" in response.text
    assert server.stop() == 0
    logged = [line for line in server.stderr if "plain HTTP from 127.0.0.1" in line]
    assert len(logged) == 4, server.stderr  # one line for each
    assert logged[0].endswith(f"sent to {url}docs/?q=1")


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_plain_http_and_https_share_the_port_on_either_loop(
    site: Path, tmp_path: Path, loop_name: str
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    cert_pem, key_pem = make_certificate(["localhost"], [ipaddress.ip_address("127.0.0.1")], now)
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    config = build_config(site, port=0, reload=False)
    loop = asyncio.new_event_loop() if loop_name == "asyncio" else new_event_loop()
    server = Server(config, build_app(config), ssl_context=server_context(cert, key))
    sock = bind_socket("127.0.0.1", 0, strict=True)
    port = int(sock.getsockname()[1])
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start(sock))
        ready.set()
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        with httpx.Client(verify=_trusting(cert)) as client:
            for _ in range(3):  # keep-alive over TLS, as before
                assert client.get(f"https://127.0.0.1:{port}/").status_code == 200
        plain = httpx.get(f"http://127.0.0.1:{port}/x")
        assert plain.status_code == 307
        assert plain.headers["location"] == f"https://127.0.0.1:{port}/x"
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass  # a client that says nothing and leaves costs nothing
        assert httpx.get(f"https://127.0.0.1:{port}/", verify=_trusting(cert)).status_code == 200
    finally:

        async def stop() -> None:
            await server.stop()
            loop.stop()

        asyncio.run_coroutine_threadsafe(stop(), loop)
        thread.join(10)
    assert not thread.is_alive()
