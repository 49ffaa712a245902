"""The cached certificate (reuse and renewal) and the sharing lines of the banner."""

from __future__ import annotations

import datetime
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
import segno
from cryptography import x509

from siteserve.config import build_config
from siteserve.console import Console
from siteserve.share import tls
from siteserve.share.banner import is_exposed, qr_lines, share_notes, share_url

NOW = datetime.datetime(2026, 3, 1, tzinfo=datetime.UTC)


def test_certificate_is_reused_while_it_fits(tmp_path: Path) -> None:
    cert, _, reused = tls.ensure_certificate(tmp_path, ["192.168.1.20"], NOW)
    assert not reused
    first = tls.fingerprint(cert)
    later = NOW + datetime.timedelta(days=300)
    assert tls.ensure_certificate(tmp_path, ["192.168.1.20"], later)[2]
    assert tls.ensure_certificate(tmp_path, [], later)[2]  # fewer names are still covered
    assert tls.fingerprint(cert) == first


def test_a_new_address_or_near_expiry_makes_a_new_one(tmp_path: Path) -> None:
    cert, _, _ = tls.ensure_certificate(tmp_path, ["192.168.1.20"], NOW)
    first = tls.fingerprint(cert)
    assert not tls.ensure_certificate(tmp_path, ["10.0.0.7"], NOW)[2]
    second = tls.fingerprint(cert)
    assert second != first
    names = x509.load_pem_x509_certificate(cert.read_bytes()).extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    )
    assert [str(a) for a in names.value.get_values_for_type(x509.IPAddress)] == [
        "10.0.0.7",
        "127.0.0.1",
        "::1",
    ]
    near_end = NOW + tls.VALIDITY - datetime.timedelta(days=10)
    assert not tls.ensure_certificate(tmp_path, ["10.0.0.7"], near_end)[2]


def test_a_broken_or_mismatched_pair_is_replaced(tmp_path: Path) -> None:
    cert, key, _ = tls.ensure_certificate(tmp_path, [], NOW)
    _, other_key = tls.make_certificate(["localhost"], [], NOW)
    key.write_bytes(other_key)
    assert not tls.ensure_certificate(tmp_path, [], NOW)[2]
    cert.write_text("not a certificate")
    assert not tls.ensure_certificate(tmp_path, [], NOW)[2]
    assert tls.server_context(cert, key) is not None


def test_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert tls.cache_dir() == tmp_path / "siteserve"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tls.cache_dir() == tmp_path / "home" / ".cache" / "siteserve"


# -- banner ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    host: str
    port: int = 8000
    requested_port: int = 8000
    scheme: str = "http"


@pytest.mark.parametrize(
    ("host", "exposed"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("127.0.0.2", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.4", True),
        ("myhost.lan", True),
    ],
)
def test_is_exposed(host: str, exposed: bool) -> None:
    assert is_exposed(host) is exposed


def test_share_url() -> None:
    assert share_url(Address("0.0.0.0"), ["192.168.1.4", "10.0.0.2"]) == "http://192.168.1.4:8000/"
    assert share_url(Address("::", scheme="https"), ["fd00::1"]) == "https://[fd00::1]:8000/"
    assert share_url(Address("0.0.0.0"), []) is None
    assert share_url(Address("127.0.0.1"), ["192.168.1.4"]) is None


def test_qr_code_reads_back_as_the_url() -> None:
    url = "http://192.168.1.4:8000/"
    lines = [line.plain[2:] for line in qr_lines(url)]
    decoded: list[list[bool]] = []
    for line in lines:
        decoded.append([char in "█▀" for char in line])
        decoded.append([char in "█▄" for char in line])
    expected = [[bool(m) for m in row] for row in segno.make(url, error="m").matrix_iter(border=2)]
    assert decoded[: len(expected)] == expected
    assert all(not any(row) for row in decoded[len(expected) :])  # only padding below
    assert qr_lines(url)[0].spans[-1].style == "black on white"


def _notes(tmp_path: Path, host: str, **options: object) -> str:
    config = build_config(tmp_path, **options)
    out = io.StringIO()
    console = Console(out, color=False)
    notes = share_notes(config, Address(host), lan=["192.168.1.4"])
    console.banner(tmp_path, Address(host), lan=["192.168.1.4"], notes=notes)
    return out.getvalue()


def test_warnings_when_exposed_without_a_password(tmp_path: Path) -> None:
    local = _notes(tmp_path, "127.0.0.1")
    assert "Anyone" not in local and "ANYONE" not in local
    shared = _notes(tmp_path, "0.0.0.0")
    assert "Anyone on your network can read these files: no password" in shared
    uploads = _notes(tmp_path, "0.0.0.0", upload=True)
    assert "!! ANYONE on your network can UPLOAD files here: no password." in uploads
    protected = _notes(tmp_path, "0.0.0.0", upload=True, auth=("a:b",))
    assert "ANYONE" not in protected and "Anyone" not in protected
    assert "password required (1 user)" in protected
    assert protected.index("Network") < protected.index("Access") < protected.index("Ctrl-C")


def test_qr_in_the_banner(tmp_path: Path) -> None:
    shared = _notes(tmp_path, "0.0.0.0", qr=True)
    assert "QR       http://192.168.1.4:8000/" in shared and "█" in shared
    assert "no LAN address" in _notes(tmp_path, "127.0.0.1", qr=True)
    assert "█" not in _notes(tmp_path, "0.0.0.0")
