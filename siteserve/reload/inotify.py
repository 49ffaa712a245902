"""watchdog's inotify observer, telling us two things it otherwise keeps to itself.

watchdog (7.x) handles both quietly: when the kernel's event queue overflows
(``IN_Q_OVERFLOW``) it logs a warning and rebuilds its watches, but the events
that were dropped are never reported; when a folder created after start
cannot get a watch (``ENOSPC``: ``fs.inotify.max_user_watches`` reached) it
skips the folder, and nothing under it is ever reported. ``ReportingObserver``
is the same observer on a watchdog ``InotifyFD`` that also calls ``hooks``:
``overflowed()`` once the watches are rebuilt, ``unwatched(folder)`` for each
folder refused a watch. Both run on watchdog's threads.

Linux only: import this module only where watchdog's ``Observer`` is inotify's.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Protocol

from watchdog.observers.api import DEFAULT_OBSERVER_TIMEOUT, BaseObserver
from watchdog.observers.inotify import InotifyEmitter
from watchdog.observers.inotify_c import (
    CallbackId,
    InotifyEvent,
    InotifyFD,
    Mask,
    WatchCallback,
    WatchDescriptor,
)

#: errno values that mean "this machine cannot give us more inotify watches or instances".
OUT_OF_WATCHES = (errno.ENOSPC, errno.EMFILE)


class InotifyHooks(Protocol):
    def overflowed(self) -> None:
        """Events were lost: anything under the watched folder may have changed."""

    def unwatched(self, folder: Path) -> None:
        """``folder`` could get no watch (out of watches): its changes go unreported."""


class _ReportingFD(InotifyFD):
    def __init__(self, hooks: InotifyHooks) -> None:
        super().__init__()
        self._hooks = hooks

    def add_callback(
        self, path: bytes, mask: Mask, callback: WatchCallback, id_: CallbackId
    ) -> WatchDescriptor:
        try:
            return super().add_callback(path, mask, callback, id_)
        except OSError as error:
            if error.errno in OUT_OF_WATCHES:
                self._hooks.unwatched(Path(os.fsdecode(path)))
            raise

    def handle_event(self, event: InotifyEvent) -> None:
        super().handle_event(event)  # an overflow: watchdog rebuilds its watches first
        if event.is_queue_overflow:
            self._hooks.overflowed()


class ReportingObserver(BaseObserver):
    """watchdog's ``InotifyObserver``, on an ``InotifyFD`` that reports to ``hooks``."""

    def __init__(self, hooks: InotifyHooks) -> None:
        self.inotify_fd = _ReportingFD(hooks)
        self.inotify_fd.start()
        super().__init__(
            InotifyEmitter, timeout=DEFAULT_OBSERVER_TIMEOUT, inotify_fd=self.inotify_fd
        )

    def on_thread_stop(self) -> None:
        super().on_thread_stop()
        self.inotify_fd.stop()
        self.inotify_fd.join()
