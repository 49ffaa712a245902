"""A build served by real static hosts answers what the live server answers, byte for byte.

The live server runs in-process on port 0 with live reload off (so no script is
injected) and with the build's clock, and is asked with ``Host: localhost`` (the
host a build renders for). nginx runs from its Debian package with its own
configuration (``try_files $uri $uri.html $uri/ =404``, what a typical host does),
``python -m http.server`` as it comes. Every URL of the built site that the live
server answers with 200 must come from the host with 200 and the same bytes.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from siteserve.build.render import PinnedClock
from siteserve.site import page_context
from tests.conftest import RunningServer
from tests.integration.build_sites import (
    CLOCK,
    SAMPLE_SITE,
    build,
    candidate_urls,
    make_generated_site,
)
from tests.integration.static_hosts import running_http_server, running_nginx

LIVE_HOST = {"host": "localhost"}


@pytest.fixture
def live(
    serve_site: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> Callable[[Path], RunningServer]:
    """The live server for a site, seeing the build's instant in ``now()``."""

    def start(root: Path) -> RunningServer:
        monkeypatch.setattr(page_context, "now", PinnedClock(CLOCK))
        return serve_site(root)

    return start


def compare(live_base: str, host_base: str, urls: list[str]) -> list[str]:
    """Ask both for each URL; answer the URLs the live server had a 200 for."""
    compared = []
    with httpx.Client(timeout=10) as client:
        for url in urls:
            live = client.get(live_base + url, headers=LIVE_HOST)
            if live.status_code != 200:
                continue
            hosted = client.get(host_base + url, follow_redirects=True)
            assert hosted.status_code == 200, f"{url}: the host answers {hosted.status_code}"
            assert hosted.content == live.content, f"{url}: the host's bytes differ"
            compared.append(url)
    return compared


def test_sample_site_on_nginx_answers_as_live(
    tmp_path: Path, live: Callable[[Path], RunningServer]
) -> None:
    out = tmp_path / "out"
    report = build(SAMPLE_SITE, out)
    assert report.errors == []
    # 404.html.jinja is the page hosts show for a missing URL: /404.html is that page now.
    assert report.differs == ["/404.html", "/404"]
    server = live(SAMPLE_SITE)
    urls = [url for url in candidate_urls(out) if url not in report.differs]
    with running_nginx(out, tmp_path / "nginx") as nginx:
        compared = compare(server.base_url, nginx, urls)
        missing = httpx.get(nginx + "/no/such/page")
    for url in (
        "/",
        "/about",
        "/about.html",
        "/blog/",
        "/blog/pages-from-a-folder",
        "/blog/pages-from-a-folder.html",
        "/feed.xml",
        "/hello",
        "/downloads/",
        "/downloads/more/",
        "/assets/style.css",
        "/assets/app.mjs",
        "/index.html",
    ):
        assert url in compared
    assert missing.status_code == 404 and missing.content == (out / "404.html").read_bytes()


def test_generated_site_on_nginx_answers_as_live(
    tmp_path: Path, live: Callable[[Path], RunningServer]
) -> None:
    site = make_generated_site(tmp_path / "site")
    out = tmp_path / "out"
    report = build(site, out)
    assert report.errors == []
    server = live(site)
    with running_nginx(out, tmp_path / "nginx") as nginx:
        compared = compare(server.base_url, nginx, candidate_urls(out))
        redirect_page = httpx.get(nginx + "/old")
    for url in (
        "/",
        "/about",
        "/about.html",
        "/blog/",
        "/blog/first",
        "/blog/first.html",
        "/blog/caf%C3%A9",
        "/docs/guide/intro",
        "/docs/guide/setup",
        "/docs/hidden/page",
        "/search",
        "/files/readme.txt",
        "/assets/bg.png",
        "/assets/site.3f9a2c1b.css",
        "/notes.txt",
    ):
        assert url in compared
    assert "/lonely/1" not in compared and "/_drafts/secret.html" not in compared
    assert not (out / ".env").exists() and not (out / "_drafts").exists()
    # The redirect is a rule for the hosts that read one, and a page for the others.
    assert redirect_page.status_code == 200
    assert b'content="0; url=/about"' in redirect_page.content


def test_the_folder_layout_on_nginx_and_python_http_server(
    tmp_path: Path, live: Callable[[Path], RunningServer]
) -> None:
    site = make_generated_site(tmp_path / "site")
    out = tmp_path / "out"
    report = build(site, out, layout="folder")
    assert report.errors == []
    assert (out / "about" / "index.html").is_file() and not (out / "about.html").exists()
    server = live(site)
    # Clean URLs (/about) and folders (/blog/): every host. The .html spelling is gone.
    urls = [url for url in candidate_urls(out) if not url.endswith(".html")]
    with running_nginx(out, tmp_path / "nginx") as nginx:
        on_nginx = compare(server.base_url, nginx, urls)
        assert httpx.get(nginx + "/about.html").status_code == 404
    with running_http_server(out, tmp_path / "http-server") as http_server:
        on_http_server = compare(server.base_url, http_server, urls)
        assert httpx.get(http_server + "/about.html").status_code == 404
    for compared in (on_nginx, on_http_server):
        for url in ("/about", "/blog/", "/blog/first", "/docs/guide/intro", "/search"):
            assert url in compared


def test_precompressed_siblings_are_the_files_bytes_and_nginx_sends_them(
    tmp_path: Path, live: Callable[[Path], RunningServer]
) -> None:
    site = make_generated_site(tmp_path / "site")
    out = tmp_path / "out"
    build(site, out, precompress=True)
    css = out / "assets" / "site.3f9a2c1b.css"
    assert gzip.decompress((out / "assets" / "site.3f9a2c1b.css.gz").read_bytes()) == (
        css.read_bytes()
    )
    assert (out / "assets" / "site.3f9a2c1b.css.br").is_file()
    assert not (out / "notes.txt.gz").exists()  # below the size worth compressing
    assert not (out / "assets" / "bg.png.gz").exists()  # not a text type
    extra = "        gzip_static on;"
    with running_nginx(out, tmp_path / "nginx", extra=extra) as nginx:
        answer = httpx.get(nginx + "/assets/site.3f9a2c1b.css", headers={"accept-encoding": "gzip"})
    assert answer.headers["content-encoding"] == "gzip"
    assert answer.content == css.read_bytes()  # httpx decoded the sibling
