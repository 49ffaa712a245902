"""Live reload around a real Site, without sockets: the Site is asked once per request, and
an injected HTML file gets its 304s, codings and caches from the Site's one pipeline."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import brotli
import pytest

from siteserve.config import build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from siteserve.reload.inject import SCRIPT_TAG
from siteserve.share.app import ShareApp
from siteserve.site.app import Site
from tests.unit.test_reload_app import Tab

# Larger than the compression threshold, and than a small file kept in memory.
PAGE = b"<html><head><title>t</title></head><body>" + b"<p>lorem ipsum</p>" * 5000 + b"</body>"
SMALL_PAGE = b"<html><head></head><body>" + b"<p>dolor sit amet</p>" * 100 + b"</body>"


class CountingSite(Site):
    """The real Site, counting how often it is asked."""

    asked = 0

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        self.asked += 1
        return super().handle(request)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(SMALL_PAGE)
    (tmp_path / "big.html").write_bytes(PAGE)
    (tmp_path / "app.css").write_text("p { color: red }")
    return tmp_path


@pytest.fixture
def site(root: Path) -> Iterator[CountingSite]:
    site = CountingSite(build_config(root, reload=True))
    yield site
    asyncio.run(site.shutdown())


@pytest.fixture
def app(site: CountingSite, root: Path) -> ReloadApp:
    # As assemble.build_app wires them: the injector is the Site's HTML transform.
    config = build_config(root, reload=True)
    app = ReloadApp(ShareApp(site, config), config)
    site.static.html_transform = app.injector
    return app


def get(app: ReloadApp, path: str, method: str = "GET", **fields: str) -> Response:
    headers = Headers([("host", "x"), *((k.replace("_", "-"), v) for k, v in fields.items())])
    target, _, query = path.partition("?")
    result = app.handle(Request(method, path, target, query, headers))
    if isinstance(result, Response):
        return result

    async def wait() -> Response:
        return await result

    return asyncio.run(wait())


def body(response: Response) -> bytes:
    assert isinstance(response.body, bytes)
    return response.body


def test_the_site_is_asked_once_per_request(app: ReloadApp, site: CountingSite) -> None:
    tagged = get(app, "/").header("etag")
    assert tagged is not None and tagged.endswith('+reload"')
    requests = [
        {"accept_encoding": "gzip, br", "sec_fetch_dest": "document"},
        {"if_none_match": tagged},
        {"range": "bytes=0-9", "if_range": tagged},
        {"accept_encoding": "br"},
        {},
    ]
    for fields in requests:
        before = site.asked
        get(app, "/big", **fields)
        get(app, "/", **fields)
        get(app, "/app.css", **fields)
        assert site.asked == before + 3, fields
    before = site.asked
    get(app, "/", "HEAD")
    get(app, "/missing")
    get(app, "/index.html?download", range="bytes=0-9")
    assert site.asked == before + 3


@pytest.mark.parametrize(
    ("coding", "decode"), [("gzip", gzip.decompress), ("br", brotli.decompress)]
)
def test_injected_html_is_coded_when_asked_with_a_stable_tag_per_coding(
    app: ReloadApp, coding: str, decode: Callable[[bytes], bytes]
) -> None:
    plain = get(app, "/big")
    assert plain.header("content-encoding") is None and SCRIPT_TAG in body(plain)
    coded = get(app, "/big", accept_encoding=coding)
    assert coded.status == 200
    assert coded.header("content-encoding") == coding
    assert coded.header("vary") == "Accept-Encoding"
    assert decode(body(coded)) == body(plain)
    suffix = "-gz" if coding == "gzip" else "-br"
    assert coded.header("etag") == (plain.header("etag") or "")[:-1] + suffix + '"'
    # The coded page is made once per version: the next answer is the same bytes, at once.
    again = get(app, "/big", accept_encoding=coding)
    assert again.body is coded.body and again.header("etag") == coded.header("etag")
    assert "accept-ranges" not in {name.lower() for name, _ in coded.headers}


def test_a_small_injected_page_is_coded_too(app: ReloadApp) -> None:
    coded = get(app, "/", accept_encoding="gzip", sec_fetch_dest="document")
    assert coded.header("content-encoding") == "gzip"
    assert SCRIPT_TAG in gzip.decompress(body(coded))


def test_an_injected_page_is_revalidated_with_its_own_tags(app: ReloadApp, root: Path) -> None:
    first = get(app, "/big")
    tag = first.header("etag")
    assert tag is not None
    not_modified = get(app, "/big", if_none_match=tag)
    assert not_modified.status == 304 and not_modified.body == b""
    assert not_modified.header("etag") == tag
    assert not_modified.header("vary") == "Accept-Encoding"
    assert not_modified.header("content-type") is None
    # A coded copy in a cache is validated too, and If-Modified-Since works as for any file.
    coded_tag = get(app, "/big", accept_encoding="gzip").header("etag")
    assert coded_tag is not None
    assert get(app, "/big", accept_encoding="gzip", if_none_match=coded_tag).status == 304
    since = first.header("last-modified")
    assert since is not None and get(app, "/big", if_modified_since=since).status == 304
    # The file's own tag names the bytes without the script: another representation.
    own = tag.replace("+reload", "")
    assert get(app, "/big", if_none_match=own).status == 200
    # A changed file is a 200 with a new tag.
    (root / "big.html").write_bytes(PAGE + b"<p>more</p>")
    fresh = get(app, "/big", if_none_match=tag)
    assert fresh.status == 200 and fresh.header("etag") != tag
    assert body(fresh).endswith(b"<p>more</p>")


def test_a_range_of_an_injected_page_is_answered_whole(app: ReloadApp) -> None:
    response = get(app, "/big", range="bytes=0-9")
    assert response.status == 200
    assert SCRIPT_TAG in body(response) and response.header("content-range") is None
    assert response.header("accept-ranges") is None


def test_a_download_is_the_file_as_it_is_with_ranges(app: ReloadApp, root: Path) -> None:
    whole = get(app, "/big.html?download")
    assert whole.body == FileBody(root / "big.html", 0, len(PAGE))
    assert whole.header("content-disposition") == 'attachment; filename="big.html"'
    assert whole.header("accept-ranges") == "bytes"
    assert "+reload" not in (whole.header("etag") or "")
    part = get(app, "/index.html?download", range="bytes=0-5")
    assert part.status == 206 and part.body == SMALL_PAGE[:6]


def test_a_page_revalidated_with_a_304_counts_as_served(
    app: ReloadApp, site: CountingSite, root: Path
) -> None:
    first = get(app, "/")
    (root / "app.js").write_text("console.log(2)")
    # The page's script changed after the page was served: a tab then would reload...
    app.apply(ChangeSet(frozenset({root / "app.js"})))
    # ...and its reload is answered 304: the page it shows now is up to date.
    assert get(app, "/", if_none_match=first.header("etag") or "").status == 304
    tab = Tab(app, "/", ["/app.js"])
    assert tab.heard() == []
