"""File events in, debounced change sets out.

A save is rarely one event: an editor truncates, writes, closes, and often
writes a temp file and renames it over the original first. The ``Debouncer``
turns a burst of raw events into one ``ChangeSet`` of the files that changed,
so a burst of fifty writes is one reload, and it tells the app while a burst
is still settling so requests can wait instead of reading a half-written file.
Everything here runs on the event loop; the watcher thread only hands events over.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from siteserve import bounds
from siteserve.share.upload_names import TEMP_GLOB

#: Folders whose contents never matter to a page.
IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__", ".mypy_cache"})

#: Editor swap, backup, lock and temp files (vim, emacs, kate, LibreOffice, JetBrains).
#: ``4913`` is the file vim creates to test whether it may write in a folder. Last, the
#: server's own upload in progress: its writes are not changes (and must not hold
#: requests back while it streams); placing it under its final name is the one change.
IGNORED_NAMES = (
    "*.swp",
    "*.swx",
    "*.swo",
    "*~",
    ".#*",
    "#*#",
    "4913",
    "*.tmp",
    "*.kate-swp",
    ".~lock.*#",
    "*___jb_tmp___",
    "*___jb_old___",
    ".DS_Store",
    TEMP_GLOB,
)

#: The kind of event that says events were lost (the kernel's queue overflowed, or the
#: root was deleted and made again): anything under its path may have changed.
RESCAN = "rescan"
#: Event kinds that say a file's content or existence changed (``attrib`` is
#: ``touch``). Opening and closing a file without writing are left out: the
#: server reads files too.
CONTENT_KINDS = frozenset({"created", "modified", "deleted", "moved", "closed", "attrib", RESCAN})

#: How long after the last event a single save counts as done. An editor's save
#: arrives within a millisecond or two; browsers already start asking for the page
#: meanwhile (see ``on_progress``), so this adds little to a reload. Tuned with
#: bench/reload_latency.py: 25 ms put an in-place CSS swap at about 31 ms, 10 ms at 16.
QUIET_SECONDS = 0.010
#: How long after a finished write (inotify's close-write, or a rename over a file) the
#: change counts as done when nothing else is still open for writing. The file is whole;
#: the wait is only for a writer that goes on (a script saving a file 50 times): its next
#: write's events must reach the loop first, or the first save is a change set (and a
#: reload) of its own. 0 ms (checking on the loop's next turn) lost that race on an idle
#: machine now and then (two reloads for one burst, tests/browser/test_reload.py); 2 ms
#: keeps it, for about 2 ms of a CSS swap (bench/reload_latency.py). A file whose mtime is
#: younger than the finished write's event (a writer that went on, its events still on
#: their way) keeps the burst open for ``QUIET_SECONDS``.
FINISHED_QUIET_SECONDS = 0.002
#: Once a burst has shown several writes (a script, a build, a checkout), more are
#: likely: wait this long after the last one, so the burst is one change set even
#: when a busy machine pauses the writer now and then.
BURST_QUIET_SECONDS = 0.1
#: Writes (closes, renames, creations, deletions) after which a burst is a burst.
BURST_WRITES = 3
#: A change set that begins this soon after the last one's last event, with a file of that
#: set, continues it: its writer is still going (a script writing a file every few
#: milliseconds finishes each write before the next begins, so each would otherwise be a
#: change set, and a reload, of its own). It waits ``burst_quiet`` from the start.
FOLLOW_ON_SECONDS = BURST_QUIET_SECONDS
#: A file written too recently for its mtime to tell a later write from it is remembered
#: by a digest of its bytes when its change set goes out, up to this size.
YOUNG_DIGEST_BYTES = 256 * 1024
#: A changed file that is gone is given this long to come back (vim's save renames
#: the file to a backup, then writes a new one).
MISSING_GRACE_SECONDS = 0.05
#: A file modified but not yet closed is given this long to be closed.
WRITE_GRACE_SECONDS = 0.25
#: A never-ending stream of events (a log file) still yields a change set this often.
MAX_WAIT_SECONDS = 1.0
#: Deletions after which a burst is a rebuild: a build tool (Vite, mkdocs, Sphinx) empties
#: its output folder, pauses (300-600 ms) and writes the new files in batches.
REBUILD_DELETES = 3
#: A rebuild ends only when the writer has paused this long (past the tools' pauses)...
REBUILD_QUIET_SECONDS = 0.8
#: ...and at the latest this long after it began: the most a request waits for a rebuild.
REBUILD_MAX_WAIT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One file system event as the watcher saw it, already plain data."""

    kind: str
    path: Path
    dest: Path | None = None
    is_directory: bool = False


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """The files that changed in one burst (created, modified, deleted or renamed).

    A folder in it stands for everything under it (caches drop all they hold from
    there); the root in it (a ``RESCAN``) means every open tab reloads.
    """

    paths: frozenset[Path]

    def __bool__(self) -> bool:
        return bool(self.paths)


@dataclass(frozen=True, slots=True)
class PendingChanges:
    """What the burst still settling has touched so far: which requests must wait for it.

    ``paths`` are the files (and folders) named by its events so far. ``folders`` are a
    rebuild's folders, those it deleted files from: anything in them may be rewritten
    before the burst ends, also files no event has named yet (``reload.hold``).
    """

    paths: frozenset[Path]
    folders: frozenset[Path] = frozenset()


class IgnoreRules:
    """Decides which paths under ``root`` are noise.

    ``globs`` (from ``--ignore`` and config) match the path relative to the root
    (``dist/*.map``), a bare name anywhere (``*.log``), or a folder and all it
    holds (``build`` or ``build/``).
    """

    def __init__(self, root: Path, globs: Iterable[str] = (), paths: Iterable[Path] = ()) -> None:
        self.root = root
        self.globs = tuple(glob.strip().strip("/") for glob in globs if glob.strip().strip("/"))
        self.paths = frozenset(paths)

    def __call__(self, path: Path) -> bool:
        if path in self.paths:
            return True
        try:
            relative = PurePosixPath(path.relative_to(self.root).as_posix())
        except ValueError:
            return True
        parts = relative.parts
        if not parts:
            return False
        if any(part in IGNORED_DIRS for part in parts[:-1]) or parts[-1] in IGNORED_DIRS:
            return True
        name = parts[-1]
        if any(fnmatchcase(name, pattern) for pattern in IGNORED_NAMES):
            return True
        return any(self._matches(glob, parts) for glob in self.globs)

    @staticmethod
    def _matches(glob: str, parts: tuple[str, ...]) -> bool:
        if "/" not in glob:
            return any(fnmatchcase(part, glob) for part in parts)
        # A glob with a slash is anchored at the root; it also covers what lies below a match.
        return any(fnmatchcase("/".join(parts[:end]), glob) for end in range(1, len(parts) + 1))


class FileStates:
    """What each changed file looked like when its change set went out.

    The watcher's events can arrive well after the write when the machine is
    busy (watchdog handles each event in Python). An event for a file whose
    size, inode and modification time are still those recorded when the last
    change set went out says nothing new, and must not start a second reload.
    Only files whose mtime was already ``margin`` old are recorded so: a later
    write inside the same tick of the kernel's coarse clock could keep the mtime.
    A younger file is recorded with a digest of its bytes (``holds_same_bytes``).
    """

    def __init__(self, *, margin: float = 0.01, limit: int = bounds.CHANGE_STATES) -> None:
        self._margin_ns = int(margin * 1e9)
        self._limit = limit
        self._known: dict[Path, tuple[int, int, int]] = {}
        #: Files written within the margin: their state and a digest of their bytes.
        self._young: dict[Path, tuple[tuple[int, int, int], bytes]] = {}

    @staticmethod
    def _stat(path: Path) -> os.stat_result | None:
        try:
            info = path.stat()
        except OSError:
            return None
        return info if stat.S_ISREG(info.st_mode) else None

    def remember(self, paths: Iterable[Path]) -> None:
        now = time.time_ns()
        if len(self._known) > self._limit:
            self._known.clear()
        if len(self._young) > self._limit:
            self._young.clear()
        for path in paths:
            info = self._stat(path)
            self._young.pop(path, None)
            if info is not None and now - info.st_mtime_ns >= self._margin_ns:
                self._known[path] = (info.st_mtime_ns, info.st_size, info.st_ino)
                continue
            self._known.pop(path, None)
            if info is not None and info.st_size <= YOUNG_DIGEST_BYTES:
                digest = _digest(path)
                if digest is not None:
                    self._young[path] = ((info.st_mtime_ns, info.st_size, info.st_ino), digest)

    def unchanged(self, path: Path) -> bool:
        known = self._known.get(path)
        if known is None:
            return False
        info = self._stat(path)
        if info is not None and (info.st_mtime_ns, info.st_size, info.st_ino) == known:
            return True
        del self._known[path]
        return False

    def holds_same_bytes(self, path: Path) -> bool:
        """Whether ``path``, written just before its change set went out (too recently for
        its mtime to tell), still holds the bytes it held then.

        The watcher's events can trail the writes: a script that saved a file fifty times
        may be done before the first event reaches the loop, and the change set then
        already has the last version. Those trailing events say nothing new.
        """
        young = self._young.get(path)
        if young is None:
            return False
        info = self._stat(path)
        if info is None or (info.st_mtime_ns, info.st_size, info.st_ino) != young[0]:
            del self._young[path]
            return False
        if _digest(path) == young[1]:
            return True
        del self._young[path]
        return False

    def survey(self, paths: Iterable[Path], sample: int = 64) -> tuple[float | None, bool]:
        """Seconds since the latest write to any of ``paths`` (None: no file to look at),
        and whether one of them is missing (deleted, or moved away and not yet replaced)."""
        now = time.time_ns()
        youngest: int | None = None
        missing = False
        for count, path in enumerate(paths):
            if count >= sample:
                break
            try:
                info = path.stat()
            except OSError:
                missing = True
                continue
            age = now - info.st_mtime_ns
            # A clock in the future (a network mount) tells nothing; skip it.
            if stat.S_ISREG(info.st_mode) and age >= 0 and (youngest is None or age < youngest):
                youngest = age
        return (None if youngest is None else youngest / 1e9), missing


def _digest(path: Path) -> bytes | None:
    try:
        return hashlib.blake2b(path.read_bytes(), digest_size=16).digest()
    except OSError:
        return None


class Debouncer:
    """Collects raw events on the event loop and emits one ChangeSet per burst.

    A burst ends when no event came for ``quiet`` seconds and every file that
    was modified has been closed again (or ``write_grace`` passed since the
    last event: some writers never close), or at the latest ``max_wait`` after
    it began. When the last event finished a write (a close-write, a rename
    over a file) and no file is still open for writing, the burst ends after
    ``finished_quiet`` instead (none by default), unless it has shown several
    writes already (``burst_quiet``). Then ``on_change`` runs with the files
    that changed.

    ``on_progress`` runs as soon as a file joins the burst, with the files new
    to it: browsers can start asking for a page while the burst settles, and
    their requests wait for ``wait_settled`` (the browser's own latency then
    overlaps the quiet period instead of adding to it).
    """

    def __init__(
        self,
        on_change: Callable[[ChangeSet], None],
        ignore: Callable[[Path], bool],
        *,
        on_progress: Callable[[ChangeSet], None] | None = None,
        quiet: float = QUIET_SECONDS,
        finished_quiet: float = FINISHED_QUIET_SECONDS,
        burst_quiet: float = BURST_QUIET_SECONDS,
        write_grace: float = WRITE_GRACE_SECONDS,
        max_wait: float = MAX_WAIT_SECONDS,
        track_close: bool = True,
    ) -> None:
        self._on_change = on_change
        self._on_progress = on_progress
        self._ignore = ignore
        self.quiet = quiet
        self.finished_quiet = finished_quiet
        self.burst_quiet = burst_quiet
        self.write_grace = write_grace
        self.max_wait = max_wait
        #: The polling watcher sees no close events, so it must not wait for them.
        self.track_close = track_close
        self._pending: set[Path] = set()
        self._open_for_write: set[Path] = set()
        self._writes = 0
        self._deletes = 0
        #: The folders this burst deleted files from (a rebuild's output folders).
        self._deleted_in: set[Path] = set()
        #: ``pending()``'s answer, made again only when the burst has grown.
        self._snapshot: PendingChanges | None = None
        #: Whether the burst's last event finished a write (a close after writing, a rename).
        self._finished = False
        #: When that event was taken (wall clock, as file mtimes are).
        self._finished_ns = 0
        self._first = 0.0
        self._last = 0.0
        #: The last event of the last change set that went out (loop time), and whether
        #: the burst in progress began soon after it (``FOLLOW_ON_SECONDS``).
        self._flushed = -FOLLOW_ON_SECONDS
        self._flushed_paths: frozenset[Path] = frozenset()
        self._follows = False
        #: The next look at the burst, and when it is due (loop time). The due time is
        #: kept here, not asked of the handle: uvloop answers a delay that rounds to
        #: 0 ms with a plain ``Handle``, which has no ``when()``.
        self._timer: asyncio.Handle | None = None
        self._due = 0.0
        self._states = FileStates()
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def settling(self) -> bool:
        """True from the first event of a burst until its change set has been handled."""
        return not self._settled.is_set()

    async def wait_settled(self, limit: float) -> bool:
        """Wait (at most ``limit`` seconds) for the burst in progress to be handled."""
        if self._settled.is_set():
            return True
        try:
            async with asyncio.timeout(limit):
                await self._settled.wait()
        except TimeoutError:
            return False
        return True

    @property
    def rebuilding(self) -> bool:
        """A folder emptied and being refilled: the burst waits for the whole output."""
        return self._deletes >= REBUILD_DELETES

    def pending(self) -> PendingChanges:
        """What the burst in progress has touched so far (empty when none is)."""
        if self._snapshot is None:
            folders = frozenset(self._deleted_in) if self.rebuilding else frozenset()
            self._snapshot = PendingChanges(frozenset(self._pending), folders)
        return self._snapshot

    def add(self, events: Iterable[RawEvent]) -> None:
        """Take a batch of events from the watcher (called on the loop)."""
        before = set(self._pending)
        starting = not self._pending and self._timer is None
        touched = False
        for event in events:
            if event.kind not in CONTENT_KINDS:
                continue
            touched |= self._note(event)
        if not touched:
            return
        self._snapshot = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if starting:
            self._first = now
            # The same file written again right after its change set went out: the
            # writer is still going. Other files (an unrelated save, the soak's random
            # rewrites) start a burst of their own, finished by its first close as before.
            self._follows = (
                now - self._flushed < FOLLOW_ON_SECONDS
                and not self._pending.isdisjoint(self._flushed_paths)
            )
        self._last = now
        self._settled.clear()
        # Look again after the quiet period, also when a check was set far off to
        # wait for a close that has now arrived (``_check`` recomputes everything).
        due = now + self._quiet()
        if self._timer is None or self._due > due:
            if self._timer is not None:
                self._timer.cancel()
            self._schedule(loop, due)
        fresh = self._pending - before
        if fresh and self._on_progress is not None:
            self._on_progress(ChangeSet(frozenset(fresh)))

    def _quiet(self) -> float:
        """How long the burst must stay silent to be over, as it stands."""
        if self._writes >= BURST_WRITES or self._follows:
            return self.burst_quiet
        if self._finished and self.track_close and not self._open_for_write:
            return self.finished_quiet
        return self.quiet

    def _note(self, event: RawEvent) -> bool:
        touched = self._note_one(event)
        if touched:
            self._finished = event.kind == "closed" or (
                event.kind == "moved" and event.dest is not None
            )
            if self._finished:
                self._finished_ns = time.time_ns()
        return touched

    def _note_one(self, event: RawEvent) -> bool:
        if event.kind == "moved":
            # A rename is a delete of the source and a change of the target; an
            # editor's temp-then-rename save leaves only the target, since the
            # temp name is ignored.
            touched = self._take(event.path)
            if event.dest is not None:
                self._open_for_write.discard(event.path)
                touched = self._take(event.dest) or touched
            self._writes += touched
            return touched
        if event.is_directory and event.kind in ("modified", "closed", "attrib"):
            # A folder's mtime changes whenever a file in it does: no news.
            return False
        if not self._take(event.path):
            return False
        if event.kind == "deleted":
            self._deletes += 1
            self._deleted_in.add(event.path.parent)
        if event.kind != "modified" or not self.track_close:
            self._writes += 1
        if self.track_close and not event.is_directory:
            if event.kind == "modified":
                self._open_for_write.add(event.path)
            elif event.kind in ("closed", "deleted"):
                self._open_for_write.discard(event.path)
        return True

    def _take(self, path: Path) -> bool:
        if self._ignore(path) or self._states.unchanged(path):
            return False
        if self._states.holds_same_bytes(path):
            return False  # a trailing event of a change set that went out
        self._pending.add(path)
        return True

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        # A folder emptied and being refilled is one change: wait for the whole output.
        rebuilding = self.rebuilding
        max_wait = max(self.max_wait, REBUILD_MAX_WAIT_SECONDS) if rebuilding else self.max_wait
        if now - self._first < max_wait:
            quiet = self._quiet()
            if rebuilding:
                quiet = max(quiet, REBUILD_QUIET_SECONDS)
            due = self._last + (self.write_grace if self._open_for_write else quiet)
            if due <= now:
                # Events can lag behind writes when the machine is busy: a file
                # written less than ``quiet`` ago is still being worked on, and a
                # missing one may be an editor's save that renames the old file away
                # before writing the new one.
                age, missing = self._states.survey(self._pending)
                # A finished write covers all written before its event was seen (the
                # mtime is never later than the write); a younger mtime says the
                # writer went on and its events lag: give it the whole quiet period.
                lagging = age is not None and age < (time.time_ns() - self._finished_ns) / 1e9
                fresh = self.quiet if quiet == self.finished_quiet and lagging else quiet
                if age is not None and age < fresh:
                    due = now + fresh - age
                if lagging:
                    # Its events are on their way. After the loop was held up, uvloop runs
                    # a due timer before the callbacks the watcher queued meanwhile: look
                    # again once they are in, or a script's 50 saves flush after the first.
                    due = max(due, now + self.quiet)
                if missing:
                    due = max(due, self._last + MISSING_GRACE_SECONDS)
            if due > now:
                self._schedule(loop, due)
                return
        self.flush()

    def _schedule(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        self._due = due
        self._timer = loop.call_at(due, self._check)

    def _reset(self) -> None:
        """Forget the burst: the next event starts a new one."""
        self._pending.clear()
        self._open_for_write.clear()
        self._writes = 0
        self._deletes = 0
        self._deleted_in.clear()
        self._snapshot = None
        self._finished = False
        self._follows = False

    def flush(self) -> None:
        """Emit what has gathered now (also used at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        changes = ChangeSet(frozenset(self._pending))
        if changes:
            self._flushed, self._flushed_paths = self._last, changes.paths
        self._states.remember(self._pending)
        self._reset()
        try:
            if changes:
                self._on_change(changes)
        finally:
            self._settled.set()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._reset()
        self._settled.set()
