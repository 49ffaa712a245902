"""The directory listing in Chromium: hostile names stay text, links work, phones can read it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog

from tests.conftest import RunningServer

pytestmark = pytest.mark.browser


HOSTILE_NAMES = [
    "<img src=x onerror=window.__pwned=1>.txt",
    "<script>window.__pwned=2<script>.txt",
    "\"'><svg onload=window.__pwned=3>.txt",
    "a#b?c=d&e.txt",
]
LONG_NAME = "a-very-long-file-name-that-would-push-a-phone-layout-sideways-" * 2 + ".txt"


@pytest.fixture
def server(serve_site: Callable[..., RunningServer], tmp_path: Path) -> RunningServer:
    root = tmp_path / "site"
    (root / "files" / "nested").mkdir(parents=True)
    for name in [*HOSTILE_NAMES, LONG_NAME]:
        (root / "files" / name).write_text(f"content of {name}")
    (root / "files" / ".hidden").write_text("hidden")
    return serve_site(root)


def test_hostile_names_do_not_run(browser: Browser, server: RunningServer) -> None:
    page = browser.new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(server.url("/files/"))
    page.wait_for_load_state("load")
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    shown = page.locator("li .name").all_inner_texts()
    assert shown[:2] == ["Parent folder", "nested/"]
    for name in HOSTILE_NAMES:
        assert name in shown
    assert ".hidden" not in shown
    page.close()


def test_links_reach_the_files(browser: Browser, server: RunningServer) -> None:
    page = browser.new_page()
    page.goto(server.url("/files/"))
    page.get_by_text("a#b?c=d&e.txt", exact=True).click()
    page.wait_for_load_state("load")
    assert page.locator("body").inner_text() == "content of a#b?c=d&e.txt"
    page.go_back()
    page.get_by_text("nested/", exact=True).click()
    page.wait_for_url(server.url("/files/nested/"))
    assert "This folder is empty." in page.locator("body").inner_text()
    page.close()


def test_readable_on_a_phone(browser: Browser, server: RunningServer) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True
    )
    page = context.new_page()
    page.goto(server.url("/files/"))
    # Nothing wider than the screen: no sideways scrolling, even for a very long name.
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    font = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.name')).fontSize)")
    assert font >= 14
    # Rows are comfortable tap targets (48 CSS px is the common guideline; allow a little less).
    height = page.evaluate("document.querySelector('li a').getBoundingClientRect().height")
    assert height >= 40
    context.close()
