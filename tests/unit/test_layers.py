"""The app layers: a Layer forwards every capability, and the stack from build_app is typed."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterable
from pathlib import Path

from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer, innermost
from siteserve.reload.app import ReloadApp
from siteserve.share.app import ShareApp
from siteserve.share.auth import AuthApp
from siteserve.share.cors import CorsApp
from siteserve.share.host_check import HostCheck
from siteserve.share.uploads import UPLOAD_SLACK
from siteserve.share.write_guard import WriteGuard
from siteserve.site.app import Site


class Recording(App):
    """An app that notes every capability it is asked for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def handle(self, request: Request) -> Response:
        self.calls.append(f"handle {request.path}")
        return Response(200, [], b"inner")

    async def startup(self) -> None:
        self.calls.append("startup")

    async def shutdown(self) -> None:
        self.calls.append("shutdown")

    def body_limit(self, request: Request) -> int | None:
        self.calls.append(f"body_limit {request.path}")
        return 4321

    def invalidate(self, paths: Iterable[Path]) -> None:
        self.calls.append("invalidate " + ",".join(path.name for path in paths))


class Bare(Layer[App]):
    """A layer that overrides nothing."""


def _request(method: str, path: str, *headers: tuple[str, str]) -> Request:
    return Request(method, path, path, "", Headers([("host", "127.0.0.1"), *headers]))


def test_a_layer_that_overrides_nothing_forwards_every_capability() -> None:
    inner = Recording()
    layer = Bare(Bare(inner))
    answer = layer.handle(_request("GET", "/a"))
    assert isinstance(answer, Response) and answer.body == b"inner"
    assert layer.body_limit(_request("POST", "/b")) == 4321
    layer.invalidate([Path("x.html"), Path("y.css")])
    asyncio.run(layer.startup())
    asyncio.run(layer.shutdown())
    assert inner.calls == [
        "handle /a",
        "body_limit /b",
        "invalidate x.html,y.css",
        "startup",
        "shutdown",
    ]
    assert innermost(layer) is inner


def test_the_defaults_of_an_app() -> None:
    class Minimal(App):
        def handle(self, request: Request) -> Response:
            return Response(204)

    app = Minimal()
    assert app.body_limit(_request("POST", "/")) is None  # None: limits.max_body
    app.invalidate([Path("a")])
    asyncio.run(app.startup())
    asyncio.run(app.shutdown())
    assert innermost(app) is app


def _basic(user: str, password: str) -> tuple[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return ("authorization", f"Basic {token}")


def test_the_whole_stack_bounds_an_upload_once_from_the_route(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    (tmp_path / "page.html").write_text("p")
    config = build_config(
        tmp_path, upload=True, max_upload=5000, auth=("ann:s3cret",), cors=True, reload=True
    )
    app = build_app(config)
    # Outermost first: the host check, the origin of writes, CORS, the password check,
    # live reload, sharing, then the Site.
    chain: list[App] = [app]
    while isinstance(chain[-1], Layer):
        chain.append(chain[-1].inner)
    assert [type(layer) for layer in chain] == [
        HostCheck,
        WriteGuard,
        CorsApp,
        AuthApp,
        ReloadApp,
        ShareApp,
        Site,
    ]
    assert innermost(app) is chain[-1]

    login = _basic("ann", "s3cret")
    assert app.body_limit(_request("POST", "/inbox/", login)) == 5000 + UPLOAD_SLACK
    assert app.body_limit(_request("POST", "/", login)) == 5000 + UPLOAD_SLACK  # the root lists
    # Without (valid) credentials, or not an upload: the ordinary max_body.
    assert app.body_limit(_request("POST", "/inbox/")) is None
    assert app.body_limit(_request("POST", "/inbox/", _basic("ann", "wrong"))) is None
    assert app.body_limit(_request("POST", "/page.html", login)) is None
    assert app.body_limit(_request("GET", "/inbox/", login)) is None
