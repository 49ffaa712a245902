"""Watch the site folder in a thread and hand event batches to the event loop.

watchdog's observer runs in its own thread (inotify on Linux, FSEvents on
macOS, ReadDirectoryChangesW on Windows). Its callbacks never touch the app:
they append plain ``RawEvent``s to a list and, once per batch, schedule the
sink on the loop with ``call_soon_threadsafe``. When native watching is not
possible (``--poll``, network and container mounts, or inotify out of
watches) a polling observer takes over that skips ignored folders.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
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

from siteserve.reload.changes import IgnoreRules, RawEvent

log = logging.getLogger("siteserve.reload")

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

#: errno values that mean "this machine cannot give us more inotify watches or instances".
_OUT_OF_WATCHES = (errno.ENOSPC, errno.EMFILE)


ObserverFactory = Callable[[], BaseObserver]
Sink = Callable[[list[RawEvent]], None]


class _Handoff(FileSystemEventHandler):
    """Runs in the observer thread: turns events into RawEvents and batches them to the loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        self._loop = loop
        self._sink = sink
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
        self._handoff = _Handoff(loop, sink)
        self._ignore = ignore or IgnoreRules(root)
        self._poll = poll
        self._poll_interval = poll_interval
        self._native_factory: ObserverFactory = native_factory or Observer
        self._observer: BaseObserver | None = None
        #: "native" or "polling" once started.
        self.mode = ""
        #: Whether "closed" events come after writes (inotify only; FSEvents,
        #: ReadDirectoryChangesW and polling have none), so bursts may wait for them.
        self.reports_close = False

    def start(self) -> None:
        if not self._poll:
            try:
                observer = self._native_factory()
                self._observer = self._start(observer)
                self.mode = "native"
                # Only inotify tells when a file written is closed (IN_CLOSE_WRITE).
                self.reports_close = type(observer).__module__ == "watchdog.observers.inotify"
                return
            except OSError as error:
                if error.errno not in _OUT_OF_WATCHES:
                    raise
                log.warning(
                    "file watching: %s (raise fs.inotify.max_user_watches to fix); "
                    "polling %s every %.2fs instead",
                    error.strerror or error,
                    self.root,
                    self._poll_interval,
                )
        self._observer = self._start(self._polling_observer())
        self.mode = "polling"

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

    def _polling_observer(self) -> BaseObserver:
        ignore = self._ignore

        def listdir(path: str | None) -> Iterator[os.DirEntry[str]]:
            # Never descend into node_modules or .git: scanning them each interval is the cost.
            folder = Path(path or ".")
            with os.scandir(folder) as entries:
                yield from (entry for entry in entries if not ignore(folder / entry.name))

        return PollingObserverVFS(
            stat=os.stat, listdir=listdir, polling_interval=self._poll_interval
        )

    def stop(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            _stop_quietly(observer)


def _stop_quietly(observer: BaseObserver) -> None:
    try:
        observer.stop()
        observer.join(timeout=5)
    except RuntimeError:
        # join() on a thread that never started.
        pass
