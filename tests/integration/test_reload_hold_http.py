"""A burst of changes holds back only the requests it can affect, through the real server.

A rebuild of ``dist/`` (or an edit of one file) is kept settling for as long as the test
needs: its quiet period and longest wait are set out of reach, and the test ends it on
the server's loop. Every step waits for a condition, never for a time.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from siteserve.reload import app as reload_app
from siteserve.reload import changes
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import Debouncer, PendingChanges
from tests.conftest import RunningServer, find_layer
from tests.integration.waiting import DEADLINE, until

#: Longer than any test: a burst ends when the test says so.
FOREVER = 3600.0


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "dist").mkdir(parents=True)
    (site / "edit").mkdir()
    (site / "other.txt").write_text("other")
    (site / "dist" / "x.js").write_text("// old")
    for number in range(changes.REBUILD_DELETES + 1):
        (site / "dist" / f"old-{number}.js").write_text("// going")
    (site / "edit" / "a.txt").write_text("a, first")
    (site / "edit" / "b.txt").write_text("b")
    return site


@pytest.fixture
def live(
    root: Path, serve_site: Callable[..., RunningServer], monkeypatch: pytest.MonkeyPatch
) -> RunningServer:
    monkeypatch.setattr(changes, "REBUILD_QUIET_SECONDS", FOREVER)
    monkeypatch.setattr(changes, "REBUILD_MAX_WAIT_SECONDS", FOREVER)
    monkeypatch.setattr(reload_app, "SETTLE_TIMEOUT", FOREVER)
    return serve_site(root, reload=True, quiet=True)


class Background:
    """One GET in a thread of its own; ``response`` once it is answered."""

    def __init__(self, url: str) -> None:
        self.response: httpx.Response | None = None
        self._thread = threading.Thread(target=self._get, args=(url,), daemon=True)
        self._thread.start()

    def _get(self, url: str) -> None:
        self.response = httpx.get(url, timeout=DEADLINE * 3)

    def result(self) -> httpx.Response:
        self._thread.join(DEADLINE * 3)
        assert self.response is not None, "no answer"
        return self.response


def on_loop(server: RunningServer) -> asyncio.AbstractEventLoop:
    state = server.server._state  # the loop the server runs on: the debouncer lives there
    assert state is not None
    return state.loop


def pending(server: RunningServer, debouncer: Debouncer) -> PendingChanges:
    async def ask() -> PendingChanges:
        return debouncer.pending()

    return asyncio.run_coroutine_threadsafe(ask(), on_loop(server)).result(DEADLINE)


def test_a_rebuild_of_dist_holds_dist_and_answers_other_files_at_once(
    live: RunningServer, root: Path
) -> None:
    app = find_layer(live.app, ReloadApp)
    debouncer = app.debouncer
    assert debouncer is not None
    dist = root / "dist"
    assert httpx.get(live.url("/dist/x.js")).text == "// old"
    assert httpx.get(live.url("/other.txt")).text == "other"
    for old in sorted(dist.glob("old-*.js")):
        old.unlink()
    until(lambda: debouncer.settling and debouncer.rebuilding, "the rebuild's deletions")
    assert pending(live, debouncer).folders == {dist}
    chunk = Background(live.url("/dist/x.js"))
    until(lambda: app.held == 1, "the request under dist/ to wait")
    other = httpx.get(live.url("/other.txt"), timeout=DEADLINE)
    assert other.status_code == 200 and other.text == "other"
    # Answered while the rebuild was settling, and /dist/x.js still waits.
    assert debouncer.settling and app.held == 1 and chunk.response is None
    (dist / "x.js").write_text("// new")
    until(lambda: dist / "x.js" in pending(live, debouncer).paths, "the new chunk's event")
    on_loop(live).call_soon_threadsafe(debouncer.flush)
    answered = chunk.result()
    assert answered.status_code == 200 and answered.text == "// new"
    assert app.held == 0


def test_an_edit_holds_the_file_it_changes_and_not_the_one_beside_it(
    live: RunningServer, root: Path
) -> None:
    app = find_layer(live.app, ReloadApp)
    debouncer = app.debouncer
    assert debouncer is not None and debouncer.track_close
    # The burst stays open while the file is open for writing, whatever the time.
    debouncer.write_grace = debouncer.max_wait = FOREVER
    assert httpx.get(live.url("/edit/a.txt")).text == "a, first"
    with (root / "edit" / "a.txt").open("w") as handle:
        handle.write("a, ")
        handle.flush()
        until(lambda: debouncer.settling, "the edit's first event")
        edited = Background(live.url("/edit/a.txt"))
        until(lambda: app.held == 1, "the edited file's request to wait")
        for url, text in (("/edit/b.txt", "b"), ("/other.txt", "other")):
            beside = httpx.get(live.url(url), timeout=DEADLINE)
            assert beside.status_code == 200 and beside.text == text
        assert debouncer.settling and edited.response is None
        handle.write("second")
    answered = edited.result()
    assert answered.status_code == 200 and answered.text == "a, second"
