"""Every page of sample_site on a phone and on a laptop: nothing scrolls sideways, nothing
fails to load, the console stays clean. The demo is what a new user sees first."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Response

from tests.conftest import RunningServer

SAMPLE_SITE = Path(__file__).resolve().parents[2] / "sample_site"
VIEWPORTS = [(390, 844), (1280, 800)]
#: Pages that answer 404 on purpose (the demo of the site's own not-found page).
NOT_FOUND_DEMOS = {"/no/such/page", "/blog/no-such-post"}
MAX_PAGES = 60
_HREF = re.compile(r"""href=["']([^"'#]+)""")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    from siteserve.assemble import build_app
    from siteserve.config import build_config
    from tests.conftest import running_server

    # Live reload on, as `siteserve sample_site` runs: its client must not log errors either.
    config = build_config(SAMPLE_SITE, port=0, quiet=True)
    with running_server(build_app(config), config) as running:
        yield running


def site_pages(server: RunningServer) -> list[str]:
    """Every HTML page reachable by links from the home page (no queries, no other hosts)."""
    found: list[str] = []
    todo = ["/"]
    seen = set(todo)
    with httpx.Client(base_url=server.base_url) as client:
        while todo and len(found) < MAX_PAGES:
            path = todo.pop(0)
            response = client.get(path)
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            found.append(path)
            for href in _HREF.findall(response.text):
                target = urlsplit(urljoin(server.base_url + path, href))
                if target.netloc != urlsplit(server.base_url).netloc or target.query:
                    continue
                if target.path not in seen:
                    seen.add(target.path)
                    todo.append(target.path)
    return found


def test_the_crawl_reaches_every_kind_of_page(server: RunningServer) -> None:
    pages = set(site_pages(server))
    expected = {"/", "/about", "/blog/", "/hello", "/downloads/", "/notes/", "/tags/pages"}
    assert expected <= pages
    assert "/notes/markdown-pages" in pages and "/blog/forms-and-sessions" in pages
    assert pages >= NOT_FOUND_DEMOS


@pytest.mark.parametrize(("width", "height"), VIEWPORTS, ids=["phone", "laptop"])
def test_no_page_overflows_or_fails(
    browser: Browser, server: RunningServer, width: int, height: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    problems: list[str] = []
    try:
        page = context.new_page()
        current = {"path": ""}
        watch(page, current, problems)
        for path in site_pages(server):
            current["path"] = path
            response = page.goto(server.url(path), wait_until="load")
            assert response is not None
            wanted = 404 if path in NOT_FOUND_DEMOS else 200
            if response.status != wanted:
                problems.append(f"{path}: answered {response.status}")
            page.wait_for_load_state("networkidle")
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            inner_width = page.evaluate("innerWidth")
            if scroll_width > inner_width:
                wide = page.evaluate(WIDEST)
                problems.append(f"{path}: {scroll_width}px wide in {inner_width}px ({wide})")
    finally:
        context.close()
    assert problems == []


def watch(page: Page, current: dict[str, str], problems: list[str]) -> None:
    def console(message: ConsoleMessage) -> None:
        # Errors, and the reload client's warnings (an undefined name in a template).
        if message.type != "error" and not message.text.startswith("siteserve:"):
            return
        where = urlsplit(message.location.get("url", "")).path
        if (
            current["path"] in NOT_FOUND_DEMOS
            and where == current["path"]
            and "404" in message.text
        ):
            return  # the demo page's own status, logged by Chromium
        problems.append(f"{current['path']}: console {message.type}: {message.text}")

    def failed(request: Request) -> None:
        problems.append(f"{current['path']}: {request.url} failed: {request.failure}")

    def answered(response: Response) -> None:
        main = response.request.is_navigation_request()
        if response.status >= 400 and not (main and current["path"] in NOT_FOUND_DEMOS):
            problems.append(f"{current['path']}: {response.url} answered {response.status}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(f"{current['path']}: {error}"))
    page.on("requestfailed", failed)
    page.on("response", answered)


#: Names the elements that stick out on the right, to say what overflows.
WIDEST = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
  .slice(0, 3)
  .map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""))
  .join(", ")"""
