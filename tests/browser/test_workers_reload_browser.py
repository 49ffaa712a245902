"""Live reload with ``--workers 2`` in a real Chromium: every tab does what it does with
one process, whichever worker served its page and whichever holds its socket.

Two tabs (each in a context of its own, so their connections are their own) show a
Jinja page; a template edit is shown in both, a stylesheet edit is swapped in place in both,
and a file no page uses changes nothing in either.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.browser.test_reload import DEADLINE_MS, shown, write
from tests.integration.test_workers import Workers, _env
from tests.integration.worker_processes import alive

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="--workers shares the port with SO_REUSEPORT"
)

LAYOUT = """<!doctype html>
<html><head><meta charset="utf-8"><title>t</title>
<link rel="stylesheet" href="/style.css"></head>
<body><p id="v">{text}</p>{{% block body %}}{{% endblock %}}</body></html>
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "_layouts").mkdir(parents=True)
    write(root / "_layouts" / "base.html", LAYOUT.format(text="one"))
    write(root / "page.html.jinja", '{% extends "_layouts/base.html" %}')
    write(root / "style.css", "#v { color: rgb(255, 0, 0); }\n")
    write(root / "notes.txt", "a file no page uses")
    write(root / "siteserve.toml", 'sessions = "_state/sessions.db"\n')
    return root


@pytest.fixture
def server(site: Path) -> Iterator[Workers]:
    running = Workers(str(site), "--workers", "2", "-p", "0", "--quiet", env=_env())
    try:
        running.ready()
        yield running
    finally:
        pids = running.workers()
        status = running.stop()
        for pid in pids:
            if alive(pid):  # orphans, had the supervisor died first
                os.kill(pid, signal.SIGKILL)
        assert status == 0, running.output()


def color_is(page: Page, value: str) -> None:
    page.wait_for_function(
        "v => getComputedStyle(document.getElementById('v')).color === v",
        arg=value,
        timeout=DEADLINE_MS,
    )


def text_is(page: Page, value: str) -> None:
    page.wait_for_function(
        "v => document.getElementById('v')?.textContent === v", arg=value, timeout=DEADLINE_MS
    )


def test_two_tabs_on_two_workers_update_as_with_one(
    browser: Browser, server: Workers, site: Path
) -> None:
    contexts: list[BrowserContext] = [browser.new_context() for _ in range(4)]
    try:
        tabs = [context.new_page() for context in contexts]
        for tab in tabs:
            tab.goto(f"http://127.0.0.1:{server.port}/page")
            text_is(tab, "one")
        # A stylesheet: swapped in place, the page stays (its sockets are up once it is).
        for tab in tabs:
            tab.evaluate("window.__kept = 'yes'")
        write(site / "style.css", "#v { color: rgb(0, 0, 255); }\n")
        for tab in tabs:
            color_is(tab, "rgb(0, 0, 255)")
        seen = [shown(tab) for tab in tabs]
        # A file no page uses, then the stylesheet again: no load in either tab.
        write(site / "notes.txt", "still unused")
        write(site / "style.css", "#v { color: rgb(0, 128, 0); }\n")
        for tab in tabs:
            color_is(tab, "rgb(0, 128, 0)")
        assert seen == [[]] * len(tabs)
        assert [tab.evaluate("window.__kept") for tab in tabs] == ["yes"] * len(tabs)
        # The page's template: both tabs show the page again, once (in place: its HTML).
        write(site / "_layouts" / "base.html", LAYOUT.format(text="two"))
        for tab in tabs:
            text_is(tab, "two")
        assert [tab.evaluate("window.__kept") for tab in tabs] == ["yes"] * len(tabs)
        assert [len(load) for load in seen] == [1] * len(tabs)
    finally:
        for context in contexts:
            context.close()
