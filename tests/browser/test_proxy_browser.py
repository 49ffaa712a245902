"""Proxy mode in a real Chromium: a backend's pages behind the site, with live reload.

``--proxy /=BACKEND``: the site's files first, the backend's HTML pages get the
reload script, a saved file in the folder reloads the tab, and a tab that saw
the backend down (502) loads the page by itself once the backend is back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.browser.test_reload import DEADLINE_MS, Live, loads, write
from tests.conftest import RunningServer
from tests.integration.test_proxy_http import Backend


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context()
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    started = Backend()
    yield started
    started.stop()


def _live(tmp_path: Path, serve_site: Callable[..., RunningServer], url: str) -> tuple[Live, Path]:
    root = tmp_path / "site"
    root.mkdir()
    write(root / "style.css", "h1 { color: rgb(255, 0, 0); }\n")
    write(root / "siteserve.toml", f'[proxy]\n"/" = "{url}"\n')
    return Live(serve_site(root, reload=True, quiet=True)), root


def test_a_backend_page_reloads_when_a_site_file_changes(
    context: BrowserContext,
    backend: Backend,
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
) -> None:
    live, root = _live(tmp_path, serve_site, backend.url)
    page = context.new_page()
    page.goto(live.url("/page"))
    assert page.text_content("#from") == "from the backend"
    live.wait_tabs("/page")
    page.evaluate("window.__before = 1")
    seen = loads(page)
    write(root / "app.js", "console.log('saved')\n")
    page.wait_for_function("window.__before === undefined", timeout=DEADLINE_MS)
    assert seen and page.text_content("#from") == "from the backend"


def test_a_tab_that_saw_the_backend_down_loads_it_when_it_is_back(
    context: BrowserContext, tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    first = Backend()
    port = first.port
    first.stop()
    live, _ = _live(tmp_path, serve_site, f"http://127.0.0.1:{port}")
    page = context.new_page()
    response = page.goto(live.url("/page"))
    assert response is not None and response.status == 502
    assert f"127.0.0.1:{port}" in (page.text_content("main") or "")
    again = Backend(port)
    try:
        page.wait_for_selector("#from", timeout=DEADLINE_MS)
        assert page.text_content("#from") == "from the backend"
    finally:
        again.stop()
