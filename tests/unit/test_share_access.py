"""Credentials, the Basic check, CORS, sharing config and the per-request body bound."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config, parse_size
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.share.auth import AuthApp, Authenticator, parse_basic
from siteserve.share.cors import CorsApp
from siteserve.share.credentials import (
    CredentialError,
    load_credentials,
    parse_credential,
    read_auth_file,
)

DIGEST = hashlib.sha256(b"s3cret").hexdigest()


def test_plain_and_hashed_credentials_are_the_same() -> None:
    plain = parse_credential("ann:s3cret")
    hashed = parse_credential(f"ann:sha256:{DIGEST.upper()}")
    assert plain == hashed
    assert plain.spec == f"ann:sha256:{DIGEST}"
    assert (
        parse_credential("ann:pa:ss:word").password_digest == hashlib.sha256(b"pa:ss:word").digest()
    )  # only the first colon splits (RFC 7617 section 2)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nobody", "user:password"),
        (":pw", "user name"),
        ("ann:", "empty password"),
        ("ann:sha256:abc", "64 hex digits"),
        ("ann:sha256:" + "g" * 64, "64 hex digits"),
        ("an\x1bn:pw", "control characters"),
        ("ann:p\nw", "control characters"),
    ],
)
def test_bad_credentials(spec: str, message: str) -> None:
    with pytest.raises(CredentialError, match=message) as raised:
        parse_credential(spec)
    secret = spec.partition(":")[2]
    assert not secret or secret not in str(raised.value)  # never echo a password


def test_auth_file(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# comment\n\n  ann:s3cret  \nbob:sha256:" + DIGEST + "\n")
    assert [c.user for c in read_auth_file(users)] == ["ann", "bob"]
    users.write_text("ann:s3cret\nbroken line\n")
    with pytest.raises(CredentialError, match="line 2"):
        read_auth_file(users)
    users.write_text("# nobody\n")
    with pytest.raises(CredentialError, match="no user"):
        read_auth_file(users)
    with pytest.raises(CredentialError, match="given twice"):
        load_credentials(("ann:one", "ann:two"), None)
    assert len(load_credentials(("ann:s3cret", f"ann:sha256:{DIGEST}"), None)) == 1


def _basic(text: bytes) -> str:
    return "Basic " + base64.b64encode(text).decode()


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        (_basic(b"ann:s3cret"), ("ann", "s3cret")),
        ("bAsIc " + base64.b64encode(b"a:b").decode(), ("a", "b")),
        (_basic(b"ann:"), ("ann", "")),
        (_basic("jos\u00e9:p\u00e4ss".encode()), ("jos\u00e9", "p\u00e4ss")),
        (None, None),
        ("Basic", None),
        ("Digest abc", None),
        ("Basic ***", None),
        (_basic(b"no-colon"), None),
        (_basic(b"\xff:\xfe"), None),
    ],
)
def test_parse_basic(header: str | None, parsed: tuple[str, str] | None) -> None:
    assert parse_basic(header) == parsed


def test_authenticator_checks_every_user() -> None:
    check = Authenticator(load_credentials(("ann:s3cret", "bob:other"), None))
    assert check.allows(_basic(b"ann:s3cret")) and check.allows(_basic(b"bob:other"))
    assert not check.allows(_basic(b"ann:other"))  # a password of another user
    assert not check.allows(_basic(b"bob:s3cret"))
    assert not check.allows(None)
    with pytest.raises(ValueError):
        Authenticator(())


class _Inner(App):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, request: Request) -> Response:
        self.seen.append(request.path)
        return Response(200, [("Content-Type", "text/plain")], b"inner")

    def body_limit(self, request: Request) -> int | None:
        return 123


def _request(path: str, **headers: str) -> Request:
    return Request("GET", path, path, "", Headers(headers.items()))


def _post_head(**headers: str) -> Request:
    """A POST as the app sees it when its head is complete (body_limit is asked then)."""
    return Request("POST", "/", "/", "", Headers(headers.items()))


def test_auth_app_gates_requests_and_body_bounds() -> None:
    inner = _Inner()
    app = AuthApp(inner, load_credentials(("ann:s3cret",), None))
    refused = app.handle(_request("/x"))
    assert isinstance(refused, Response) and refused.status == 401 and inner.seen == []
    allowed = app.handle(_request("/x", authorization=_basic(b"ann:s3cret")))
    assert isinstance(allowed, Response) and allowed.body == b"inner"
    health = app.handle(_request("/__siteserve/health"))
    assert isinstance(health, Response) and health.status == 200
    assert app.body_limit(_post_head()) is None  # a stranger keeps the ordinary bound
    assert app.body_limit(_post_head(authorization=_basic(b"ann:s3cret"))) == 123


def test_cors_app_does_not_touch_shared_header_lists() -> None:
    shared = [("Content-Type", "text/plain")]

    class Cached(_Inner):
        def handle(self, request: Request) -> Response:
            return Response(200, shared, b"x")

    app = CorsApp(Cached())
    for _ in range(2):
        answer = app.handle(_request("/", origin="https://a.example"))
        assert isinstance(answer, Response)
        assert answer.header("Access-Control-Allow-Origin") == "*"
    assert shared == [("Content-Type", "text/plain")]
    assert app.body_limit(_post_head()) == 123


# -- config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1048576", 1048576),
        ("512k", 512 * 1024),
        ("10M", 10 * 1024**2),
        ("1.5G", 1536 * 1024**2),
        ("2GiB", 2 * 1024**3),
        ("3 gb", 3 * 1024**3),
        ("1T", 1024**4),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "lots", "-1M", "0", "1X", "1.2.3M"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_size(text)


def test_share_sets_host_and_cache_unless_given(tmp_path: Path) -> None:
    shared = build_config(tmp_path, share=True)
    assert (shared.host, shared.cache_seconds) == ("0.0.0.0", 3600)
    own = build_config(tmp_path, share=True, host="127.0.0.1", cache_seconds=0)
    assert (own.host, own.cache_seconds) == ("127.0.0.1", 0)
    plain = build_config(tmp_path)
    assert (plain.host, plain.cache_seconds, plain.max_upload) == ("127.0.0.1", None, 1024**3)


def test_config_keeps_no_plain_password(tmp_path: Path) -> None:
    config = build_config(tmp_path, auth=("ann:s3cret",))
    assert config.auth == (f"ann:sha256:{DIGEST}",)
    assert "s3cret" not in repr(config)


def test_sharing_keys_in_siteserve_toml(tmp_path: Path) -> None:
    (tmp_path / "_users.txt").write_text("ann:s3cret\n")
    (tmp_path / "siteserve.toml").write_text(
        '[server]\nupload = true\nmax-upload = "20M"\nauth-file = "_users.txt"\ncors = true\n'
    )
    config = build_config(tmp_path)
    assert config.upload and config.cors and config.max_upload == 20 * 1024**2
    assert config.auth_file == tmp_path / "_users.txt"  # relative to the site folder
    assert config.auth == (f"ann:sha256:{DIGEST}",)


def test_certificate_options(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    config = build_config(site, cert=tmp_path / "c.pem", key=tmp_path / "k.pem")
    assert config.tls  # one's own certificate means HTTPS
    with pytest.raises(ConfigError, match="go together"):
        build_config(site, key=tmp_path / "k.pem")
    with pytest.raises(ConfigError, match="not found"):
        build_config(site, cert=tmp_path / "c.pem", key=tmp_path / "none.pem")
