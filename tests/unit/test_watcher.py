"""The watcher: real files in tmp_path, real watchdog, events delivered on the event loop."""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver
from watchdog.observers.inotify_c import InotifyConstants, InotifyEvent, Mask, Watch
from watchdog.observers.polling import PollingEmitter

from siteserve.reload.changes import RESCAN, IgnoreRules, RawEvent
from siteserve.reload.inotify import ReportingObserver, _ReportingFD
from siteserve.reload.watcher import Watcher

DEADLINE = 10.0

# pytest turns warnings into errors in every thread, and watchdog's inotify thread dies of
# its harmless "already exists" warning (see siteserve/reload/watcher.py).
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


class Events:
    def __init__(self) -> None:
        self.items: list[RawEvent] = []
        self.threads: set[int] = set()

    def __call__(self, batch: list[RawEvent]) -> None:
        self.threads.add(threading.get_ident())
        self.items.extend(batch)

    def paths(self) -> set[Path]:
        found: set[Path] = set()
        for event in self.items:
            found.add(event.path)
            if event.dest is not None:
                found.add(event.dest)
        return found

    async def until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {self.items}")
            await asyncio.sleep(0.005)


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), DEADLINE * 3))


def started(root: Path, events: Events, **options: object) -> Watcher:
    watcher = Watcher(root, events, loop=asyncio.get_running_loop(), **options)  # type: ignore[arg-type]
    watcher.start()
    return watcher


def test_events_reach_the_loop_thread(tmp_path: Path) -> None:
    async def test() -> None:
        events = Events()
        watcher = started(tmp_path, events)
        try:
            assert watcher.mode == "native"
            assert watcher.reports_close  # inotify: closes tell when a write is complete
            page = tmp_path / "index.html"
            page.write_text("hello")
            await events.until(lambda: page in events.paths(), "the new file")
            kinds = {event.kind for event in events.items if event.path == page}
            assert kinds & {"created", "modified", "closed"}
            # Handed over with call_soon_threadsafe: the sink runs on the loop's thread.
            assert events.threads == {threading.get_ident()}
        finally:
            watcher.stop()

    run(test)


def test_changes_in_new_subfolders_are_seen(tmp_path: Path) -> None:
    async def test() -> None:
        events = Events()
        watcher = started(tmp_path, events)
        try:
            folder = tmp_path / "blog" / "2024"
            folder.mkdir(parents=True)
            await events.until(lambda: tmp_path / "blog" in events.paths(), "the folder")
            post = folder / "post.html"
            post.write_text("new post")
            await events.until(lambda: post in events.paths(), "the file in the new folder")
        finally:
            watcher.stop()

    run(test)


def test_rename_over_a_file_is_one_move_event(tmp_path: Path) -> None:
    async def test() -> None:
        events = Events()
        target = tmp_path / "page.html"
        target.write_text("old")
        watcher = started(tmp_path, events)
        try:
            temp = tmp_path / "page.html.tmp"
            temp.write_text("new")
            temp.replace(target)
            await events.until(
                lambda: any(e.kind == "moved" and e.dest == target for e in events.items),
                "the rename",
            )
            move = next(e for e in events.items if e.kind == "moved")
            assert move.path == temp and move.dest == target
        finally:
            watcher.stop()

    run(test)


def test_reading_a_file_produces_no_events(tmp_path: Path) -> None:
    async def test() -> None:
        page = tmp_path / "index.html"
        page.write_text("x")
        events = Events()
        watcher = started(tmp_path, events)
        try:
            for _ in range(5):
                page.read_bytes()  # the server reads files all the time
            marker = tmp_path / "marker.txt"
            marker.write_text("done")
            await events.until(lambda: marker in events.paths(), "the marker")
            assert page not in events.paths()
        finally:
            watcher.stop()

    run(test)


def test_polling_sees_changes_and_skips_ignored_folders(tmp_path: Path) -> None:
    async def test() -> None:
        modules = tmp_path / "node_modules" / "pkg"
        modules.mkdir(parents=True)
        events = Events()
        rules = IgnoreRules(tmp_path)
        watcher = started(tmp_path, events, poll=True, poll_interval=0.05, ignore=rules)
        try:
            assert watcher.mode == "polling"
            assert not watcher.reports_close
            (modules / "index.js").write_text("ignored")
            page = tmp_path / "index.html"
            page.write_text("polled")
            await events.until(lambda: page in events.paths(), "the polled change")
            # The polling walk never looked into node_modules at all.
            assert not any("node_modules" in event.path.parts for event in events.items)
        finally:
            watcher.stop()

    run(test)


class OutOfWatches(BaseObserver):
    """A native observer that fails the way inotify does when the watch limit is reached."""

    def __init__(self, code: int = errno.ENOSPC) -> None:
        self.code = code
        self.stopped = False

    def schedule(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise OSError(self.code, "inotify watch limit reached")

    def stop(self) -> None:
        self.stopped = True

    def join(self, timeout: float | None = None) -> None:
        return None


def test_falls_back_to_polling_with_a_warning_when_inotify_runs_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        events = Events()
        failing = OutOfWatches()
        with caplog.at_level(logging.WARNING, logger="siteserve.reload"):
            watcher = started(tmp_path, events, native_factory=lambda: failing, poll_interval=0.05)
        try:
            assert watcher.mode == "polling"
            assert failing.stopped
            warning = " ".join(record.getMessage() for record in caplog.records)
            assert "inotify watch limit reached" in warning and "polling" in warning
            page = tmp_path / "index.html"
            page.write_text("still watched")
            await events.until(lambda: page in events.paths(), "the change, by polling")
        finally:
            watcher.stop()

    run(test)


def test_out_of_inotify_instances_also_falls_back(tmp_path: Path) -> None:
    async def test() -> None:
        watcher = started(tmp_path, Events(), native_factory=lambda: OutOfWatches(errno.EMFILE))
        watcher.stop()
        assert watcher.mode == "polling"

    run(test)


def test_other_errors_are_not_hidden(tmp_path: Path) -> None:
    async def test() -> None:
        watcher = Watcher(
            tmp_path,
            Events(),
            loop=asyncio.get_running_loop(),
            native_factory=lambda: OutOfWatches(errno.EACCES),
        )
        with pytest.raises(PermissionError):
            watcher.start()

    run(test)


def test_stop_is_idempotent_and_ends_the_threads(tmp_path: Path) -> None:
    loop = asyncio.new_event_loop()
    try:
        before = threading.active_count()
        watcher = Watcher(tmp_path, Events(), loop=loop)
        watcher.start()
        assert threading.active_count() > before
        watcher.stop()
        watcher.stop()
        deadline = time.monotonic() + DEADLINE
        while threading.active_count() > before and time.monotonic() < deadline:
            time.sleep(0.01)
        assert threading.active_count() <= before
    finally:
        loop.close()


# -- the watcher never dies -------------------------------------------------------------


def rescans(events: Events, root: Path) -> int:
    return sum(1 for event in events.items if event.kind == RESCAN and event.path == root)


@pytest.mark.parametrize("poll", [False, True], ids=["native", "polling"])
def test_a_folder_deleted_and_made_again_is_still_watched(tmp_path: Path, poll: bool) -> None:
    async def test() -> None:
        folder = tmp_path / "posts"
        folder.mkdir()
        events = Events()
        watcher = started(tmp_path, events, poll=poll, poll_interval=0.05)
        try:
            shutil.rmtree(folder)
            await events.until(
                lambda: any(e.kind == "deleted" and e.path == folder for e in events.items),
                "the deletion",
            )
            folder.mkdir()
            post = folder / "post.html"
            post.write_text("back")
            await events.until(lambda: post in events.paths(), "the file in the new folder")
        finally:
            watcher.stop()

    run(test)


@pytest.mark.parametrize("poll", [False, True], ids=["native", "polling"])
def test_a_root_deleted_and_made_again_is_watched_again(tmp_path: Path, poll: bool) -> None:
    async def test() -> None:
        root = tmp_path / "public"
        (root / "css").mkdir(parents=True)
        events = Events()
        watcher = started(root, events, poll=poll, poll_interval=0.05)
        try:
            # What a build tool does: remove the output folder, write it anew.
            shutil.rmtree(root)
            await events.until(
                lambda: any(e.kind == "deleted" and e.path == root for e in events.items),
                "the root's deletion",
            )
            (root / "css").mkdir(parents=True)
            # Written before the new watches may be in place: the rescan covers it.
            await events.until(lambda: rescans(events, root) == 1, "a rescan of the root")
            page = root / "css" / "site.css"
            page.write_text("p {}")
            await events.until(lambda: page in events.paths(), "a change in the new root")
            assert watcher.mode == ("polling" if poll else "native")
        finally:
            watcher.stop()

    run(test)


def test_stopping_while_the_root_is_gone_ends_the_wait(tmp_path: Path) -> None:
    async def test() -> None:
        root = tmp_path / "public"
        root.mkdir()
        events = Events()
        watcher = started(root, events, poll_interval=0.05)
        root.rmdir()
        await events.until(
            lambda: any(thread.name == "siteserve-rewatch" for thread in threading.enumerate()),
            "the wait for the root to come back",
        )
        watcher.stop()
        assert not any(thread.name == "siteserve-rewatch" for thread in threading.enumerate())

    run(test)


def test_an_inotify_queue_overflow_is_a_rescan_and_watching_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        (tmp_path / "blog").mkdir()
        events = Events()
        observers: list[ReportingObserver] = []

        def native() -> BaseObserver:
            observers.append(ReportingObserver(watcher))
            return observers[0]

        watcher = Watcher(tmp_path, events, loop=asyncio.get_running_loop(), native_factory=native)
        watcher.start()
        try:
            assert watcher.reports_close
            # What the kernel sends when its queue overflowed: IN_Q_OVERFLOW on wd -1.
            overflow = InotifyEvent(-1, InotifyConstants.IN_Q_OVERFLOW, 0, b"")
            with caplog.at_level(logging.WARNING, logger="siteserve.reload"):
                await asyncio.to_thread(observers[0].inotify_fd.handle_event, overflow)
                await events.until(lambda: rescans(events, tmp_path) == 1, "the rescan")
            assert any("overflow" in record.getMessage() for record in caplog.records)
            # watchdog rebuilt its watches: changes below the root still arrive.
            post = tmp_path / "blog" / "post.html"
            post.write_text("after the overflow")
            await events.until(lambda: post in events.paths(), "a change after the overflow")
        finally:
            watcher.stop()

    run(test)


@pytest.fixture
def watch_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """inotify refuses a watch on every folder in or under one named ``nowatch*``, as when
    watches ran out.

    The refusal happens where the kernel's does (``inotify_add_watch`` returning
    ENOSPC), so watchdog handles it as it would the real one: it skips the folder.
    """
    real = _ReportingFD._get_or_create_watch

    def refuse(self: _ReportingFD, path: bytes, mask: Mask) -> Watch:
        if b"/nowatch" in path:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")
        return real(self, path, mask)

    monkeypatch.setattr(_ReportingFD, "_get_or_create_watch", refuse)


@pytest.mark.usefixtures("watch_limit")
def test_folders_refused_a_watch_after_start_are_polled_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def test() -> None:
        events = Events()
        with caplog.at_level(logging.WARNING, logger="siteserve.reload"):
            watcher = started(tmp_path, events, poll_interval=0.05)
            try:
                assert watcher.mode == "native"
                folder = tmp_path / "nowatch"
                (folder / "deep").mkdir(parents=True)
                early = folder / "deep" / "early.html"
                early.write_text("written before anyone polled")
                # Reported by the polling, which started after the folder was made.
                await events.until(lambda: early in events.paths(), "the early file")
                later = folder / "deep" / "later.html"
                later.write_text("polled")
                await events.until(lambda: later in events.paths(), "a later change")
                other = tmp_path / "nowatch-too" / "page.html"
                other.parent.mkdir()
                other.write_text("also polled")
                await events.until(lambda: other in events.paths(), "the second folder")
                # Folders that can be watched still are, by inotify (which tells of closes).
                normal = tmp_path / "normal" / "page.html"
                normal.parent.mkdir()
                normal.write_text("watched")
                await events.until(lambda: normal in events.paths(), "the watched file")
                normal.write_text("watched again")
                await events.until(
                    lambda: any(e.kind == "closed" and e.path == normal for e in events.items),
                    "inotify's close of the watched file",
                )
                # Deleted and made again, a polled folder is still polled.
                shutil.rmtree(folder)
                await events.until(
                    lambda: any(e.kind == "deleted" and e.path == later for e in events.items),
                    "the polled deletion",
                )
                again = folder / "again.html"
                folder.mkdir()
                again.write_text("back")
                await events.until(lambda: again in events.paths(), "the folder made again")
            finally:
                watcher.stop()
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1, warnings
        assert "watch limit" in warnings[0] and "polling new folders" in warnings[0]

    run(test)


@pytest.mark.usefixtures("watch_limit")
def test_ignored_folders_refused_a_watch_are_not_polled(tmp_path: Path) -> None:
    async def test() -> None:
        events = Events()
        rules = IgnoreRules(tmp_path, ["nowatch-junk"])
        watcher = started(tmp_path, events, poll_interval=0.05, ignore=rules)
        try:
            (tmp_path / "nowatch-junk").mkdir()
            (tmp_path / "nowatch-junk" / "x.js").write_text("never looked at")
            marker = tmp_path / "marker.txt"
            marker.write_text("done")
            await events.until(lambda: marker in events.paths(), "the marker")
            assert not any(isinstance(thread, PollingEmitter) for thread in threading.enumerate())
        finally:
            watcher.stop()

    run(test)
