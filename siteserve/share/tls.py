"""``--tls``: HTTPS with a self-signed certificate made at start, or ``--cert/--key``.

The certificate covers localhost, 127.0.0.1, ::1 and this machine's LAN
addresses. It is kept in the user's cache folder and reused while it covers
the same names and is not close to expiry, so a phone that was told to trust
it once keeps trusting it; a new LAN address makes a new one. The banner shows
its SHA-256 fingerprint, which is what a person compares on the phone's
"this certificate is not trusted" screen.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
import socket
import ssl
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from siteserve.config import Config, ConfigError
from siteserve.net import lan_addresses

CERT_NAME = "cert.pem"
KEY_NAME = "key.pem"
#: How long a new certificate is valid (the longest browsers accept for server certificates).
VALIDITY = datetime.timedelta(days=397)
#: A certificate closer than this to its end is replaced.
RENEW_BEFORE = datetime.timedelta(days=30)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class TlsSetup:
    context: ssl.SSLContext
    cert: Path
    #: SHA-256 of the certificate, as ``AB:CD:...``.
    fingerprint: str
    #: Whether the certificate was made by us (and not given with --cert).
    self_signed: bool
    #: Whether a self-signed certificate from an earlier run was reused.
    reused: bool = False


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/siteserve``, else the platform's cache folder."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "siteserve"
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "siteserve" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "siteserve"
    return Path.home() / ".cache" / "siteserve"


def wanted_names(lan: Iterable[str]) -> tuple[frozenset[str], frozenset[IPAddress]]:
    """DNS names and addresses the certificate must cover."""
    addresses: set[IPAddress] = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    for text in lan:
        try:
            addresses.add(ipaddress.ip_address(text))
        except ValueError:
            continue
    return frozenset({"localhost"}), frozenset(addresses)


def _covered(cert: x509.Certificate) -> tuple[set[str], set[IPAddress]]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    addresses = {
        item
        for item in names.get_values_for_type(x509.IPAddress)
        if isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address)
    }
    return set(names.get_values_for_type(x509.DNSName)), addresses


def _reusable(
    cert_path: Path,
    key_path: Path,
    dns: frozenset[str],
    ips: frozenset[IPAddress],
    now: datetime.datetime,
) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return False
    if now + RENEW_BEFORE >= cert.not_valid_after_utc or now < cert.not_valid_before_utc:
        return False
    covered_dns, covered_ips = _covered(cert)
    if not (dns <= covered_dns and ips <= covered_ips):
        return False
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(encoding, public)
        == key.public_key().public_bytes(encoding, public)
    )


def make_certificate(
    dns: Iterable[str], ips: Iterable[IPAddress], now: datetime.datetime
) -> tuple[bytes, bytes]:
    """A new self-signed certificate and its key, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "siteserve on " + socket.gethostname()[:40]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "siteserve (self-signed)"),
        ]
    )
    alternatives: list[x509.GeneralName] = [x509.DNSName(item) for item in sorted(dns)]
    alternatives += [x509.IPAddress(item) for item in sorted(ips, key=str)]
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big") >> 1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _write_private(path: Path, data: bytes, mode: int) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed), with ``mode``."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def ensure_certificate(
    directory: Path, lan: Iterable[str], now: datetime.datetime | None = None
) -> tuple[Path, Path, bool]:
    """(cert, key, reused): the cached certificate when it still fits, else a new one."""
    now = now or datetime.datetime.now(datetime.UTC)
    dns, ips = wanted_names(lan)
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    if _reusable(cert_path, key_path, dns, ips, now):
        return cert_path, key_path, True
    cert_pem, key_pem = make_certificate(dns, ips, now)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    _write_private(key_path, key_pem, 0o600)
    _write_private(cert_path, cert_pem, 0o644)
    return cert_path, key_path, False


def fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as error:
        raise ConfigError(f"cannot use certificate {cert} with key {key}: {error}") from None
    return context


def setup_tls(config: Config, lan: Iterable[str] | None = None) -> TlsSetup | None:
    """The TLS context for ``config``; None when it serves plain HTTP."""
    if not config.tls:
        return None
    if config.cert is not None and config.key is not None:
        try:
            printed = fingerprint(config.cert)
        except (OSError, ValueError) as error:
            raise ConfigError(f"cannot read certificate {config.cert}: {error}") from None
        return TlsSetup(server_context(config.cert, config.key), config.cert, printed, False)
    if lan is None:
        lan = lan_addresses(ipv6=True)
    try:
        cert, key, reused = ensure_certificate(cache_dir(), lan)
    except OSError as error:
        raise ConfigError(f"cannot keep a certificate in {cache_dir()}: {error}") from None
    return TlsSetup(server_context(cert, key), cert, fingerprint(cert), True, reused)
