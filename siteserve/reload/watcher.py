"""Watch the site folder in a thread and hand event batches to the event loop.

watchdog's observer runs in its own thread (inotify on Linux, FSEvents on
macOS, ReadDirectoryChangesW on Windows). Its callbacks never touch the app:
they append plain ``RawEvent``s to a list and, once per batch, schedule the
sink on the loop with ``call_soon_threadsafe``. When native watching is not
possible (``--poll``, network and container mounts, or inotify out of
watches) a polling observer takes over that skips ignored folders.

The watcher never dies quietly. Folders that inotify cannot watch once watches
run out after start are polled by that same polling observer, looking into
those folders only; a lost stretch of events (inotify's queue overflowed) or
the root deleted and made again is a ``RESCAN`` of the root: everything may
have changed. A root that is deleted is watched again once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

from siteserve.reload.changes import RESCAN, IgnoreRules, RawEvent

log = logging.getLogger("siteserve.reload.watcher")

# watchdog 7 warns from its inotify thread when a folder created together with its
# subfolders gets the same watch twice (once by its scan, once by the subfolder's
# event); the duplicate is harmless, the warning is noise in the terminal.
warnings.filterwarnings(
    "ignore", message=r"Callback with id .* already exists", category=RuntimeWarning
)

#: Seconds between two scans of the folder when polling.
POLL_INTERVAL = 0.25

#: Only events that can change what a page shows; opens and reads are never asked for.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    FileAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]

#: Whether watchdog's own ``Observer`` here is inotify's (Linux): then ours reports more.
_INOTIFY = Observer.__module__ == "watchdog.observers.inotify"
if _INOTIFY:
    from siteserve.reload.inotify import OUT_OF_WATCHES, ReportingObserver
else:  # pragma: no cover (macOS, Windows)
    import errno

    OUT_OF_WATCHES = (errno.ENOSPC, errno.EMFILE)


ObserverFactory = Callable[[], BaseObserver]
Sink = Callable[[list[RawEvent]], None]


class _Handoff(FileSystemEventHandler):
    """Runs in the observer thread: turns events into RawEvents and batches them to the loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sink: Sink,
        root: Path,
        on_root_deleted: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._sink = sink
        self._root = root
        self._on_root_deleted = on_root_deleted
        self._lock = threading.Lock()
        self._batch: list[RawEvent] = []
        self._scheduled = False

    def dispatch(self, event: FileSystemEvent) -> None:
        dest = os.fsdecode(event.dest_path) if event.dest_path else None
        raw = RawEvent(
            kind=event.event_type,
            path=Path(os.fsdecode(event.src_path)),
            dest=Path(dest) if dest else None,
            is_directory=event.is_directory,
        )
        self.post(raw)
        if raw.kind == "deleted" and raw.is_directory and raw.path == self._root:
            # Both observers stop watching a root that is gone: it is watched again later.
            self._on_root_deleted()

    def post(self, raw: RawEvent) -> None:
        """Hand ``raw`` to the loop with the batch in progress (from any thread)."""
        with self._lock:
            self._batch.append(raw)
            if self._scheduled:
                return
            self._scheduled = True
        # RuntimeError: the loop closed while the observer was stopping; nobody listens.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, []
            self._scheduled = False
        if batch:
            self._sink(batch)


class _PolledFolders:
    """The folders the polling observer looks into, and the folders on the way to them.

    Written under the Watcher's lock, read by the polling thread without one: the
    pair is replaced whole, never changed in place.
    """

    def __init__(self) -> None:
        self.state: tuple[frozenset[Path], frozenset[Path]] = (frozenset(), frozenset())

    def add(self, folder: Path) -> None:
        folders, on_the_way = self.state
        self.state = (folders | {folder}, on_the_way | {folder, *folder.parents})

    def covers(self, folder: Path) -> bool:
        return not self.state[0].isdisjoint((folder, *folder.parents))


class Watcher:
    """Watches ``root`` recursively and feeds batches of RawEvents to ``sink`` on ``loop``."""

    def __init__(
        self,
        root: Path,
        sink: Sink,
        *,
        loop: asyncio.AbstractEventLoop,
        ignore: IgnoreRules | None = None,
        poll: bool = False,
        poll_interval: float = POLL_INTERVAL,
        native_factory: ObserverFactory | None = None,
    ) -> None:
        self.root = root
        self._handoff = _Handoff(loop, sink, root, self._root_deleted)
        self._ignore = ignore or IgnoreRules(root)
        self._poll = poll
        self._poll_interval = poll_interval
        self._native_factory: ObserverFactory = native_factory or self._native_observer
        # Reentrant: watches added while an observer starts can be refused, in that thread.
        self._lock = threading.RLock()
        self._stopped = threading.Event()
        self._observer: BaseObserver | None = None
        #: Polls what the native observer could not watch (started when first needed).
        self._fallback: BaseObserver | None = None
        self._polled = _PolledFolders()
        self._rewatch: threading.Thread | None = None
        #: "native" or "polling" once started.
        self.mode = ""
        #: Whether "closed" events come after writes (inotify only; FSEvents,
        #: ReadDirectoryChangesW and polling have none), so bursts may wait for them.
        self.reports_close = False

    def start(self) -> None:
        with self._lock:
            self._stopped.clear()
            self._observer = self._begin()

    def _begin(self) -> BaseObserver:
        if not self._poll:
            try:
                observer = self._start(self._native_factory())
                self.mode = "native"
                # Only inotify tells when a file written is closed (IN_CLOSE_WRITE).
                self.reports_close = type(observer).__module__ in (
                    "watchdog.observers.inotify",
                    "siteserve.reload.inotify",
                )
                return observer
            except OSError as error:
                if error.errno not in OUT_OF_WATCHES:
                    raise
                log.warning(
                    "file watching: %s (raise fs.inotify.max_user_watches to fix); "
                    "polling %s every %.2fs instead",
                    error.strerror or error,
                    self.root,
                    self._poll_interval,
                )
        everything = _PolledFolders()
        everything.add(self.root)
        self.mode = "polling"
        self.reports_close = False
        return self._start(self._polling_observer(everything))

    def _native_observer(self) -> BaseObserver:
        return ReportingObserver(self) if _INOTIFY else Observer()

    def _start(self, observer: BaseObserver) -> BaseObserver:
        try:
            observer.schedule(
                self._handoff, str(self.root), recursive=True, event_filter=EVENT_FILTER
            )
            observer.start()
        except BaseException:
            _stop_quietly(observer)
            raise
        return observer

    def _polling_observer(self, polled: _PolledFolders) -> BaseObserver:
        """Polls the folders in ``polled`` (the whole root when nothing else can watch it)."""
        ignore = self._ignore

        def listdir(path: str | None) -> Iterator[os.DirEntry[str]]:
            # Never descend into node_modules or .git: scanning them each interval is the cost.
            folder = Path(path or ".")
            everything = polled.covers(folder)
            on_the_way = polled.state[1]
            with os.scandir(folder) as entries:
                for entry in entries:
                    child = folder / entry.name
                    if (everything or child in on_the_way) and not ignore(child):
                        yield entry

        return PollingObserverVFS(
            stat=os.stat, listdir=listdir, polling_interval=self._poll_interval
        )

    # -- watchdog's threads report ---------------------------------------------------

    def overflowed(self) -> None:
        """inotify dropped events (its queue overflowed): everything may have changed."""
        log.warning("file watching: events were lost (inotify queue overflow); reloading")
        self._handoff.post(RawEvent(RESCAN, self.root, is_directory=True))

    def unwatched(self, folder: Path) -> None:
        """inotify ran out of watches for ``folder``: poll it (and what it holds) instead."""
        if folder == self.root or self._ignore(folder):
            return  # the root: ``start`` polls everything; ignored folders never matter
        with self._lock:
            if self._stopped.is_set() or self._polled.covers(folder):
                return
            first = self._fallback is None
            if first:
                # Started before the folder is added, so the first poll reports what the
                # folder already holds (made before anyone watched it) as created.
                self._fallback = self._start(self._polling_observer(self._polled))
            self._polled.add(folder)
        if first:
            log.warning(
                "file watching: inotify watch limit reached (raise fs.inotify.max_user_watches "
                "to fix); polling new folders such as %s every %.2fs",
                folder,
                self._poll_interval,
            )

    def _root_deleted(self) -> None:
        with self._lock:
            if self._stopped.is_set() or self._rewatch is not None:
                return
            self._rewatch = threading.Thread(
                target=self._watch_again, name="siteserve-rewatch", daemon=True
            )
            self._rewatch.start()

    def _watch_again(self) -> None:
        """Wait for the deleted root to come back, then watch it afresh."""
        while not self._stopped.wait(self._poll_interval):
            if self.root.is_dir() and self._swap():
                return

    def _swap(self) -> bool:
        """Watch the root with new observers; False when it went away again meanwhile."""
        with self._lock:
            if self._stopped.is_set():
                return True
            # From here a new deletion of the root starts a new wait, and folders refused
            # a watch while the new observer starts go to a new fallback.
            self._rewatch = None
            stale = [self._fallback]
            self._fallback, self._polled = None, _PolledFolders()
            again = False
            try:
                observer: BaseObserver | None = self._begin()
            except FileNotFoundError:
                self._rewatch = threading.current_thread()  # gone again already
                observer, again = None, True
            except OSError as error:
                log.error("file watching stopped: %s cannot be watched: %s", self.root, error)
                observer = None
            if observer is not None:
                stale.append(self._observer)
                self._observer = observer
        for old in stale:
            if old is not None:
                _stop_quietly(old)
        if observer is None:
            return not again
        # Whatever was written before the new watches were in place went unseen.
        self._handoff.post(RawEvent(RESCAN, self.root, is_directory=True))
        return True

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            observers = [self._observer, self._fallback]
            self._observer = self._fallback = None
            rewatch, self._rewatch = self._rewatch, None
        for observer in observers:
            if observer is not None:
                _stop_quietly(observer)
        if rewatch is not None and rewatch is not threading.current_thread():
            rewatch.join(timeout=5)


def _stop_quietly(observer: BaseObserver) -> None:
    try:
        observer.stop()
        observer.join(timeout=5)
    except RuntimeError:
        # join() on a thread that never started.
        pass
