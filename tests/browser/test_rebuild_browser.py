"""A build tool rebuilding the served folder (as vite build or mkdocs build do) is one reload.

The tool empties its output folder, pauses, then writes the new files in batches
with pauses of a few hundred milliseconds: every open tab must reload once, on
the finished output, and no request may be answered 404 in between.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Response

from tests.browser.test_reload import PAGE, STYLE, Live, opened, shown, svg, text_is, write
from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

ASSETS = [f"chunk-{i}.js" for i in range(6)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "dist"
    site.mkdir()
    for name in ASSETS:
        write(site / name, "// one\n")
    write(site / "index.html", PAGE.format(text="one"))
    write(site / "other.html", PAGE.format(text="other"))
    write(site / "style.css", STYLE)
    write(site / "pic.svg", svg(10))
    return site


@pytest.fixture
def live(root: Path, serve_site: Callable[..., RunningServer]) -> Live:
    return Live(serve_site(root, reload=True, quiet=True))


def rebuild(root: Path, text: str) -> None:
    for path in sorted(root.iterdir()):
        path.unlink()
    time.sleep(0.45)  # the tool works out the new output before writing it
    for name in ASSETS[:3]:
        write(root / name, f"// {text}\n")
    write(root / "style.css", STYLE)
    time.sleep(0.3)
    for name in ASSETS[3:]:
        write(root / name, f"// {text}\n")
    write(root / "pic.svg", svg(20))
    time.sleep(0.3)
    write(root / "index.html", PAGE.format(text=text))
    write(root / "other.html", PAGE.format(text=text + " other"))


def test_a_rebuild_reloads_each_tab_once_and_never_shows_a_404(
    context: BrowserContext, live: Live, root: Path
) -> None:
    first, second = opened(context, live, "/"), opened(context, live, "/other.html")
    live.wait_tabs("/")
    live.wait_tabs("/other.html")
    statuses: list[tuple[str, int]] = []

    def on_response(response: Response) -> None:
        statuses.append((response.url, response.status))

    # Each tab shows the rebuild once (in place: its HTML changed, no script).
    first_loads, second_loads = shown(first), shown(second)
    for page in (first, second):
        page.on("response", on_response)
    rebuild(root, "two")
    text_is(first, "two")
    text_is(second, "two other")
    live.barrier(root)  # anything the rebuild caused has been handled
    assert len(first_loads) == 1 and len(second_loads) == 1, (first_loads, second_loads)
    assert [s for s in statuses if s[1] >= 400] == []
