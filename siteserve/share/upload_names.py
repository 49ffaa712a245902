"""Names for uploaded files and new folders: made safe, and never over an existing file.

A client chooses the name, so it is cleaned before it touches the disk: only
the last path segment, no control or invisible formatting characters, no
dotfile or ``_`` name (those are never served), no ``[param]`` route name,
and no name the site would run as a template (``.jinja``, ``.j2`` or a
``render`` glob): an upload must never become server-side code.

An upload is written under a temporary name first (``TEMP_GLOB``); that one
pattern is also how the watcher knows the server's own writes are not changes
and how the leftovers of a server killed mid-upload are found.
"""

from __future__ import annotations

import errno
import os
import secrets
import unicodedata
from collections.abc import Callable
from fnmatch import fnmatchcase
from pathlib import Path

from siteserve.site.listing import is_listed
from siteserve.site.names import is_hidden, is_template_source, segment_is_safe

#: Most file systems allow 255 bytes in one name.
MAX_NAME_BYTES = 255
FALLBACK = "upload"
#: Characters Windows refuses in names (and that confuse shells and URLs elsewhere).
_REPLACED = dict.fromkeys(map(ord, '<>:"|?*'), "_") | {ord("["): "(", ord("]"): ")"}
_WHITESPACE = dict.fromkeys(map(ord, "\t\n\r\v\f"), " ")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
_DOUBLE_SUFFIXES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tar.zst")
#: Tries of ``name (n)`` before giving up (a folder with a thousand copies is odd enough).
MAX_COPIES = 1000

#: Whether a name (relative to the site root, with "/") would be rendered as a page.
IsPage = Callable[[str], bool]

#: The hidden file an upload is written to in its target folder until it is whole
#: (a dot name: never served, listed or zipped).
TEMP_PREFIX = ".siteserve-upload-"
TEMP_SUFFIX = ".part"
TEMP_GLOB = f"{TEMP_PREFIX}*{TEMP_SUFFIX}"


def temporary_name() -> str:
    """A fresh name matching ``TEMP_GLOB`` (random: uploads at once never collide)."""
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}{TEMP_SUFFIX}"


def is_temporary(name: str) -> bool:
    """Whether ``name`` is an upload still being written (or left by a crash)."""
    return fnmatchcase(name, TEMP_GLOB)


def split_suffix(name: str) -> tuple[str, str]:
    """``photo.jpg`` -> (``photo``, ``.jpg``); ``a.tar.gz`` -> (``a``, ``.tar.gz``)."""
    lowered = name.lower()
    for suffix in _DOUBLE_SUFFIXES:
        if lowered.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], name[-len(suffix) :]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return name, ""
    return stem, "." + ext


def _visible(char: str) -> bool:
    # Cc: controls (NUL, ESC, DEL...); Cf: invisible formatting such as the
    # right-to-left override that makes "gpj.exe" read as "exe.jpg"; Zl/Zp: line breaks.
    return unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def _truncate(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, suffix = split_suffix(name)
    suffix = suffix[:16]
    budget = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
    return stem + suffix


def safe_name(raw: str, *, is_page: IsPage | None = None, folder_relative: str = "") -> str:
    """A name that is safe to create in a served folder, derived from what a client sent.

    ``folder_relative`` is the target folder relative to the root ("" or "a/b/"),
    for ``render`` globs that match on paths.
    """
    name = unicodedata.normalize("NFC", raw)
    # Old browsers send the whole client path; keep only the last segment.
    name = name.replace("\\", "/").rpartition("/")[2]
    name = name.translate(_WHITESPACE)
    name = "".join(char for char in name if _visible(char)).translate(_REPLACED)
    name = " ".join(name.split())  # tabs and runs of spaces become one space
    # No dotfiles, no "_" names, no trailing dots or spaces (Windows drops them).
    name = name.lstrip("._ -").rstrip(". ")
    if not name:
        name = FALLBACK
    stem, suffix = split_suffix(name)
    if stem.casefold() in _WINDOWS_DEVICES:
        name = stem + "_" + suffix
    name = _truncate(name)
    # A template source or a page glob would be run by the site, not served: make it text.
    if _runs(name, is_page, folder_relative) or is_hidden(name):
        name = _truncate(name + ".txt")  # siteserve.toml is hidden: it would sit unseen
    if not is_listed(name) or not segment_is_safe(name):
        name = FALLBACK
    if _runs(name, is_page, folder_relative):
        raise UnsafeName(f"{name!r} would be rendered as a page by the site's render globs")
    return name


class UnsafeName(ValueError):
    """No safe name exists (the site renders every name as a page): the upload is refused."""


def _runs(name: str, is_page: IsPage | None, folder_relative: str) -> bool:
    return is_template_source(name) or (is_page is not None and is_page(folder_relative + name))


def numbered(name: str, copy: int) -> str:
    """``photo.jpg`` as its ``copy``-th alternative: ``photo (1).jpg``."""
    if copy == 0:
        return name
    stem, suffix = split_suffix(name)
    return _truncate(f"{stem} ({copy}){suffix}")


def place_file(temporary: Path, folder: Path, name: str) -> str:
    """Move a finished upload to ``name`` in ``folder`` without replacing anything.

    ``os.link`` fails when the name exists, atomically, so two uploads of the
    same name at once still end up as ``a.txt`` and ``a (1).txt``. Where hard
    links are not supported, the name is claimed with O_EXCL and the upload
    renamed over that empty claim.
    """
    for copy in range(MAX_COPIES):
        candidate = numbered(name, copy)
        target = folder / candidate
        try:
            os.link(temporary, target)
        except FileExistsError:
            continue
        except OSError as error:
            if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
                raise
            try:
                os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue
            os.replace(temporary, target)
            return candidate
        os.unlink(temporary)
        return candidate
    raise FileExistsError(errno.EEXIST, f"too many files named like {name}")


def make_folder(folder: Path, name: str) -> str:
    """Create ``name`` in ``folder``; an existing folder of that name is simply reused."""
    for copy in range(MAX_COPIES):
        candidate = numbered(name, copy)
        target = folder / candidate
        try:
            os.mkdir(target)
        except FileExistsError:
            if target.is_dir() and not target.is_symlink():
                return candidate
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, f"too many entries named like {name}")
