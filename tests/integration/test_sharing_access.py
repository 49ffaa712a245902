"""Passwords, CORS and the health path on a real server."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from siteserve.reload.app import ReloadApp
from tests.conftest import RunningServer, find_layer
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
USER, PASSWORD = "alice", "correct horse"
GOOD = (USER, PASSWORD)
CHALLENGE = 'Basic realm="siteserve", charset="UTF-8"'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "a.txt").write_text("secret file")
    (folder / "index.html").write_text("<!doctype html><title>home</title><p>home</p>")
    (folder / "page.html.jinja").write_text("page for {{ request.method }}")
    return folder


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _upgrade(server: RunningServer, authorization: str | None) -> int:
    wire = Wire(server.port)
    token = find_layer(server.app, ReloadApp).token
    lines = [
        f"GET /__siteserve/ws?socket_token={token} HTTP/1.1",
        "Host: localhost",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    wire.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, _, _ = wire.read_response(head_only=True)
    wire.close()
    return status


PATHS = ["/", "/index.html", "/files/", "/files/a.txt", "/page", "/__siteserve/reload.js"]


def test_every_path_needs_the_password(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, reload=True, auth=(f"{USER}:{PASSWORD}",))
    for path in [*PATHS, "/files/?download=zip", "/files/a.txt?download", "/nothing"]:
        refused = httpx.get(server.url(path))
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"] == CHALLENGE
        assert "secret" not in refused.text
        allowed = httpx.get(server.url(path), auth=GOOD)
        assert allowed.status_code == (404 if path == "/nothing" else 200), path
    assert httpx.head(server.url("/files/a.txt")).status_code == 401
    assert httpx.post(server.url("/page"), data={"x": "1"}).status_code == 401
    assert httpx.post(server.url("/page"), data={"x": "1"}, auth=GOOD).text.endswith(
        "page for POST"
    )
    # The live-reload WebSocket too: no socket, no news about the site, without the password.
    assert _upgrade(server, None) == 401
    assert _upgrade(server, basic("mallory", PASSWORD)) == 401
    assert _upgrade(server, basic(*GOOD)) == 101


def test_every_wrong_answer_is_the_same_answer(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, auth=(f"{USER}:{PASSWORD}",))
    wrong = [
        None,  # no header
        basic("mallory", PASSWORD),  # bad user
        basic(USER, "wrong"),  # bad password
        basic(USER.upper(), PASSWORD),  # user names are compared exactly
        basic(USER, PASSWORD + " "),
        "Basic !!!not-base64!!!",  # malformed
        "Basic " + base64.b64encode(b"no colon").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
        "Bearer " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
        "Basic",
        "",
    ]
    answers = set()
    for header in wrong:
        headers = {} if header is None else {"Authorization": header}
        response = httpx.get(server.url("/files/a.txt"), headers=headers)
        kept = tuple((k, v) for k, v in response.headers.items() if k != "date")
        answers.add((response.status_code, kept, response.content))
    assert len(answers) == 1
    status, headers, body = answers.pop()
    assert body.startswith(b"401 Unauthorized")
    assert status == 401 and ("www-authenticate", CHALLENGE) in headers
    assert ("cache-control", "no-store") in headers
    # The scheme name is case-insensitive (RFC 9110 section 11.1).
    lower = "basic " + basic(*GOOD).split(" ", 1)[1]
    assert httpx.get(server.url("/files/a.txt"), headers={"Authorization": lower}).text == (
        "secret file"
    )


def test_hashed_passwords_and_auth_files(serve_site: Serve, root: Path, tmp_path: Path) -> None:
    digest = hashlib.sha256(PASSWORD.encode()).hexdigest()
    server = serve_site(root, auth=(f"{USER}:sha256:{digest}",))
    assert httpx.get(server.url("/files/a.txt"), auth=GOOD).status_code == 200
    assert httpx.get(server.url("/files/a.txt"), auth=(USER, digest)).status_code == 401
    users = tmp_path / "users.txt"
    users.write_text(f"# who may come in\n\nbob:builder\n{USER}:sha256:{digest.upper()}\n")
    server = serve_site(root, auth_file=users)
    assert httpx.get(server.url("/files/a.txt"), auth=("bob", "builder")).status_code == 200
    assert httpx.get(server.url("/files/a.txt"), auth=GOOD).status_code == 200
    assert httpx.get(server.url("/files/a.txt"), auth=("bob", PASSWORD)).status_code == 401
    assert httpx.get(server.url("/files/a.txt"), auth=("碁", "x")).status_code == 401
    unicode_user = serve_site(root, auth=("josé:pässwörd",))
    assert httpx.get(unicode_user.url("/"), auth=("josé", "pässwörd")).status_code == 200


def test_health_answers_without_a_password(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, reload=True, auth=(f"{USER}:{PASSWORD}",))
    health = httpx.get(server.url("/__siteserve/health"))
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert health.headers["cache-control"] == "no-store"
    assert httpx.head(server.url("/__siteserve/health")).status_code == 200
    refused = httpx.post(server.url("/__siteserve/health"))
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
    # Only that path: its neighbours are behind the password.
    assert httpx.get(server.url("/__siteserve/health/")).status_code == 401
    assert httpx.get(server.url("/__siteserve/healthz")).status_code == 401


def test_health_without_any_sharing_option(serve_site: Serve, root: Path) -> None:
    server = serve_site(root)
    assert httpx.get(server.url("/__siteserve/health")).json() == {"status": "ok"}


def test_uploads_need_the_password_and_big_bodies_wait_for_it(
    serve_site: Serve, root: Path
) -> None:
    server = serve_site(
        root, upload=True, auth=(f"{USER}:{PASSWORD}",), limits={"max_body": 64 * 1024}
    )
    files = {"file": ("up.txt", b"x" * 200_000)}
    # Without credentials an upload keeps the ordinary body bound: it is refused before
    # a byte of it is read (a stranger cannot make the server take in a gigabyte).
    assert httpx.post(server.url("/files/"), files=files).status_code == 413
    small = httpx.post(server.url("/files/"), files={"file": ("up.txt", b"x")})
    assert small.status_code == 401
    assert httpx.post(server.url("/files/"), files=files, auth=GOOD).status_code == 303
    assert (root / "files" / "up.txt").stat().st_size == 200_000


# -- CORS --------------------------------------------------------------------------------

ORIGIN = "https://example.org"


def test_cors_headers_and_preflight(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, cors=True)
    plain = httpx.get(server.url("/files/a.txt"))
    assert "access-control-allow-origin" not in plain.headers  # not a CORS request
    cross = httpx.get(server.url("/files/a.txt"), headers={"Origin": ORIGIN})
    assert cross.headers["access-control-allow-origin"] == "*"
    assert "Content-Disposition" in cross.headers["access-control-expose-headers"]
    page = httpx.get(server.url("/page"), headers={"Origin": ORIGIN})  # an awaited answer
    assert page.headers["access-control-allow-origin"] == "*" and page.text == "page for GET"
    preflight = httpx.request(
        "OPTIONS",
        server.url("/files/a.txt"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-custom",
            "Access-Control-Request-Private-Network": "true",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "authorization, x-custom"
    assert preflight.headers["access-control-allow-private-network"] == "true"
    assert preflight.headers["access-control-max-age"] == "600"
    hostile = httpx.request(
        "OPTIONS",
        server.url("/"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-ok, <script>",
        },
    )
    assert "access-control-allow-headers" not in hostile.headers
    # An OPTIONS that is not a preflight is the site's own answer.
    assert httpx.request("OPTIONS", server.url("/files/a.txt")).headers["allow"] == (
        "GET, HEAD, OPTIONS"
    )


def test_cors_preflights_pass_the_password_check(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, cors=True, auth=(f"{USER}:{PASSWORD}",))
    # Browsers never send credentials with a preflight: it must not be refused.
    preflight = httpx.request(
        "OPTIONS",
        server.url("/files/a.txt"),
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 204
    refused = httpx.get(server.url("/files/a.txt"), headers={"Origin": ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"  # the script sees the 401
    allowed = httpx.get(server.url("/files/a.txt"), headers={"Origin": ORIGIN}, auth=GOOD)
    assert allowed.text == "secret file"
    # Never with credentials: a wildcard origin does not let a browser attach a login.
    assert "access-control-allow-credentials" not in allowed.headers


def test_no_cors_without_the_option(serve_site: Serve, root: Path) -> None:
    server = serve_site(root)
    response = httpx.get(server.url("/files/a.txt"), headers={"Origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers
