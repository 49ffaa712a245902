"""How far a build is: a rich progress bar on a terminal, a plain line now and then otherwise.

The bar is refreshed by the build's own loop (no refresh thread), so the build
process stays single-threaded and may fork its workers at any time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import IO, Protocol

from rich.console import Console as RichConsole

from siteserve.sizes import human_size

#: Seconds between two plain progress lines, and between two refreshes of the bar.
PLAIN_INTERVAL = 2.0
BAR_INTERVAL = 0.1


@dataclass(slots=True)
class Counts:
    pages_done: int = 0
    #: Pages found so far (more appear as the build follows links).
    pages_known: int = 0
    files_done: int = 0
    files_total: int = 0
    bytes_done: int = 0


class BuildProgress(Protocol):
    def due(self, now: float) -> bool:
        """Whether an ``update`` at ``now`` (``time.monotonic()``) would show anything: the
        counts cost a sum over every file written, not worth making for nothing."""
        ...

    def update(self, counts: Counts) -> None: ...

    def close(self) -> None: ...


class NoProgress:
    def due(self, now: float) -> bool:
        return False

    def update(self, counts: Counts) -> None:
        pass

    def close(self) -> None:
        pass


class PlainProgress:
    """A line every few seconds: for logs and CI, where a bar would be noise."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._last = time.monotonic()

    def due(self, now: float) -> bool:
        return now - self._last >= PLAIN_INTERVAL

    def update(self, counts: Counts) -> None:
        now = time.monotonic()
        if not self.due(now):
            return
        self._last = now
        try:
            self._out.write(
                f"building: {counts.pages_done}/{counts.pages_known} pages,"
                f" {counts.files_done}/{counts.files_total} files,"
                f" {human_size(counts.bytes_done)}\n"
            )
            self._out.flush()
        except (OSError, ValueError):
            pass

    def close(self) -> None:
        pass


class BarProgress:
    """Two bars (pages, files) and the bytes written, drawn by rich, gone when done."""

    def __init__(self, console: RichConsole) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("{task.description:<6}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[size]}"),
            console=console,
            auto_refresh=False,
            transient=True,
        )
        self._pages = self._progress.add_task("pages", total=None, size="")
        self._files = self._progress.add_task("files", total=None, size="")
        self._last = 0.0
        self._progress.start()

    def due(self, now: float) -> bool:
        return now - self._last >= BAR_INTERVAL

    def update(self, counts: Counts) -> None:
        now = time.monotonic()
        if not self.due(now):
            return
        self._last = now
        self._progress.update(
            self._pages, completed=counts.pages_done, total=max(counts.pages_known, 1)
        )
        self._progress.update(
            self._files,
            completed=counts.files_done,
            total=max(counts.files_total, 1),
            size=human_size(counts.bytes_done),
        )
        self._progress.refresh()

    def close(self) -> None:
        self._progress.stop()


def progress_for(console: RichConsole) -> BuildProgress:
    if console.is_terminal:
        return BarProgress(console)
    return PlainProgress(console.file)
