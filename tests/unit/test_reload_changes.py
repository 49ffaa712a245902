"""Ignore rules and the debouncer: raw events in, one change set per burst out.

Events are fed by hand (no watcher); the loop is real, the waits have deadlines.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
import uvloop

from siteserve.reload.changes import (
    REBUILD_DELETES,
    RESCAN,
    ChangeSet,
    Debouncer,
    FileStates,
    IgnoreRules,
    PendingChanges,
    RawEvent,
)
from siteserve.share.upload_names import is_temporary, temporary_name

ROOT = Path("/site")
DEADLINE = 5.0


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), DEADLINE * 2))


async def until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.002)


class Collector:
    def __init__(self) -> None:
        self.sets: list[frozenset[Path]] = []
        self.progress: list[frozenset[Path]] = []

    def change(self, changes: ChangeSet) -> None:
        self.sets.append(changes.paths)

    def fresh(self, changes: ChangeSet) -> None:
        self.progress.append(changes.paths)

    def debouncer(self, root: Path = ROOT, **options: float) -> Debouncer:
        return Debouncer(self.change, IgnoreRules(root), on_progress=self.fresh, **options)


def ev(kind: str, path: Path, dest: Path | None = None, *, folder: bool = False) -> RawEvent:
    return RawEvent(kind, path, dest, folder)


def save(path: Path) -> list[RawEvent]:
    """What an editor writing in place produces: truncate, write, close."""
    return [ev("modified", path), ev("modified", path), ev("closed", path)]


# -- ignore rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        ".git/index",
        ".git/objects/ab/cdef",
        "node_modules/pkg/index.js",
        "sub/node_modules/x.js",
        "__pycache__/m.cpython-311.pyc",
        "pkg/__pycache__",
        "page.html.swp",
        ".page.html.swp",
        ".page.html.swx",
        "page.html~",
        ".#page.html",
        "4913",
        "sub/4913",
        "upload.tmp",
        "#page.html#",
        ".DS_Store",
    ],
)
def test_default_ignores_cover_vcs_dependencies_and_editor_droppings(relative: str) -> None:
    assert IgnoreRules(ROOT)(ROOT / relative)


@pytest.mark.parametrize(
    "relative",
    ["index.html", "css/site.css", "_layouts/base.html", "_data/people.json", "git/x", "4913.html"],
)
def test_ordinary_site_files_are_watched(relative: str) -> None:
    assert not IgnoreRules(ROOT)(ROOT / relative)


def test_paths_outside_the_root_are_ignored() -> None:
    assert IgnoreRules(ROOT)(Path("/elsewhere/index.html"))


@pytest.mark.parametrize(
    ("glob", "relative", "ignored"),
    [
        ("*.log", "debug.log", True),
        ("*.log", "logs/deep/debug.log", True),
        ("*.log", "debug.log.html", False),
        ("dist", "dist/app.js", True),
        ("dist/", "dist/sub/app.js", True),
        ("dist", "src/dist.js", False),
        ("build/*.map", "build/app.js.map", True),
        ("build/*.map", "build/app.js", False),
        ("build/*.map", "other/build/app.js.map", False),
        ("drafts/**", "drafts/a/b.html", True),
    ],
)
def test_user_globs(glob: str, relative: str, ignored: bool) -> None:
    assert IgnoreRules(ROOT, [glob])(ROOT / relative) is ignored


def test_extra_paths_are_ignored_exactly() -> None:
    rules = IgnoreRules(ROOT, paths=[ROOT / "sessions.db"])
    assert rules(ROOT / "sessions.db")
    assert not rules(ROOT / "sessions.db.html")


def test_ignored_entries_of_a_folder() -> None:
    rules = IgnoreRules(ROOT, ["drafts"])
    names = ["index.html", "node_modules", ".git", "drafts", "a.swp"]
    kept = [name for name in names if not rules(ROOT / name)]
    assert kept == ["index.html"]


# -- debouncing -------------------------------------------------------------------------


def test_a_burst_of_fifty_saves_is_one_change_set() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.02)
        page = ROOT / "index.html"
        for _ in range(50):
            debouncer.add(save(page))
        assert debouncer.settling
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]
        assert got.progress == [frozenset({page})]

    run(test)


def test_events_of_one_burst_spread_over_several_batches_still_make_one_set() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.05)
        for name in ("a.html", "b.css", "c.js"):
            debouncer.add(save(ROOT / name))
            await asyncio.sleep(0.005)
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({ROOT / "a.html", ROOT / "b.css", ROOT / "c.js"})]
        # Each file was announced as soon as it joined the burst.
        assert got.progress == [
            frozenset({ROOT / "a.html"}),
            frozenset({ROOT / "b.css"}),
            frozenset({ROOT / "c.js"}),
        ]

    run(test)


def test_write_temp_then_rename_is_one_change_of_the_target() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer()
        target = ROOT / "page.html"
        for temp in (ROOT / "page.html.tmp", ROOT / ".#page.html", ROOT / "4913"):
            debouncer.add([ev("created", temp), *save(temp), ev("moved", temp, target)])
            await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({target})] * 3

    run(test)


def test_vim_style_backup_then_write_is_one_change_of_the_file() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer()
        page, backup = ROOT / "page.html", ROOT / "page.html~"
        debouncer.add(
            [
                ev("created", ROOT / "4913"),
                ev("deleted", ROOT / "4913"),
                ev("moved", page, backup),
                ev("created", page),
                *save(page),
                ev("deleted", backup),
            ]
        )
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]

    run(test)


def test_only_ignored_events_start_nothing() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer()
        debouncer.add(save(ROOT / ".git" / "index") + save(ROOT / "node_modules" / "x.js"))
        debouncer.add([ev("opened", ROOT / "index.html"), ev("closed_no_write", ROOT / "a")])
        assert not debouncer.settling
        assert got.sets == [] and got.progress == []

    run(test)


def test_folder_modifications_are_noise_but_new_folders_count() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer()
        debouncer.add([ev("modified", ROOT / "blog", folder=True)])
        assert not debouncer.settling
        debouncer.add([ev("created", ROOT / "blog", folder=True)])
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({ROOT / "blog"})]

    run(test)


def test_a_file_modified_but_not_closed_holds_the_burst_until_it_is_closed() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.01, write_grace=5.0)
        page = ROOT / "big.html"
        debouncer.add([ev("modified", page)])
        await asyncio.sleep(0.1)  # ten quiet periods: still waiting for the close
        assert debouncer.settling and got.sets == []
        started = time.monotonic()
        debouncer.add([ev("closed", page)])
        await debouncer.wait_settled(DEADLINE)
        # The close rescheduled the check: the set came after ``quiet``, not ``write_grace``.
        assert time.monotonic() - started < 1.0
        assert got.sets == [frozenset({page})]

    run(test)


def test_a_writer_that_never_closes_is_given_write_grace_only() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.01, write_grace=0.05)
        debouncer.add([ev("modified", ROOT / "app.log.txt")])
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({ROOT / "app.log.txt"})]

    run(test)


def test_a_never_ending_stream_still_yields_change_sets_after_max_wait() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.05, max_wait=0.1)
        deadline = time.monotonic() + DEADLINE
        while not got.sets and time.monotonic() < deadline:
            debouncer.add(save(ROOT / "stream.txt"))
            await asyncio.sleep(0.01)
        assert got.sets == [frozenset({ROOT / "stream.txt"})]
        debouncer.close()

    run(test)


def test_waiting_for_settling_is_bounded() -> None:
    async def test() -> None:
        debouncer = Collector().debouncer(quiet=10.0)
        debouncer.add(save(ROOT / "a.html"))
        started = time.monotonic()
        assert await debouncer.wait_settled(0.05) is False
        assert time.monotonic() - started < 1.0
        debouncer.close()
        assert not debouncer.settling

    run(test)


def test_the_change_set_is_handed_over_before_waiting_requests_resume() -> None:
    async def test() -> None:
        order: list[str] = []
        debouncer = Debouncer(lambda changes: order.append("change set"), IgnoreRules(ROOT))
        debouncer.add(save(ROOT / "a.html"))

        async def request() -> None:
            await debouncer.wait_settled(DEADLINE)
            order.append("request")

        await asyncio.gather(request(), request())
        assert order == ["change set", "request", "request"]

    run(test)


def test_a_failing_handler_does_not_leave_requests_waiting() -> None:
    async def test() -> None:
        def broken(changes: ChangeSet) -> None:
            raise RuntimeError("boom")

        debouncer = Debouncer(broken, IgnoreRules(ROOT))
        debouncer.add(save(ROOT / "a.html"))
        with pytest.raises(RuntimeError):
            debouncer.flush()
        assert not debouncer.settling

    run(test)


def test_after_several_writes_the_burst_waits_longer() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.01, burst_quiet=0.3)
        page = ROOT / "index.html"
        for _ in range(3):
            debouncer.add(save(page))
        # Past the single-save quiet period, a pause in the writer does not end the burst.
        await asyncio.sleep(0.1)
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]

    run(test)


# -- real files: lagging events ----------------------------------------------------------


def test_events_arriving_after_their_change_set_went_out_are_dropped(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path)
        page = tmp_path / "index.html"
        page.write_text("one")
        old = time.time_ns() - 1_000_000_000
        os.utime(page, ns=(old, old))
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        # The same write's close event, late: nothing new on disk, no second change set.
        debouncer.add([ev("closed", page)])
        assert not debouncer.settling
        # A real write afterwards is news again.
        page.write_text("two!")
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page}), frozenset({page})]

    run(test)


def test_a_file_written_moments_ago_keeps_the_burst_open(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path, quiet=0.05)
        page = tmp_path / "index.html"
        debouncer.add(save(page))
        # Events lag: the loop has seen the first write only, the writer is still going.
        await asyncio.sleep(0.03)
        page.write_text("still writing")
        started = time.monotonic()
        await debouncer.wait_settled(DEADLINE)
        assert time.monotonic() - started >= 0.04
        assert got.sets == [frozenset({page})]

    run(test)


def test_a_writer_that_went_on_past_the_close_seen_holds_the_burst_for_its_events(
    tmp_path: Path,
) -> None:
    # The loop was held up past the finished write's quiet period while the writer went
    # on; uvloop then runs the due check before the watcher's queued callbacks. The file's
    # mtime, younger than the close that was seen, says more events are on their way.
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path)
        debouncer.track_close = True
        page = tmp_path / "index.html"
        page.write_text("first")
        debouncer.add(save(page))
        page.write_text("second")
        written = time.time_ns()  # after the close was seen (mtime's own clock is coarse)
        os.utime(page, ns=(written, written))
        # The loop held up (what is simulated here): the check is overdue, the write 50 ms old.
        time.sleep(0.05)  # noqa: ASYNC251
        await asyncio.sleep(0.005)  # the overdue check runs; the late events have not come
        assert debouncer.settling and got.sets == []
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]

    run(test)


def test_a_file_moved_away_is_given_time_to_come_back(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path, quiet=0.005)
        page = tmp_path / "index.html"
        debouncer.add([ev("moved", page, tmp_path / "index.html~")])
        await asyncio.sleep(0.02)
        assert debouncer.settling  # longer than quiet: a missing file may be mid-save
        page.write_text("new")
        debouncer.add([ev("created", page), *save(page)])
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]

    run(test)


def test_file_states_remember_only_files_that_were_still(tmp_path: Path) -> None:
    states = FileStates(margin=0.5)
    fresh, still = tmp_path / "fresh.txt", tmp_path / "still.txt"
    fresh.write_text("x")
    still.write_text("x")
    old = time.time_ns() - 2_000_000_000
    os.utime(still, ns=(old, old))
    states.remember([fresh, still, tmp_path / "gone.txt"])
    assert states.unchanged(still)
    # Written within the margin: a second write in the same clock tick could keep its mtime.
    assert not states.unchanged(fresh)
    assert not states.unchanged(tmp_path / "gone.txt")
    still.write_text("y")
    assert not states.unchanged(still)


def test_survey_reports_the_latest_write_and_missing_files(tmp_path: Path) -> None:
    states = FileStates()
    page = tmp_path / "a.html"
    page.write_text("x")
    age, missing = states.survey([page, tmp_path / "gone.html"])
    assert age is not None and 0 <= age < 5
    assert missing
    assert states.survey([]) == (None, False)


# -- the server's own writes, lost events, short timers -------------------------------


def test_upload_temporary_files_are_ignored_by_the_one_pattern_uploads_use() -> None:
    rules = IgnoreRules(ROOT)
    name = temporary_name()
    assert is_temporary(name)
    assert rules(ROOT / name)
    assert rules(ROOT / "inbox" / "deep" / name)
    # A file a person named like it is only ignored when it is exactly the pattern.
    assert not rules(ROOT / "siteserve-upload-notes.part")
    assert not rules(ROOT / "inbox" / "report.part")


def test_an_upload_streaming_to_disk_holds_nothing_and_placing_it_is_one_change() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.02)
        temporary = ROOT / "inbox" / temporary_name()
        final = ROOT / "inbox" / "photo.jpg"
        # What inotify reports while an upload streams: the temporary file, written block
        # by block. None of it is a change, so no request is held back meanwhile.
        debouncer.add([ev("created", temporary)])
        for _ in range(20):
            debouncer.add([ev("modified", temporary)])
            assert not debouncer.settling
        debouncer.add([ev("closed", temporary)])
        assert not debouncer.settling
        # Placing it: a hard link to the final name, then the temporary name goes.
        debouncer.add([ev("created", final), ev("deleted", temporary)])
        assert debouncer.settling
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({final})]

    run(test)


def test_a_rescan_is_a_change_of_the_root() -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.01)
        debouncer.add([RawEvent(RESCAN, ROOT, is_directory=True)])
        assert debouncer.settling
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({ROOT})]

    run(test)


@pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)
def test_a_timer_due_within_the_millisecond_works_on_every_loop(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    # uvloop answers call_at with a plain Handle, which has no when(), when the delay
    # rounds to 0 ms; the next batch of events then compared its due time with it.
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.0001)
        for name in ("a.html", "b.html", "c.html"):
            debouncer.add(save(ROOT / name))
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({ROOT / "a.html", ROOT / "b.html", ROOT / "c.html"})]

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(asyncio.wait_for(test(), DEADLINE * 2))


def test_a_folder_emptied_and_refilled_is_one_change_set() -> None:
    # As vite build or mkdocs build do: delete the output, pause, write it in batches.
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(quiet=0.01, burst_quiet=0.05)
        old = [ROOT / "dist" / f"old-{i}.js" for i in range(5)]
        new = [ROOT / "dist" / f"new-{i}.js" for i in range(6)]
        debouncer.add([ev("deleted", path) for path in old])
        await asyncio.sleep(0.4)  # the tool's pause, longer than the burst's quiet period
        assert debouncer.settling and got.sets == []
        debouncer.add([event for path in new[:3] for event in save(path)])
        await asyncio.sleep(0.3)
        assert debouncer.settling and got.sets == []
        debouncer.add([event for path in new[3:] for event in save(path)])
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset(old + new)]

    run(test)


def test_pending_names_the_burst_so_far_and_a_rebuilds_folders() -> None:
    async def test() -> None:
        debouncer = Collector().debouncer()
        assert debouncer.pending() == PendingChanges(frozenset())
        edited = ROOT / "edit" / "a.txt"
        debouncer.add(save(edited))
        # One deletion is an edit, not a rebuild: no folder is held whole.
        debouncer.add([ev("deleted", ROOT / "dist" / "old-0.js")])
        assert debouncer.pending() == PendingChanges(
            frozenset({edited, ROOT / "dist" / "old-0.js"})
        )
        gone = [ROOT / "dist" / f"old-{i}.js" for i in range(1, REBUILD_DELETES)]
        gone.append(ROOT / "dist" / "assets" / "x.js")
        debouncer.add([ev("deleted", path) for path in gone])
        pending = debouncer.pending()
        assert pending.folders == {ROOT / "dist", ROOT / "dist" / "assets"}
        assert debouncer.pending() is pending  # made once while the burst does not grow
        debouncer.flush()
        assert debouncer.pending() == PendingChanges(frozenset())

    run(test)


def test_a_finished_write_is_a_complete_change_without_the_quiet_period(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        # A quiet period longer than the deadline: only the finished write can end the burst.
        debouncer = got.debouncer(tmp_path, quiet=DEADLINE * 4, write_grace=DEADLINE * 4)
        page = tmp_path / "index.html"
        page.write_text("one")
        old = time.time_ns() - 1_000_000_000
        os.utime(page, ns=(old, old))
        debouncer.add(save(page))
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]
        # Renamed over the original (an editor's atomic save): complete as well.
        temp = tmp_path / "index.html.tmp"
        temp.write_text("two, renamed")
        os.utime(temp, ns=(old, old))
        os.replace(temp, page)
        debouncer.add([ev("moved", temp, page)])
        assert await debouncer.wait_settled(DEADLINE)
        assert len(got.sets) == 2
        # Written but not closed yet: not complete, the burst stays open.
        page.write_text("three, still being written")
        debouncer.add([ev("modified", page)])
        assert not await debouncer.wait_settled(0.2)

    run(test)


def _still_file(folder: Path, name: str, *, ago: float = 1.0) -> Path:
    """A file on disk whose last write is ``ago`` seconds past (no lagging write to wait for)."""
    path = folder / name
    path.write_text(name)
    old = time.time_ns() - int(ago * 1e9)
    os.utime(path, ns=(old, old))
    return path


def test_the_set_closes_once_every_file_in_it_saw_its_close_write(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        # Quiet and grace periods past the deadline: only the closes can end the burst.
        debouncer = got.debouncer(tmp_path, quiet=DEADLINE * 4, write_grace=DEADLINE * 4)
        page, style = _still_file(tmp_path, "index.html"), _still_file(tmp_path, "style.css")
        debouncer.add([ev("modified", page), ev("modified", style), ev("closed", page)])
        # One file finished, the other still open for writing: the burst holds.
        assert not await debouncer.wait_settled(0.1)
        debouncer.add([ev("closed", style)])
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page, style})]

    run(test)


def test_a_writer_that_keeps_writing_without_closing_keeps_the_burst_open(
    tmp_path: Path,
) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path, quiet=0.01, write_grace=0.2)
        page = _still_file(tmp_path, "big.html")
        # Writes keep coming, each well inside the grace period, and none closes the file:
        # far past the quiet period (and past the grace period in all), the burst holds.
        for _ in range(20):
            debouncer.add([ev("modified", page)])
            await asyncio.sleep(0.02)
        assert debouncer.settling and got.sets == []
        debouncer.add([ev("closed", page)])
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]

    run(test)


def test_events_handed_over_before_the_check_runs_join_the_finished_set(
    tmp_path: Path,
) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path)
        page, style = _still_file(tmp_path, "index.html"), _still_file(tmp_path, "style.css")
        debouncer.add(save(page))
        # As the watcher does (call_soon_threadsafe): a second batch already on its way
        # when the first one's close-write scheduled the end of the burst.
        asyncio.get_running_loop().call_soon(debouncer.add, save(style))
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page, style})]

    run(test)


def test_a_file_written_again_right_after_its_set_went_out_continues_as_one_burst(
    tmp_path: Path,
) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path, burst_quiet=0.3)
        page, other = _still_file(tmp_path, "index.html"), _still_file(tmp_path, "other.txt")
        debouncer.add(save(page))
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page})]  # one save, finished: out at once
        # A slow writer: the same file again, each save finished before the next begins.
        for count in range(5):
            _still_file(tmp_path, page.name, ago=0.9 - count / 10)  # written again
            debouncer.add(save(page))
            await asyncio.sleep(0.01)
            assert debouncer.settling and len(got.sets) == 1
        assert await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page}), frozenset({page})]
        # Another file right after: a change of its own, out at its first close.
        debouncer.add(save(other))
        assert await debouncer.wait_settled(0.2)
        assert got.sets[-1] == frozenset({other})

    run(test)


def test_a_young_file_is_known_by_its_bytes(tmp_path: Path) -> None:
    states = FileStates(margin=60.0)
    page = tmp_path / "page.html"
    page.write_text("write 50")
    states.remember([page, tmp_path / "gone.html"])
    # Its events trail the writes: the file still holds what its change set went out with.
    assert states.holds_same_bytes(page)
    assert not states.holds_same_bytes(tmp_path / "gone.html")
    # Written again inside the same clock tick (the mtime kept): the bytes tell.
    info = page.stat()
    page.write_text("write 51")
    os.utime(page, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert not states.holds_same_bytes(page)
    assert not states.holds_same_bytes(page)  # forgotten once it changed


def test_events_that_trail_a_finished_change_set_start_no_other(tmp_path: Path) -> None:
    async def test() -> None:
        got = Collector()
        debouncer = got.debouncer(tmp_path, quiet=0.01, finished_quiet=0.002)
        page = tmp_path / "index.html"
        for number in range(1, 51):  # a script's fifty saves, done before any event is seen
            page.write_text(f"write {number}")
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        for _ in range(49):  # the other saves' events, late
            debouncer.add(save(page))
        assert not debouncer.settling
        page.write_text("write 51")  # a real next save is a change again
        debouncer.add(save(page))
        await debouncer.wait_settled(DEADLINE)
        assert got.sets == [frozenset({page}), frozenset({page})]

    run(test)
