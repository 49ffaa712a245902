"""``--tls`` and ``--cert/--key`` as a user runs them, checked by a client that verifies."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from siteserve.share.tls import make_certificate
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
    with pytest.raises(httpx.HTTPError):
        httpx.get(url.replace("https:", "http:"))  # and the port speaks only TLS
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
