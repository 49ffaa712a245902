"""A history-routing app in Chromium with --spa: deep link, navigation, back, reload on a route."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response

from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

# A tiny router written for the test: links push a state, popstate and load render the path.
APP = """<!doctype html>
<html><head><title>app</title><script src="/router.js" defer></script></head>
<body><nav><a href="/users/7" data-link>user 7</a> <a href="/about/team" data-link>team</a></nav>
<main id="view"></main></body></html>
"""
ROUTER = """
function render() {
  document.getElementById("view").textContent = "route:" + location.pathname;
}
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-link]");
  if (!link) return;
  event.preventDefault();
  history.pushState({}, "", link.getAttribute("href"));
  render();
});
window.addEventListener("popstate", render);
render();
"""


@pytest.fixture
def server(serve_site: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    (tmp_path / "index.html").write_text(APP)
    (tmp_path / "router.js").write_text(ROUTER)
    return serve_site(tmp_path, spa=True, reload=True)


def test_history_routing_app(browser: Browser, server: RunningServer) -> None:
    page = browser.new_page()
    statuses: list[tuple[str, int]] = []

    def on_response(response: Response) -> None:
        statuses.append((response.url, response.status))

    page.on("response", on_response)
    view = page.locator("#view")
    # A deep link loads the app, which routes it.
    assert page.goto(server.url("/shop/cart/3")) is not None
    view.filter(has_text="route:/shop/cart/3").wait_for()
    # Navigation inside the app, then back.
    page.click("text=user 7")
    view.filter(has_text="route:/users/7").wait_for()
    page.click("text=team")
    view.filter(has_text="route:/about/team").wait_for()
    page.go_back()
    view.filter(has_text="route:/users/7").wait_for()
    assert page.url == server.url("/users/7")
    # A reload on a deep route is answered by the server with the entry again.
    reloaded = page.reload()
    assert reloaded is not None and reloaded.status in (200, 304)
    view.filter(has_text="route:/users/7").wait_for()
    assert page.title() == "app"
    assert all(status < 400 for _, status in statuses), statuses
    page.close()
