"""Proxy mode in a real Chromium: a backend's pages behind the site, with live reload.

``--proxy /=BACKEND``: the site's files first, the backend's HTML pages get the
reload script, a saved file in the folder reloads the tab, a tab that saw
the backend down (502) loads the page by itself once the backend is back, and
a page with the script revalidates (304 while the backend's page is the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext

from tests.browser.test_reload import DEADLINE_MS, Live, loads, write
from tests.conftest import RunningServer
from tests.integration.test_proxy_http import Backend


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


def _statuses(live: Live, path: str, expected: list[int]) -> None:
    """Wait until the access log has ``expected`` for ``path`` (it is written just after
    the answer, from the server's thread)."""
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while True:
        seen = [record.status for record in live.server.records if record.path == path]
        if seen == expected or time.monotonic() > deadline:
            assert seen == expected
            return
        time.sleep(0.02)


def test_a_proxied_page_with_the_script_revalidates_in_the_browser(
    context: BrowserContext,
    backend: Backend,
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
) -> None:
    live, _ = _live(tmp_path, serve_site, backend.url)
    page = context.new_page()
    page.goto(live.url("/versioned"))
    assert page.text_content("#from") == "version 1"
    # Chromium revalidates its stored copy with the injected page's tag: the backend,
    # asked with its own, says 304, and so do we.
    page.reload()
    assert page.text_content("#from") == "version 1"
    _statuses(live, "/versioned", [200, 304])
    httpx.post(f"{backend.url}/bump")
    page.reload()
    assert page.text_content("#from") == "version 2"
    _statuses(live, "/versioned", [200, 304, 200])
