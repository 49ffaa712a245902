"""YAML front matter: the block between two ``---`` lines at the top of a page.

Markdown pages and HTML templates alike may start with one::

    ---
    title: Hello
    date: 2024-05-02
    tags: [intro, news]
    ---
    The page itself.

The block must open on the first line and be closed by a line of ``---`` (or
``...``); without the closing line the file has no front matter (a Markdown
file may well start with a ``---`` rule). What is in it is parsed with YAML's
safe loader into a dict. A block that is not YAML, or not a mapping, is a
``FrontMatterError``: a Jinja syntax error naming the file and the line, so the
template error page shows it like any other.

``FrontMatterIndex`` keeps what was parsed per file, until the file changes.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml

from siteserve import bounds

_CLOSING = frozenset({"---", "..."})
_BOM = "\ufeff"
# The C loader when PyYAML has it: a thousand posts' front matter parse in a blink.
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FrontMatterError(jinja2.TemplateSyntaxError):
    """A front matter that is not YAML or not a mapping, at ``filename``:``lineno``."""


@dataclass(frozen=True, slots=True)
class Split:
    """A file's text cut in two: its front matter, parsed, and the rest."""

    meta: dict[str, Any]
    body: str
    #: Lines taken by the front matter and its fences (0 when there is none).
    lines: int


def split(text: str, filename: str | None = None) -> Split:
    """``text``'s front matter and body; ``filename`` goes into errors."""
    if text.startswith(_BOM):
        text = text[1:]
    first_end = text.find("\n")
    if not text.startswith("---") or first_end < 0 or text[:first_end].rstrip() != "---":
        return Split({}, text, 0)
    # Lines end at "\n" only, as Jinja counts them (str.splitlines knows a dozen more ends).
    start = first_end + 1
    line = 1
    while start < len(text):
        end = text.find("\n", start)
        stop = len(text) if end < 0 else end + 1
        line += 1
        if text[start:stop].rstrip() in _CLOSING:
            block = text[first_end + 1 : start]
            return Split(parse(block, filename, first_line=2), text[stop:], line)
        start = stop
    return Split({}, text, 0)  # never closed: a rule, not a front matter


def blanked(text: str, filename: str | None = None) -> tuple[dict[str, Any], str]:
    """The front matter, and ``text`` with it turned into a Jinja comment of as many lines.

    For templates: Jinja then compiles the body with every line where it was, so
    error messages point at the right line, and the output starts with the body
    itself (an XML declaration must be the first thing in a feed).
    """
    found = split(text, filename)
    if not found.lines:
        return {}, text
    return found.meta, "{#" + "\n" * found.lines + "#}" + found.body


def parse(block: str, filename: str | None, *, first_line: int) -> dict[str, Any]:
    """The YAML ``block`` (whose first line is line ``first_line`` of the file) as a dict."""
    try:
        value = yaml.load(block, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = first_line + (mark.line if mark is not None else 0)
        # An unclosed bracket is found at the end of the block: point at its last line.
        line = min(line, first_line + max(block.count("\n") - 1, 0))
        problem = " ".join(part for part in (error.context, error.problem) if part)
        raise _error(f"front matter is not valid YAML: {problem}", line, filename) from None
    except yaml.YAMLError as error:
        raise _error(f"front matter is not valid YAML: {error}", first_line, filename) from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        kind = type(value).__name__
        message = f"front matter must be 'key: value' lines, not a {kind}"
        raise _error(message, first_line, filename)
    return {str(key): item for key, item in value.items()}


def _error(message: str, line: int, filename: str | None) -> FrontMatterError:
    name = os.path.basename(filename) if filename else None
    return FrontMatterError(message, line, name, filename)


Stamp = tuple[int, int, int]


def stamp_of(path: Path | str) -> Stamp | None:
    """(mtime, size, inode) of a regular file, or None when it is not one."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


@dataclass(slots=True)
class Indexed:
    """One file as the index knows it; ``memo`` holds what was made from it (HTML, excerpt)."""

    path: Path
    stamp: Stamp
    meta: dict[str, Any]
    body: str
    memo: dict[str, Any] = field(default_factory=dict)


class FrontMatterIndex:
    """Front matter and body per file, parsed once per version of the file.

    ``trusted``: a watcher calls ``forget`` on every change, so an entry is used
    without looking at the disk again; otherwise each use compares the file's
    (mtime, size, inode) with the entry's. Safe to share between threads.
    """

    def __init__(self, *, trusted: bool = False, limit: int = bounds.FRONT_MATTER_FILES) -> None:
        self.trusted = trusted
        self._limit = limit
        self._entries: dict[Path, Indexed] = {}
        self._lock = threading.Lock()

    def get(self, path: Path) -> Indexed:
        """The file's entry; OSError when it cannot be read, FrontMatterError when broken."""
        entry = self._entries.get(path)
        if entry is not None and self.trusted:
            return entry
        current = stamp_of(path)
        if current is None:
            raise FileNotFoundError(path)
        if entry is not None and entry.stamp == current:
            return entry
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            text = handle.read()
        found = split(text, str(path))
        entry = Indexed(path, current, found.meta, found.body)
        with self._lock:
            if len(self._entries) >= self._limit:
                self._entries.clear()
            self._entries[path] = entry
        return entry

    def forget(self, paths: Iterable[Path]) -> None:
        """Drop the entries of files at or under ``paths``."""
        prefixes = [str(path) for path in paths]
        if not prefixes:
            return
        with self._lock:
            for known in list(self._entries):
                text = str(known)
                if any(text == p or text.startswith(p + os.sep) for p in prefixes):
                    del self._entries[known]
