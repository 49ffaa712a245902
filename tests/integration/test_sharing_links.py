"""Share links, read-only users and bad input on a real server, with real clients."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer
from siteserve.reload.app import ReloadApp
from siteserve.share.auth import access_layer
from siteserve.share.links import ShareLink
from siteserve.share.uploads import READ_ONLY_MESSAGE
from tests.conftest import RunningServer, find_layer, running_server
from tests.integration.wire import Wire

Serve = Callable[..., RunningServer]
JSON = {"Accept": "application/json"}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "site"
    (folder / "files").mkdir(parents=True)
    (folder / "files" / "a.txt").write_text("shared file")
    (folder / "files" / "b.txt").write_text("another")
    (folder / "api.json.jinja").write_text("{{ request.json | length }}")
    (folder / "_layouts").mkdir()
    (folder / "_layouts" / "base.html").write_text("<p>\nLAYOUT SOURCE\n{% block b %}{% endblock")
    (folder / "broken.html.jinja").write_text('{% extends "_layouts/base.html" %}')
    return folder


def link_of(server: RunningServer) -> ShareLink:
    layer = access_layer(server.app)
    assert layer is not None and layer.link is not None
    return layer.link


@contextmanager
def visitor(server: RunningServer, link: ShareLink) -> Iterator[httpx.Client]:
    """A client that opened the link once, as a phone does after scanning the code."""
    with httpx.Client(base_url=server.base_url, follow_redirects=True) as client:
        landed = client.get(f"/?token={link.token}")
        assert landed.status_code == 200 and landed.url.query == b""
        yield client


def upgrade(server: RunningServer, cookie: str | None) -> int:
    port = server.port
    token = find_layer(server.app, ReloadApp).token  # what the page's script carries
    wire = Wire(port)
    lines = [
        f"GET /__siteserve/ws?socket_token={token} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if cookie is not None:
        lines.append(f"Cookie: {cookie}")
    wire.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, _, _ = wire.read_response(head_only=True)
    wire.close()
    return status


def test_token_then_cookie_then_the_clean_url(serve_site: Serve, root: Path) -> None:
    server = serve_site(root, reload=True, share_link="rw")
    link = link_of(server)
    first = httpx.get(server.url(f"/files/?sort=size&token={link.token}"))
    assert first.status_code == 303
    assert first.headers["location"] == "/files/?sort=size"  # the token is gone
    assert "HttpOnly" in first.headers["set-cookie"]
    with httpx.Client(base_url=server.base_url, follow_redirects=True) as phone:
        landed = phone.get(f"/files/?sort=size&token={link.token}")
        assert landed.status_code == 200 and "a.txt" in landed.text
        assert str(landed.url) == server.url("/files/?sort=size")
        assert [r.status_code for r in landed.history] == [303]
        assert phone.get("/files/a.txt").text == "shared file"
        cookie = f"{link.cookie_name}={phone.cookies[link.cookie_name]}"
    # Without the token or the cookie: the page that says to scan the code.
    refused = httpx.get(server.url("/files/a.txt"))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "text/html; charset=utf-8"
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert refused.headers["cache-control"] == "no-store"
    assert "Scan its QR code" in refused.text and "shared file" not in refused.text
    assert httpx.get(server.url("/?token=not-the-token")).status_code == 401
    assert httpx.get(server.url("/__siteserve/health")).status_code == 200
    # The reload socket needs the cookie too (the browser sends it with the handshake).
    assert upgrade(server, None) == 401
    assert upgrade(server, f"{link.cookie_name}=forged") == 401
    assert upgrade(server, cookie) == 101


def test_a_read_only_link_browses_and_downloads_but_never_writes(
    serve_site: Serve, root: Path
) -> None:
    server = serve_site(root, upload=True, share_link="ro")
    with visitor(server, link_of(server)) as phone:
        listing = phone.get("/files/")
        assert listing.status_code == 200 and "a.txt" in listing.text
        assert 'id="upload"' not in listing.text and 'name="mkdir"' not in listing.text
        assert phone.get("/files/?format=json").json()["upload"] is False
        assert (
            phone.get("/files/a.txt?download")
            .headers["content-disposition"]
            .startswith("attachment")
        )
        assert phone.get("/files/?download=zip").headers["content-type"] == "application/zip"
        refused = phone.post("/files/", files={"file": ("new.txt", b"x")})
        assert refused.status_code == 403 and READ_ONLY_MESSAGE in refused.text
        as_json = phone.post("/files/", data={"mkdir": "new"}, headers=JSON)
        assert as_json.status_code == 403 and as_json.json() == {"error": READ_ONLY_MESSAGE}
    assert sorted(p.name for p in (root / "files").iterdir()) == ["a.txt", "b.txt"]
    # A read-write link on the same folder may upload, and sees the form.
    writer = serve_site(root, upload=True, share_link="rw")
    with visitor(writer, link_of(writer)) as laptop:
        assert 'id="upload"' in laptop.get("/files/").text
        made = laptop.post("/files/", files={"file": ("new.txt", b"x")}, headers=JSON)
        assert made.status_code == 201
    assert (root / "files" / "new.txt").read_bytes() == b"x"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_read_only_users_are_refused_uploads_even_large_ones(serve_site: Serve, root: Path) -> None:
    server = serve_site(
        root, upload=True, auth=("ann:one", "bob:two:ro"), limits={"max_body": 64 * 1024}
    )
    big = {"file": ("big.bin", b"x" * 200_000)}
    bob = basic("bob", "two")
    assert 'id="upload"' not in httpx.get(server.url("/files/"), headers=bob).text
    assert httpx.get(server.url("/files/a.txt"), headers=bob).text == "shared file"
    # A known user: refused for what it is (403), not for its size (413).
    refused = httpx.post(server.url("/files/"), files=big, headers=bob)
    assert refused.status_code == 403 and READ_ONLY_MESSAGE in refused.text
    assert httpx.post(server.url("/files/"), data={"mkdir": "x"}, headers=bob).status_code == 403
    ann = basic("ann", "one")
    assert 'id="upload"' in httpx.get(server.url("/files/"), headers=ann).text
    assert httpx.post(server.url("/files/"), files=big, headers=ann).status_code == 303
    assert (root / "files" / "big.bin").stat().st_size == 200_000
    assert not (root / "files" / "x").exists()


def test_an_upload_of_too_many_parts_is_413_and_leaves_nothing(
    serve_site: Serve, root: Path
) -> None:
    server = serve_site(root, upload=True, limits={"max_multipart_parts": 3})
    files = [("file", (f"n{number}.txt", b"x")) for number in range(4)]
    response = httpx.post(server.url("/files/"), files=files, headers=JSON)
    assert response.status_code == 413
    assert "more than 3 files and fields" in response.json()["error"]
    assert sorted(p.name for p in (root / "files").iterdir()) == ["a.txt", "b.txt"]
    fine = httpx.post(server.url("/files/"), files=files[:3], headers=JSON)
    assert fine.status_code == 201 and len(fine.json()["created"]) == 3


def test_nested_json_is_400_not_500(serve_site: Serve, root: Path) -> None:
    server = serve_site(root)
    nested = b"[" * 2000 + b"]" * 2000
    headers = {"Content-Type": "application/json"}
    response = httpx.post(server.url("/api.json"), content=nested, headers=headers)
    assert response.status_code == 400
    ok = httpx.post(server.url("/api.json"), content=b'{"a": 1, "b": 2}', headers=headers)
    assert (ok.status_code, ok.text) == (200, "2")


class FromTheLan(Layer[App]):
    """Every request as if it came from another machine of the network."""

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        request.client = ("192.0.2.50", 40000)
        return self.inner.handle(request)


def test_the_template_error_page_is_for_this_machine_only(serve_site: Serve, root: Path) -> None:
    here = serve_site(root)
    detailed = httpx.get(here.url("/broken"))
    assert detailed.status_code == 500
    assert "LAYOUT SOURCE" in detailed.text and "_layouts/base.html, line 3" in detailed.text
    assert str(root) not in detailed.text
    config = build_config(root, port=0, reload=False)
    with running_server(FromTheLan(build_app(config)), config) as lan:
        plain = httpx.get(lan.url("/broken"))
    assert plain.status_code == 500
    assert "LAYOUT SOURCE" not in plain.text and "_layouts" not in plain.text
    assert "Something went wrong on the server" in plain.text
    assert plain.headers["content-type"] == "text/html; charset=utf-8"
