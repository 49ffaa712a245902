"""What a file name means to the site: hidden, a template source, a route, a page.

The resolver and the directory listing share these rules so that what a
listing shows and what a URL can reach never disagree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CONFIG_NAME = "siteserve.toml"

#: Suffixes that mark a Jinja template source; such files are rendered, never served raw.
TEMPLATE_SUFFIXES = (".jinja", ".j2", ".jinja2")

#: What a clean name ``n`` is tried as, in order, when looking for a template.
PAGE_SUFFIXES = (".html.jinja", ".jinja", ".html.j2", ".j2", ".html.jinja2", ".jinja2")

#: Folder index names, in the order they win.
INDEX_NAMES = ("index.html", *("index" + suffix for suffix in PAGE_SUFFIXES))

#: ``[name]`` matches one URL segment, ``[...name]`` the rest of the path.
ROUTE_PATTERN = re.compile(r"\[(\.\.\.)?([A-Za-z_][A-Za-z0-9_]*)\](.*)", re.DOTALL)

_WINDOWS = os.name == "nt"
_DRIVE = re.compile(r"[A-Za-z]:")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"} | {f"com{i}" for i in range(10)} | {f"lpt{i}" for i in range(10)}
)
_WINDOWS_SHORT_NAME = re.compile(r"~[0-9]")


def _canonical(name: str) -> str:
    # Windows drops trailing dots and spaces when opening a file, and several
    # file systems ignore case: compare names the way the disk would.
    return name.rstrip(". ").casefold()


def is_hidden(name: str) -> bool:
    """Dotfiles, ``_`` files and folders (layouts, partials, data) and the config file."""
    return name.startswith((".", "_")) or _canonical(name) == CONFIG_NAME


def is_template_source(name: str) -> bool:
    return _canonical(name).endswith(TEMPLATE_SUFFIXES)


def is_route_name(name: str) -> bool:
    """A file or folder whose name starts with ``[param]`` or ``[...param]``."""
    match = ROUTE_PATTERN.fullmatch(name)
    return match is not None and (not match.group(3) or match.group(3).startswith("."))


def error_template(root: Path, status: int) -> Path | None:
    """The site's template for an error status (``404.html.jinja``, ``404.j2``...) at
    ``root``, if it has one."""
    for suffix in PAGE_SUFFIXES:
        path = root / f"{status}{suffix}"
        if path.is_file():
            return path
    return None


def strip_template_suffix(name: str) -> str | None:
    """The name a template is served as: ``a.html.jinja`` -> ``a.html``, ``a.j2`` -> ``a.html``.

    None when ``name`` is not a template source.
    """
    lowered = name.casefold()
    for suffix in TEMPLATE_SUFFIXES:
        if lowered.endswith(suffix):
            served = name[: -len(suffix)]
            if not served:
                return None
            # A template without an inner extension is an HTML page.
            if "." not in served.lstrip("."):
                served += ".html"
            return served
    return None


def segment_is_safe(segment: str) -> bool:
    """Whether one decoded URL segment may name something we serve.

    ``.`` and ``..`` fall under the dotfile rule, so no traversal segment
    survives; separators and NUL inside a segment mean a client encoded them
    to slip past a split on ``/`` (``%2f``, ``%5c``, ``%00``).
    """
    if not segment or is_hidden(segment):
        return False
    for char in segment:
        if char in "/\\" or ord(char) < 0x20 or char == "\x7f":
            return False
    if _DRIVE.match(segment):
        return False
    if _WINDOWS:
        return _windows_segment_is_safe(segment)
    return True


def _windows_segment_is_safe(segment: str) -> bool:
    # Alternate data streams ("name::$DATA"), trailing dots and spaces, 8.3
    # short names ("SITESE~1.TOM") and device names are other spellings of a
    # file on Windows; none is a name a site needs.
    if _WINDOWS_SHORT_NAME.search(segment):
        return False
    return _windows_can_create(segment)


#: Characters no Windows file name may hold (besides controls and separators).
_WINDOWS_RESERVED = frozenset('<>:"|?*')


def _windows_can_create(segment: str) -> bool:
    if any(char in _WINDOWS_RESERVED for char in segment) or segment[-1] in ". ":
        return False
    return segment.split(".", 1)[0].casefold() not in _WINDOWS_DEVICES


def is_portable(segment: str) -> bool:
    """Whether a name we serve can also be made as it is on every OS (a zip entry's segment).

    On top of ``segment_is_safe`` (no separators, controls, drive letter, ``..``
    or hidden name): valid text (a name on disk that is not UTF-8 has no URL
    either), and nothing Windows refuses or reads otherwise (``:``, ``<>"|?*``,
    a trailing dot or space, device names such as ``CON``).
    """
    if not segment_is_safe(segment) or not _windows_can_create(segment):
        return False
    try:
        segment.encode("utf-8")
    except UnicodeEncodeError:  # surrogate escapes of undecodable bytes (os.fsdecode)
        return False
    return True
