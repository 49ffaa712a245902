"""The Site as the server sees it: ``handle(request)`` over a real temporary tree."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest

from siteserve.config import build_config
from siteserve.http import Headers, Request, Response
from siteserve.site.app import PageHandler, Site
from siteserve.site.errors import builtin_error, error_response
from siteserve.site.resolver import Resolved


def request(method: str, target: str, *headers: tuple[str, str]) -> Request:
    path, _, query = target.partition("?")
    return Request(method, target, path, query, Headers([("host", "test"), *headers]))


def answer(result: Response | Awaitable[Response]) -> Response:
    if isinstance(result, Response):
        return result

    async def wait() -> Response:
        return await result

    return asyncio.run(wait())


def body_text(response: Response) -> str:
    assert isinstance(response.body, bytes)
    return response.body.decode()


class FakePages(PageHandler):
    def __init__(self) -> None:
        self.rendered: list[tuple[str, Resolved]] = []
        self.invalidated: list[Path] = []

    async def render(self, request: Request, resolved: Resolved) -> Response:
        self.rendered.append((request.method, resolved))
        return Response(200, [("Content-Type", "text/html; charset=utf-8")], b"rendered")

    def invalidate(self, paths: list[Path]) -> None:
        self.invalidated.extend(paths)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "docs").mkdir(parents=True)
    (site / "sub").mkdir()
    (site / "index.html").write_text("<h1>home</h1>")
    (site / "about.html").write_text("about")
    (site / "page.html.jinja").write_text("{{ 1 + 1 }}")
    (site / "sub" / "index.html").write_text("sub")
    (site / "docs" / "<b>bold<b>.txt").write_text("x")
    (site / ".env").write_text("SECRET")
    return site


@pytest.fixture
def site(root: Path) -> Iterator[Site]:
    site = Site(build_config(root))
    yield site
    asyncio.run(site.shutdown())


def test_static_file_is_answered_without_a_coroutine(site: Site) -> None:
    result = site.handle(request("GET", "/about"))
    assert isinstance(result, Response)
    assert not inspect.isawaitable(result)
    assert result.status == 200
    assert result.body == b"about"
    assert result.header("Content-Type") == "text/html; charset=utf-8"
    assert result.header("ETag") is not None


def test_head_is_the_same_response_as_get(site: Site) -> None:
    get = answer(site.handle(request("GET", "/")))
    head = answer(site.handle(request("HEAD", "/")))
    assert head.status == get.status == 200
    assert head.headers == get.headers
    assert head.body == get.body  # the writer drops it for HEAD


def test_not_found_is_the_plain_page(site: Site) -> None:
    for target in ("/missing", "/.env", "/%2e%2e/etc/passwd", "/siteserve.toml"):
        response = answer(site.handle(request("GET", target)))
        assert response.status == 404
        assert response.header("Content-Type") == "text/html; charset=utf-8"
        assert response.header("Cache-Control") == "no-cache"
        assert response.header("X-Content-Type-Options") == "nosniff"
        assert "404" in body_text(response) and "Not Found" in body_text(response)


def test_the_sites_404_page(site: Site, root: Path) -> None:
    (root / "404.html").write_text("<p>custom missing page</p>")
    response = answer(site.handle(request("GET", "/missing")))
    assert response.status == 404
    assert response.body == b"<p>custom missing page</p>"
    assert response.header("Content-Type") == "text/html; charset=utf-8"


def test_a_404_page_outside_the_root_is_not_used(tmp_path: Path, root: Path) -> None:
    (tmp_path / "elsewhere.html").write_text("outside")
    (root / "404.html").symlink_to(tmp_path / "elsewhere.html")
    refused = error_response(404, root=root, follow_symlinks=False)
    assert isinstance(refused, Response) and b"outside" not in refused.body  # type: ignore[operator]
    followed = error_response(404, root=root, follow_symlinks=True)
    assert isinstance(followed, Response) and followed.body == b"outside"


def test_folder_redirects_keep_the_query(site: Site) -> None:
    response = answer(site.handle(request("GET", "/sub?a=1&b=%20")))
    assert response.status == 301
    assert response.header("Location") == "/sub/?a=1&b=%20"
    assert answer(site.handle(request("GET", "/sub"))).header("Location") == "/sub/"


def test_directory_listing(site: Site) -> None:
    response = answer(site.handle(request("GET", "/docs/")))
    assert response.status == 200
    html = body_text(response)
    assert "&lt;b&gt;bold&lt;b&gt;.txt" in html
    assert "<b>bold" not in html


def test_options_and_405(site: Site) -> None:
    options = answer(site.handle(request("OPTIONS", "/about")))
    assert options.status == 204
    assert options.header("Allow") == "GET, HEAD, OPTIONS"
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        refused = answer(site.handle(request(method, "/about")))
        assert refused.status == 405
        assert refused.header("Allow") == "GET, HEAD, OPTIONS"
        assert refused.header("Content-Type") == "text/html; charset=utf-8"
    server_wide = answer(site.handle(request("OPTIONS", "*")))
    assert server_wide.status == 204
    # The server as a whole takes what its pages take (the Site always has its pages).
    assert server_wide.header("Allow") == "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"


def test_the_sites_own_pages_render_templates(site: Site) -> None:
    response = answer(site.handle(request("GET", "/page")))
    assert response.status == 200
    assert body_text(response) == "2"


def test_pages_go_to_the_page_handler(root: Path) -> None:
    pages = FakePages()
    site = Site(build_config(root), pages=pages)
    result = site.handle(request("GET", "/page"))
    assert inspect.isawaitable(result)
    assert answer(result).body == b"rendered"
    posted = answer(site.handle(request("POST", "/page")))
    assert posted.body == b"rendered"
    assert [(method, r.path) for method, r in pages.rendered] == [
        ("GET", root / "page.html.jinja"),
        ("POST", root / "page.html.jinja"),
    ]
    options = answer(site.handle(request("OPTIONS", "/page")))
    assert options.header("Allow") == "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"
    assert answer(site.handle(request("OPTIONS", "*"))).header("Allow") == (
        "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"
    )


def test_a_deleted_file_is_resolved_again(site: Site, root: Path) -> None:
    assert answer(site.handle(request("GET", "/about"))).status == 200
    (root / "about.html").unlink()
    assert answer(site.handle(request("GET", "/about"))).status == 404
    (root / "about").mkdir()
    assert answer(site.handle(request("GET", "/about"))).status == 301


def test_a_changed_file_is_served_new(site: Site, root: Path) -> None:
    first = answer(site.handle(request("GET", "/about")))
    (root / "about.html").write_text("about, longer")
    second = answer(site.handle(request("GET", "/about")))
    assert second.body == b"about, longer"
    assert second.header("ETag") != first.header("ETag")


def test_unreadable_file_is_403(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object) -> Response:
        raise PermissionError("denied")

    monkeypatch.setattr(site.static, "respond", refuse)
    response = answer(site.handle(request("GET", "/about")))
    assert response.status == 403


def test_unexpected_errors_are_500_and_logged(
    site: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: object) -> Response:
        raise RuntimeError("boom")

    monkeypatch.setattr(site.static, "respond", explode)
    response = answer(site.handle(request("GET", "/about")))
    assert response.status == 500
    assert "boom" not in body_text(response)
    assert "boom" in caplog.text


def test_invalidate_reaches_every_cache(root: Path) -> None:
    pages = FakePages()
    site = Site(build_config(root), pages=pages)
    answer(site.handle(request("GET", "/about")))
    assert site.resolver._cache and site.static._versions
    site.invalidate([root / "about.html"])
    assert not site.resolver._cache
    assert not site.static._versions
    assert pages.invalidated == [root / "about.html"]


def test_startup_reports_route_conflicts(
    root: Path, site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    (root / "[a].html.jinja").write_text("a")
    (root / "[b].html.jinja").write_text("b")
    site.resolver.invalidate()
    asyncio.run(site.startup())
    asyncio.run(site.shutdown())
    assert "route conflict" in caplog.text


def test_templated_error_pages_through_the_hook(root: Path) -> None:
    class ErrorPages(FakePages):
        def __init__(self) -> None:
            super().__init__()

        def error_template(self, status: int) -> Path | None:
            return root / "404.html.jinja" if status == 404 else None

        async def render_error_page(self, request: Request, status: int) -> Response | None:
            return Response(status, [], f"templated {request.path}".encode())

    pages = ErrorPages()
    site = Site(build_config(root), pages=pages)
    result = site.handle(request("GET", "/missing"))
    assert inspect.isawaitable(result)
    response = answer(result)
    assert (response.status, response.body) == (404, b"templated /missing")
    # Without a template for the status, the answer stays synchronous.
    assert isinstance(site.handle(request("DELETE", "/about")), Response)
    # Pages that abort() get the Site's own error answer.
    assert pages.error_responder == site.error_awaitable
    aborted = asyncio.run(site.error_awaitable(request("GET", "/x"), 403))
    assert aborted.status == 403


def test_builtin_error_escapes_the_message() -> None:
    response = builtin_error(500, message="<script>x()</script>")
    text = body_text(response)
    assert "<script>x()" not in text
    assert "&lt;script&gt;x()&lt;/script&gt;" in text
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert builtin_error(599).status == 599


def test_a_deleted_template_is_resolved_again(root: Path) -> None:
    pages = FakePages()
    site = Site(build_config(root), pages=pages)
    assert answer(site.handle(request("GET", "/page"))).body == b"rendered"
    (root / "page.html.jinja").unlink()
    assert answer(site.handle(request("GET", "/page"))).status == 404
    (root / "page.html.jinja").write_text("back")
    (root / "page.j2").write_text("other")
    assert answer(site.handle(request("GET", "/page"))).body == b"rendered"
    (root / "page.html.jinja").unlink()
    assert answer(site.handle(request("GET", "/page"))).body == b"rendered"
    assert pages.rendered[-1][1].path == root / "page.j2"


def test_a_static_answer_may_come_later(site: Site, root: Path) -> None:
    # A large compressible file asked for gzip is coded off the event loop, once.
    (root / "big.js").write_bytes(b"let answer = 42; // padding padding\n" * 4000)
    result = site.handle(request("GET", "/big.js", ("accept-encoding", "gzip")))
    assert inspect.isawaitable(result)
    response = answer(result)
    assert response.header("Content-Encoding") == "gzip"
    again = site.handle(request("GET", "/big.js", ("accept-encoding", "gzip")))
    assert isinstance(again, Response) and again.body == response.body
