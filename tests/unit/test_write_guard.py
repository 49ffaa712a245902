"""The write guard without sockets: unsafe methods from other origins are refused."""

from __future__ import annotations

import pytest

from siteserve.hosts import AllowedHosts
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.server.request_body import RequestBody
from siteserve.share.write_guard import WriteGuard

OURS = "http://127.0.0.1:8000"
EVIL = "http://evil.example"


class Inner(App):
    def handle(self, request: Request) -> Response:
        return Response(200, [], b"inner")


def request(method: str, path: str = "/inbox/", **fields: str) -> Request:
    items = [("host", "127.0.0.1:8000")]
    items += [(name.replace("_", "-"), value) for name, value in fields.items()]
    return Request(method, path, path, "", Headers(items))


def guard(**options: object) -> WriteGuard:
    return WriteGuard(Inner(), AllowedHosts.for_bind("127.0.0.1"), **options)  # type: ignore[arg-type]


def status(layer: WriteGuard, req: Request) -> int:
    result = layer.handle(req)
    assert isinstance(result, Response)
    return result.status


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"])
@pytest.mark.parametrize(
    "fields",
    [
        {"origin": EVIL},
        {"origin": "http://127.0.0.1:9999"},  # another server on this machine
        {"origin": "null"},
        {"sec_fetch_site": "cross-site"},
        {"sec_fetch_site": "same-site"},
    ],
)
def test_writes_from_other_origins_are_refused(method: str, fields: dict[str, str]) -> None:
    refused = guard().handle(request(method, **fields))
    assert isinstance(refused, Response) and refused.status == 403
    assert refused.header("x-content-type-options") == "nosniff"
    assert refused.header("content-type") == "text/plain; charset=utf-8"
    assert isinstance(refused.body, bytes) and b"cross_origin_writes" in refused.body


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"origin": OURS},
        {"origin": OURS, "sec_fetch_site": "same-origin"},
        {"sec_fetch_site": "none"},
        {"origin": "null", "sec_fetch_site": "same-origin"},  # Referrer-Policy: no-referrer
    ],
)
def test_writes_from_our_pages_and_from_scripts_pass(fields: dict[str, str]) -> None:
    assert status(guard(), request("POST", **fields)) == 200


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_reading_is_not_writing(method: str) -> None:
    # --cors lets other pages read; the same-origin policy keeps the rest from them.
    assert status(guard(), request(method, origin=EVIL, sec_fetch_site="cross-site")) == 200


def test_a_site_opens_its_api_paths_but_never_an_upload_folder() -> None:
    layer = guard(open_paths=("/api/*",), is_upload_folder=lambda path: path == "/api/inbox/")
    assert status(layer, request("POST", "/api/items", origin=EVIL)) == 200
    assert status(layer, request("DELETE", "/api/items/3", origin=EVIL)) == 200
    assert status(layer, request("POST", "/api/inbox/", origin=EVIL)) == 403
    assert status(layer, request("POST", "/apix", origin=EVIL)) == 403
    assert status(layer, request("POST", "/form", origin=EVIL)) == 403


def test_a_refused_upload_closes_instead_of_reading_its_body() -> None:
    upload = request("POST", origin=EVIL)
    upload.body = RequestBody()  # still coming
    refused = guard().handle(upload)
    assert isinstance(refused, Response) and refused.close
    bodiless = guard().handle(request("POST", origin=EVIL))
    assert isinstance(bodiless, Response) and not bodiless.close  # the connection may stay
