"""Live reload in a real Chromium: edits on disk show up in open tabs, by themselves.

Each test serves a temporary site with reload on, opens tabs, waits until their
WebSocket has said hello, edits files and waits (with deadlines) for the DOM.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page

from siteserve.assemble import build_app
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from tests.conftest import RunningServer, find_layer, running_server
from tests.integration.waiting import until

DEADLINE = 10.0
DEADLINE_MS = int(DEADLINE * 1000)

STYLE = "#v { color: rgb(255, 0, 0); }\n"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>t</title>
<link rel="stylesheet" href="/style.css"></head>
<body><p id="v">{text}</p><img id="pic" src="/pic.svg"><div style="height: 4000px"></div>
</body></html>
"""


def svg(width: int) -> str:
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="10"></svg>'


def write(path: Path, text: str) -> None:
    """Write as an editor saving in place does: truncate, write, close."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)


class Live:
    """A served site, its ReloadApp, and the change sets it has handled."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.app: ReloadApp = find_layer(server.app, ReloadApp)
        self.handled: list[ChangeSet] = []
        self._lock = threading.Lock()
        self.app.listeners.append(self._record)

    def _record(self, changes: ChangeSet) -> None:
        with self._lock:
            self.handled.append(changes)

    def url(self, path: str = "/") -> str:
        return self.server.url(path)

    def tabs_on(self, page: str) -> int:
        """Open tabs that said hello for ``page`` and are not on their way out."""
        while True:
            try:
                clients = list(self.app.clients)
                break
            except RuntimeError:  # the loop thread changed the set meanwhile
                continue
        return sum(1 for c in clients if c.page == page and not c.reloading and not c.socket.closed)

    def wait_tabs(self, page: str, count: int = 1) -> None:
        until(lambda: self.tabs_on(page) >= count, f"{count} tab(s) connected on {page}")

    def barrier(self, root: Path) -> None:
        """Write an unused file and wait for its change set: what came before is handled."""
        marker = root / f"barrier-{time.monotonic_ns()}.txt"
        marker.write_text("x")
        until(lambda: any(marker in c.paths for c in list(self.handled)), "the barrier")


def loads(page: Page) -> list[str]:
    """Every document load of ``page`` from now on (the list fills as Playwright runs)."""
    seen: list[str] = []
    page.on("load", lambda p: seen.append(p.url))
    return seen


def shown(page: Page) -> list[str]:
    """Every change ``page`` shows from now on: ``"load"`` for a new document, ``"morph"``
    for an update in place (reload.js's ``siteserve:morph`` event)."""
    seen: list[str] = []
    page.on("load", lambda p: seen.append("load"))
    page.expose_function("__shown", lambda kind: seen.append(kind))
    listen = "window.addEventListener('siteserve:morph', () => window.__shown('morph'))"
    page.add_init_script(listen)  # every document from now on
    page.evaluate(listen)  # and the one shown now
    return seen


def text_is(page: Page, value: str) -> None:
    page.wait_for_function(
        "v => document.getElementById('v')?.textContent === v", arg=value, timeout=DEADLINE_MS
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    site.mkdir()
    write(site / "index.html", PAGE.format(text="one"))
    write(site / "other.html", PAGE.format(text="other"))
    write(site / "style.css", STYLE)
    write(site / "pic.svg", svg(10))
    return site


@pytest.fixture
def live(root: Path, serve_site: Callable[..., RunningServer]) -> Live:
    return Live(serve_site(root, reload=True, quiet=True))


def opened(context: BrowserContext, live: Live, path: str = "/") -> Page:
    page = context.new_page()
    page.goto(live.url(path))
    return page


def test_html_edit_shows_the_new_text(context: BrowserContext, live: Live, root: Path) -> None:
    page = opened(context, live)
    live.wait_tabs("/")
    write(root / "index.html", PAGE.format(text="two"))
    text_is(page, "two")


def test_css_edit_is_applied_in_place(context: BrowserContext, live: Live, root: Path) -> None:
    page = opened(context, live)
    live.wait_tabs("/")
    page.evaluate("window.__state = 42; window.scrollTo(0, 1234)")
    seen = loads(page)
    write(root / "style.css", "#v { color: rgb(0, 128, 0); }\n")
    page.wait_for_function(
        "getComputedStyle(document.getElementById('v')).color === 'rgb(0, 128, 0)'",
        timeout=DEADLINE_MS,
    )
    assert page.evaluate("window.__state") == 42
    assert page.evaluate("window.scrollY") == 1234
    assert seen == []
    # The old sheet is gone once the new one applies: still exactly one stylesheet link.
    page.wait_for_function(
        "document.querySelectorAll('link[rel=stylesheet]').length === 1", timeout=DEADLINE_MS
    )


def test_an_imported_stylesheet_counts(context: BrowserContext, live: Live, root: Path) -> None:
    write(root / "style.css", '@import url("/parts/colors.css");\n')
    (root / "parts").mkdir()
    write(root / "parts" / "colors.css", "#v { color: rgb(1, 2, 3); }\n")
    page = opened(context, live)
    live.wait_tabs("/")
    page.evaluate("window.__state = 'kept'")
    seen = loads(page)
    write(root / "parts" / "colors.css", "#v { color: rgb(4, 5, 6); }\n")
    page.wait_for_function(
        "getComputedStyle(document.getElementById('v')).color === 'rgb(4, 5, 6)'",
        timeout=DEADLINE_MS,
    )
    assert page.evaluate("window.__state") == "kept"
    assert seen == []


def test_image_edit_refreshes_the_img_in_place(
    context: BrowserContext, live: Live, root: Path
) -> None:
    page = opened(context, live)
    live.wait_tabs("/")
    page.wait_for_function("document.getElementById('pic').naturalWidth === 10")
    page.evaluate("window.__state = 'kept'")
    seen = loads(page)
    write(root / "pic.svg", svg(33))
    page.wait_for_function(
        "document.getElementById('pic').naturalWidth === 33", timeout=DEADLINE_MS
    )
    assert page.evaluate("window.__state") == "kept"
    assert seen == []


def test_twenty_tabs_all_update(context: BrowserContext, live: Live, root: Path) -> None:
    # Twenty tabs of one site in one profile: far more than the six connections a browser
    # allows per host, so this also proves no tab holds an HTTP connection open.
    tabs = 20
    pages = [opened(context, live) for _ in range(tabs)]
    live.wait_tabs("/", tabs)
    write(root / "index.html", PAGE.format(text="everyone"))
    for page in pages:
        text_is(page, "everyone")


def test_a_change_no_open_page_uses_reloads_nothing(
    context: BrowserContext, live: Live, root: Path
) -> None:
    home, other = opened(context, live), opened(context, live, "/other.html")
    live.wait_tabs("/")
    live.wait_tabs("/other.html")
    home_shown, other_shown = shown(home), shown(other)
    write(root / "unused.html", "<p>nobody shows me</p>")
    write(root / "other.html", PAGE.format(text="other 2"))
    text_is(other, "other 2")
    live.barrier(root)
    assert home_shown == []
    assert len(other_shown) == 1


def test_a_burst_of_fifty_writes_is_one_reload(
    context: BrowserContext, live: Live, root: Path
) -> None:
    page = opened(context, live)
    live.wait_tabs("/")
    seen = shown(page)
    # Written by another process, as an editor or a build tool would: not slowed down by
    # this process's own threads (the server runs in one of them).
    script = (
        "import sys\n"
        "for number in range(1, 51):\n"
        "    with open(sys.argv[1], 'w', encoding='utf-8') as handle:\n"
        "        handle.write(sys.argv[2].replace('{text}', f'write {number}'))\n"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(root / "index.html"), PAGE],
        check=True,
        timeout=DEADLINE,
    )
    text_is(page, "write 50")
    live.wait_tabs("/")
    live.barrier(root)
    assert len(seen) == 1, [sorted(p.name for p in c.paths) for c in live.handled]
    assert page.text_content("#v") == "write 50"


def test_the_page_reconnects_after_a_server_restart(
    context: BrowserContext, root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    first = Live(serve_site(root, reload=True, quiet=True))
    port = first.server.port
    page = opened(context, first)
    first.wait_tabs("/")
    first.server.stop()
    # The same site on the same port, as after stopping and starting siteserve again.
    config = first.server.config
    with running_server(build_app(config), config, port=port) as again:
        second = Live(again)
        # The tab comes back by itself (and reloads, in case something changed meanwhile).
        second.wait_tabs("/")
        write(root / "index.html", PAGE.format(text="after restart"))
        text_is(page, "after restart")


# -- rendered pages: templates record what they include ------------------------------------

LAYOUT = """<!doctype html><html><head><title>{% block title %}{% endblock %}</title></head>
<body>{% block body %}{% endblock %}</body></html>
"""


@pytest.fixture
def pages_root(tmp_path: Path) -> Path:
    site = tmp_path / "pages"
    (site / "_layouts").mkdir(parents=True)
    (site / "_partials").mkdir()
    write(site / "_layouts" / "base.html", LAYOUT)
    write(site / "_partials" / "nav.html", '<nav id="nav">nav one</nav>')
    write(
        site / "with-nav.html.jinja",
        '{% extends "_layouts/base.html" %}{% block body %}'
        '{% include "_partials/nav.html" %}<p id="v">{{ 1 + 1 }}</p>{% endblock %}',
    )
    write(
        site / "plain.html.jinja",
        '{% extends "_layouts/base.html" %}{% block body %}<p id="v">plain</p>{% endblock %}',
    )
    return site


def test_editing_a_partial_reloads_only_pages_that_include_it(
    context: BrowserContext, pages_root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    live = Live(serve_site(pages_root, reload=True, quiet=True))
    with_nav, plain = opened(context, live, "/with-nav"), opened(context, live, "/plain")
    live.wait_tabs("/with-nav")
    live.wait_tabs("/plain")
    plain.evaluate("window.__state = 'kept'")
    plain_shown = shown(plain)
    write(pages_root / "_partials" / "nav.html", '<nav id="nav">nav two</nav>')
    with_nav.wait_for_function(
        "document.getElementById('nav')?.textContent === 'nav two'", timeout=DEADLINE_MS
    )
    # The layout is used by both: editing it reloads both.
    live.wait_tabs("/with-nav")
    write(pages_root / "_layouts" / "base.html", LAYOUT.replace("<body>", "<body><i>v2</i>"))
    for page in (with_nav, plain):
        page.wait_for_function(
            "document.querySelector('i')?.textContent === 'v2'", timeout=DEADLINE_MS
        )
    live.barrier(pages_root)
    # The plain page showed one change: the layout's edit, not the partial's; in place,
    # so the page's state survived it.
    assert plain_shown == ["morph"]
    assert plain.evaluate("window.__state") == "kept"


def test_a_template_error_shows_then_the_next_good_save_recovers(
    context: BrowserContext, pages_root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    live = Live(serve_site(pages_root, reload=True, quiet=True))
    page = opened(context, live, "/with-nav")
    live.wait_tabs("/with-nav")
    write(pages_root / "_partials" / "nav.html", "<nav>{% if %}</nav>")
    page.wait_for_function("document.body.innerText.includes('nav.html')", timeout=DEADLINE_MS)
    # The error page is live too: fixing the partial brings the page back by itself.
    live.wait_tabs("/with-nav")
    write(pages_root / "_partials" / "nav.html", '<nav id="nav">fixed</nav>')
    page.wait_for_function(
        "document.getElementById('nav')?.textContent === 'fixed'", timeout=DEADLINE_MS
    )


def test_a_page_that_answered_a_post_reloads_with_get(
    context: BrowserContext, pages_root: Path, serve_site: Callable[..., RunningServer]
) -> None:
    form = pages_root / "form.html.jinja"
    template = (
        '{{% extends "_layouts/base.html" %}}{{% block body %}}<p id="v">{label} '
        '{{{{ request.method }}}}</p><form method="post"><input name="n" value="1">'
        '<button id="send">send</button></form>{{% endblock %}}'
    )
    write(form, template.format(label="first"))
    live = Live(serve_site(pages_root, reload=True, quiet=True))
    page = opened(context, live, "/form")
    with page.expect_navigation():
        page.click("#send")
    text_is(page, "first POST")
    live.wait_tabs("/form")
    # Reloading would post the form again (Chromium asks first); the tab loads it with GET.
    write(form, template.format(label="second"))
    text_is(page, "second GET")


def test_a_new_file_made_with_a_css_edit_still_swaps_the_stylesheet(
    context: BrowserContext, live: Live, root: Path
) -> None:
    page = opened(context, live)
    live.wait_tabs("/")
    page.evaluate("window.__state = 'kept'")
    for round_ in range(1, 9):
        # In the same instant: the edit of a stylesheet the page uses, and a file new to all
        # (before or after the edit; text, or a page no tab shows).
        new = root / f"new-{round_}.{'html' if round_ % 4 < 2 else 'txt'}"
        edit = (root / "style.css", f"#v {{ color: rgb({round_}, 0, 0); }}\n")
        made = (new, "<p>made with the edit</p>")
        for path, text in (edit, made) if round_ % 2 else (made, edit):
            write(path, text)
        page.wait_for_function(
            f"getComputedStyle(document.getElementById('v')).color === 'rgb({round_}, 0, 0)'",
            timeout=DEADLINE_MS,
        )
        live.barrier(root)
    assert page.evaluate("window.__state") == "kept"
