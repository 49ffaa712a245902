"""An HTML change shown in place (morph.js) in a real Chromium, and when it reloads instead.

The open page is fetched again and morphed into the fresh copy: no new document, so a
``window`` variable, a listener on an element that stayed and a value typed into an input
survive. A change of the page's scripts, a page that opted out, a page or answer that is not
a 200 text/html, all reload the whole page.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from tests.browser.test_reload import DEADLINE, Live, opened, shown, text_is, write
from tests.conftest import RunningServer

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>{head}</head>
<body><h1>in place</h1><p id="v">{text}</p>
<button id="b">press</button><input id="typed" value="">
<script>document.getElementById("b").addEventListener("click", () => {{ window.__clicks =
  (window.__clicks || 0) + 1; }});</script>{extra}
<div style="height: 4000px"></div></body></html>
"""


def page(text: str, *, title: str = "t", head: str = "", extra: str = "") -> str:
    return PAGE.format(text=text, title=title, head=head, extra=extra)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    write(site / "index.html", page("one"))
    return site


@pytest.fixture
def live(root: Path, serve_site: Callable[..., RunningServer]) -> Live:
    return Live(serve_site(root, reload=True, quiet=True))


def marked(context: BrowserContext, live: Live) -> tuple[Page, list[str]]:
    """The site's page, open and known to the server, with a ``window`` mark that only a
    new page load loses, and the list of changes it shows (``shown``)."""
    tab = opened(context, live)
    live.wait_tabs("/")
    tab.evaluate("window.__state = 'kept'")
    return tab, shown(tab)


def test_an_html_edit_is_shown_in_place(context: BrowserContext, live: Live, root: Path) -> None:
    tab = opened(context, live)
    live.wait_tabs("/")
    tab.fill("#typed", "typed by hand")
    tab.evaluate("window.__state = 'kept'; window.scrollTo(0, 1234)")
    seen = shown(tab)
    write(root / "index.html", page("two", title="new title"))
    text_is(tab, "two")
    assert seen == ["morph"]
    assert tab.evaluate("window.__state") == "kept"
    assert tab.title() == "new title"
    assert tab.evaluate("window.scrollY") == 1234
    assert tab.input_value("#typed") == "typed by hand"
    # The button stayed, so the listener the page's script put on it is still there.
    tab.click("#b")
    assert tab.evaluate("window.__clicks") == 1
    # The script ran once, and the fresh page's copy of the reload script did not run.
    assert tab.evaluate("document.querySelectorAll('script').length") == 2
    # Told again: the tab said hello again after the first change.
    live.wait_tabs("/")
    write(root / "index.html", page("three", title="new title"))
    text_is(tab, "three")
    assert seen == ["morph", "morph"]
    assert tab.evaluate("window.__state") == "kept"


def test_elements_added_and_removed_around_kept_ones(
    context: BrowserContext, live: Live, root: Path
) -> None:
    tab, seen = marked(context, live)
    write(root / "index.html", page("two").replace("<h1>in place</h1>", "<nav>new</nav>"))
    text_is(tab, "two")
    assert tab.text_content("nav") == "new"
    assert tab.evaluate("document.querySelectorAll('h1').length") == 0
    tab.click("#b")
    assert tab.evaluate("window.__clicks") == 1
    assert seen == ["morph"]


def test_a_script_change_reloads_the_page(context: BrowserContext, live: Live, root: Path) -> None:
    tab, seen = marked(context, live)
    write(root / "index.html", page("two", extra="<script>window.__ran = 1;</script>"))
    text_is(tab, "two")
    assert seen == ["load"]
    assert tab.evaluate("window.__state") is None
    assert tab.evaluate("window.__ran") == 1


def test_an_edit_of_a_script_the_page_runs_reloads_it(
    context: BrowserContext, live: Live, root: Path
) -> None:
    write(root / "app.js", "window.__version = 1;\n")
    write(root / "index.html", page("one", extra='<script src="/app.js"></script>'))
    tab, seen = marked(context, live)
    write(root / "app.js", "window.__version = 2;\n")
    tab.wait_for_function("window.__version === 2", timeout=int(DEADLINE * 1000))
    assert seen == ["load"]
    assert tab.evaluate("window.__state") is None


def test_a_page_that_opts_out_is_reloaded(
    context: BrowserContext, root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    opt_out = '<meta name="siteserve-reload" content="full">'
    write(root / "index.html", page("one", head=opt_out))
    live = Live(serve_site(root, reload=True, quiet=True))
    tab, seen = marked(context, live)
    write(root / "index.html", page("two", head=opt_out))
    text_is(tab, "two")
    assert seen == ["load"]
    assert tab.evaluate("window.__state") is None


def test_a_burst_of_writes_is_shown_once_on_the_last(
    context: BrowserContext, live: Live, root: Path
) -> None:
    tab, seen = marked(context, live)
    script = (
        "import sys\n"
        "for number in range(1, 51):\n"
        "    with open(sys.argv[1], 'w', encoding='utf-8') as handle:\n"
        "        handle.write(sys.argv[2].replace('ONE', f'write {number}'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(root / "index.html"), page("ONE")],
        check=True,
        timeout=DEADLINE,
    )
    text_is(tab, "write 50")
    live.wait_tabs("/")
    live.barrier(root)
    assert seen == ["morph"]
    assert tab.evaluate("window.__state") == "kept"


def test_a_missing_page_and_its_return_reload(
    context: BrowserContext, live: Live, root: Path
) -> None:
    write(root / "about.html", page("one"))
    tab = opened(context, live, "/about.html")
    live.wait_tabs("/about.html")
    seen = shown(tab)
    # 200 -> 404: the error page is not shown in place.
    (root / "about.html").unlink()
    tab.wait_for_function("document.title.includes('404')", timeout=int(DEADLINE * 1000))
    assert seen == ["load"]
    # 404 -> 200: the page shown is an error page, so the page is loaded again too.
    live.wait_tabs("/about.html")
    write(root / "about.html", page("back"))
    text_is(tab, "back")
    assert seen == ["load", "load"]


def test_an_answer_that_is_not_html_reloads(
    context: BrowserContext, tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = tmp_path / "pages"
    site.mkdir()
    write(site / "page.html.jinja", page("one"))
    live = Live(serve_site(site, reload=True, quiet=True))
    tab = opened(context, live, "/page")
    live.wait_tabs("/page")
    seen = shown(tab)
    plain = '{% do response.set_header("Content-Type", "text/plain; charset=utf-8") %}plain now'
    write(site / "page.html.jinja", plain)
    tab.wait_for_function(
        "document.body.innerText.includes('plain now')", timeout=int(DEADLINE * 1000)
    )
    assert seen == ["load"]
