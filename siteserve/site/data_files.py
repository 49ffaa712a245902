"""``_data/*.json|toml|yaml|yml|csv``, visible to pages as ``data.STEM``.

Files are read the first time a page asks for them and kept until they change:
each access compares the file's (mtime, size) with the cached copy, so an
edit shows on the next request even without a watcher; ``forget`` (called on
file events) drops entries at once. Every file a render reads is recorded as
one of the page's sources.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
import tomllib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Undefined

from siteserve import bounds
from siteserve.site.jinja_env import is_within, record, render_memo

DATA_FOLDER = "_data"
#: Parsed files kept, least recently used dropped first (``bounds``).
MAX_FILES = bounds.DATA_FILES

_MISSING = object()


def _load_json(text: str) -> Any:
    return json.loads(text)


def _load_toml(text: str) -> Any:
    return tomllib.loads(text)


def _load_yaml(text: str) -> Any:
    # safe_load builds plain data only: a data file never constructs Python objects.
    return yaml.safe_load(text)


def _load_csv(text: str) -> Any:
    return list(csv.DictReader(io.StringIO(text, newline="")))


#: Readers by extension; when two files share a stem, the earlier extension wins.
_READERS: dict[str, Callable[[str], Any]] = {
    ".json": _load_json,
    ".toml": _load_toml,
    ".yaml": _load_yaml,
    ".yml": _load_yaml,
    ".csv": _load_csv,
}
_PREFERENCE = tuple(_READERS)


class DataFileError(Exception):
    """A data file that cannot be read or parsed; the message names it relative to the site."""


class DataFiles:
    """The ``_data`` folder of one site, with a per-file cache. Safe to share between threads."""

    def __init__(self, root: Path, *, follow_symlinks: bool = False) -> None:
        self._root = os.path.realpath(root)
        self._folder = os.path.join(self._root, DATA_FOLDER)
        self._follow_symlinks = follow_symlinks
        self._lock = threading.Lock()
        self._files: OrderedDict[str, tuple[tuple[int, int, int], Any]] = OrderedDict()
        self._index: tuple[int, dict[str, str]] | None = None

    def names(self) -> dict[str, str]:
        """Stem -> file path for every data file; re-listed when the folder changes."""
        try:
            stamp = os.stat(self._folder).st_mtime_ns
        except OSError:
            return {}
        index = self._index
        if index is not None and index[0] == stamp:
            return index[1]
        found: dict[str, str] = {}
        with os.scandir(self._folder) as entries:
            for entry in sorted(entries, key=lambda entry: entry.name):
                stem, extension = os.path.splitext(entry.name)
                extension = extension.lower()
                if entry.name.startswith((".", "_")) or extension not in _READERS:
                    continue
                if not entry.is_file():
                    continue
                current = found.get(stem)
                if current is None or _PREFERENCE.index(extension) < _PREFERENCE.index(
                    os.path.splitext(current)[1].lower()
                ):
                    found[stem] = entry.path
        self._index = (stamp, found)
        return found

    def get(self, name: str) -> Any:
        """The parsed contents of ``_data/NAME.*``; KeyError when there is none.

        Within one render the first answer stands: the file is checked on disk
        once, and every use in the page sees the same version of it.
        """
        memo = render_memo()
        if memo is None:
            return self._get(name)
        key = "data:" + name
        if key not in memo:
            try:
                memo[key] = self._get(name)
            except KeyError:
                memo[key] = _MISSING
        value = memo[key]
        if value is _MISSING:
            raise KeyError(name)
        return value

    def _get(self, name: str) -> Any:
        path = self.names().get(name)
        if path is None:
            # Record where it would be, so creating it reloads the pages that asked.
            for extension in _READERS:
                record(os.path.join(self._folder, name + extension))
            raise KeyError(name)
        record(path)
        return self._read(path)

    def _read(self, path: str) -> Any:
        try:
            status = os.stat(path)
        except OSError as error:
            raise DataFileError(f"{self._relative(path)}: {error.strerror}") from error
        # The inode too: a symlink pointed elsewhere is a new version, checked again below.
        stamp = (status.st_mtime_ns, status.st_size, status.st_ino)
        with self._lock:
            cached = self._files.get(path)
            if cached is not None and cached[0] == stamp:
                self._files.move_to_end(path)
                return cached[1]
        if not self._follow_symlinks and not is_within(os.path.realpath(path), self._root):
            raise DataFileError(f"{self._relative(path)}: refers outside the site folder")
        reader = _READERS[os.path.splitext(path)[1].lower()]
        try:
            # utf-8-sig: spreadsheets often save CSV with a byte-order mark.
            with open(path, encoding="utf-8-sig") as handle:
                value = reader(handle.read())
        except (OSError, ValueError, yaml.YAMLError, csv.Error) as error:
            # json, tomllib and UnicodeDecodeError all raise ValueError subclasses.
            raise DataFileError(f"{self._relative(path)}: {error}") from error
        with self._lock:
            self._files[path] = (stamp, value)
            self._files.move_to_end(path)
            while len(self._files) > MAX_FILES:
                self._files.popitem(last=False)
        return value

    def missing(self, name: str) -> str:
        """Why ``data.NAME`` is not there, naming the data folder and what it holds."""
        wanted = ", ".join(f"{name}{extension}" for extension in _READERS)
        try:
            with os.scandir(self._folder) as entries:
                present = sorted(
                    entry.name
                    for entry in entries
                    if not entry.name.startswith((".", "_")) and entry.is_file()
                )
        except OSError:
            return f"data.{name}: there is no data folder {self._folder} (to hold {wanted})"
        held = ", ".join(present[:20]) + (", ..." if len(present) > 20 else "") or "no files"
        return f"data.{name}: none of {wanted} is in {self._folder}, which holds {held}"

    def _relative(self, path: str) -> str:
        return os.path.relpath(path, self._root).replace(os.sep, "/")

    def forget(self, paths: Iterable[Path]) -> None:
        """Drop cached files at or under ``paths``."""
        prefixes = [os.path.abspath(path) for path in paths]
        with self._lock:
            for cached in list(self._files):
                if any(cached == p or cached.startswith(p + os.sep) for p in prefixes):
                    del self._files[cached]
            if any(is_within(self._folder, p) or is_within(p, self._folder) for p in prefixes):
                self._index = None


class DataView:
    """What a page sees as ``data``: ``data.authors`` or ``data["authors"]``, loaded on use.

    It has no public methods, so any stem (``items``, ``keys``) stays reachable
    as an attribute; ``{% for name in data %}`` lists the stems. A name with no
    file is an ``undefined`` (the environment's kind) whose message names the
    data folder and the files in it: Jinja asks ``data["nope"]`` after the
    attribute lookup fails, and keeps what that answers.
    """

    __slots__ = ("_files", "_undefined")

    def __init__(self, files: DataFiles, undefined: type[Undefined] = Undefined) -> None:
        self._files = files
        self._undefined = undefined

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._files.get(name)
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        try:
            return self._files.get(name)
        except KeyError:
            return self._undefined(hint=self._files.missing(name), obj=self, name=name)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._files.names()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._files.names()))

    def __repr__(self) -> str:
        return f"<data {sorted(self._files.names())}>"
