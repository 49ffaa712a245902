"""The listing in Chromium with uploads on: the form, drag and drop, a phone, no JavaScript."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.conftest import RunningServer

TIMEOUT_MS = 10_000


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    (folder / "inbox").mkdir(parents=True)
    (folder / "inbox" / "already.txt").write_text("already here")
    (folder / "inbox" / "zebra.log").write_text("z" * 5000)
    return folder


@pytest.fixture
def server(serve_site: Callable[..., RunningServer], root: Path) -> RunningServer:
    return serve_site(root, upload=True)


def listed(page: Page) -> list[str]:
    return page.locator("li[data-name] .name").all_inner_texts()


def test_upload_through_the_form(browser: Browser, server: RunningServer, root: Path) -> None:
    page = browser.new_page()
    page.goto(server.url("/inbox/"))
    page.set_input_files(
        "#upload input[type=file]",
        files=[
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"first notes"},
            {"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": b"\xff\xd8\xff fake"},
        ],
    )
    with page.expect_navigation(timeout=TIMEOUT_MS):  # the page reloads once the upload is in
        page.click("#upload button[type=submit]")
    page.locator("li[data-name='notes.txt']").wait_for(timeout=TIMEOUT_MS)
    assert {"notes.txt", "photo.jpg", "already.txt"} <= set(listed(page))
    assert (root / "inbox" / "notes.txt").read_text() == "first notes"
    # The same name again: a copy beside it, the first one untouched.
    page.set_input_files(
        "#upload input[type=file]",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"second notes"}],
    )
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.click("#upload button[type=submit]")
    page.locator("li[data-name='notes (1).txt']").wait_for(timeout=TIMEOUT_MS)
    assert (root / "inbox" / "notes.txt").read_text() == "first notes"
    assert (root / "inbox" / "notes (1).txt").read_text() == "second notes"
    page.close()


def test_drag_and_drop(browser: Browser, server: RunningServer, root: Path) -> None:
    page = browser.new_page()
    page.goto(server.url("/inbox/"))
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.evaluate(
            """() => {
                const data = new DataTransfer();
                data.items.add(new File(["dropped one"], "dropped-1.txt", {type: "text/plain"}));
                data.items.add(new File(["dropped two"], "dropped-2.txt", {type: "text/plain"}));
                const zone = document.getElementById("drop");
                zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true}));
                zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
            }"""
        )
    page.locator("li[data-name='dropped-2.txt']").wait_for(timeout=TIMEOUT_MS)
    assert (root / "inbox" / "dropped-1.txt").read_text() == "dropped one"
    page.close()


def test_a_phone_uploads_and_the_page_fits(
    browser: Browser, server: RunningServer, root: Path
) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.goto(server.url("/inbox/"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    button = page.locator("#upload button[type=submit]").bounding_box()
    assert button is not None and button["height"] >= 30  # a thumb can hit it
    page.set_input_files(
        "#upload input[type=file]",
        files=[{"name": "from phone.png", "mimeType": "image/png", "buffer": b"\x89PNG fake"}],
    )
    with page.expect_navigation(timeout=TIMEOUT_MS):
        page.locator("#upload button[type=submit]").tap()
    page.locator("li[data-name='from phone.png']").wait_for(timeout=TIMEOUT_MS)
    assert (root / "inbox" / "from phone.png").read_bytes() == b"\x89PNG fake"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    context.close()


def test_without_javascript_the_forms_still_work(
    browser: Browser, server: RunningServer, root: Path
) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server.url("/inbox/"))
    page.set_input_files(
        "#upload input[type=file]",
        files=[{"name": "plain.txt", "mimeType": "text/plain", "buffer": b"no js"}],
    )
    page.click("#upload button[type=submit]")  # a real form post, then 303 to the listing
    page.wait_for_url(server.url("/inbox/"), timeout=TIMEOUT_MS)
    assert "plain.txt" in listed(page)
    page.fill("input[name=mkdir]", "New folder")
    page.click(".mkdir button[type=submit]")
    page.wait_for_url(server.url("/inbox/"), timeout=TIMEOUT_MS)
    assert "New folder/" in listed(page)
    assert (root / "inbox" / "New folder").is_dir()
    # Sorting is plain links: by size, largest first.
    page.click("text=Size")
    page.click("text=Size")
    assert listed(page)[1] == "zebra.log"
    # The filter box is a plain form too.
    page.fill("#filter", "zeb")
    page.press("#filter", "Enter")
    page.wait_for_url("**/inbox/?q=zeb*", timeout=TIMEOUT_MS)
    assert listed(page) == ["zebra.log"]
    context.close()


def test_the_filter_box_filters_as_you_type(browser: Browser, server: RunningServer) -> None:
    page = browser.new_page()
    page.goto(server.url("/inbox/"))
    page.fill("#filter", "ZEB")
    visible = page.locator("li[data-name]:visible .name").all_inner_texts()
    assert visible == ["zebra.log"]
    page.fill("#filter", "")
    assert len(page.locator("li[data-name]:visible").all()) == 2
    page.close()


def test_an_upload_that_is_too_large_says_so(
    browser: Browser, serve_site: Callable[..., RunningServer], root: Path
) -> None:
    server = serve_site(root, upload=True, max_upload="64k")
    page = browser.new_page()
    page.goto(server.url("/inbox/"))
    page.set_input_files(
        "#upload input[type=file]",
        files=[
            {"name": "big.bin", "mimeType": "application/octet-stream", "buffer": b"x" * 200_000}
        ],
    )
    page.click("#upload button[type=submit]")
    status = page.locator("#upload-status")
    status.filter(has_text="larger than").wait_for(timeout=TIMEOUT_MS)
    assert "64 KiB" in status.inner_text()
    assert sorted(p.name for p in (root / "inbox").iterdir()) == ["already.txt", "zebra.log"]
    page.close()
