"""A template that fails answers 500 with a page that says where and why.

The page names the template file (relative to the site folder) and line, shows
the source lines around it with that line marked, and the message; all of it
escaped, and every mention of the site folder's own path made relative (Jinja
names its search path in a TemplateNotFound). It is filled from the exception
and the one failing file, read as text: nothing of the site is executed to
make it, and a file outside the site folder (or one the render did not load)
is never shown.

That page is for the person editing the site, on this machine: it shows the
source of templates that are never served (``_layouts/``, ``_partials/``, the
page's own). So only a client on a loopback address gets it; a visitor from
the LAN gets the plain 500 page. The terminal always gets one line,
``file:line: kind: message``, on the ``siteserve.pages`` logger.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

import jinja2

from siteserve.http import Response
from siteserve.site import assets
from siteserve.site.errors import builtin_error
from siteserve.site.jinja_env import is_within

logger = logging.getLogger("siteserve.pages")

#: Lines of source shown on each side of the failing line.
CONTEXT_LINES = 5


@dataclass(frozen=True, slots=True)
class SourceLine:
    number: int
    text: str
    marked: bool


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """Where a render failed: ``file`` is relative to the site, ``line`` 1-based or None."""

    file: str
    path: Path | None
    line: int | None
    kind: str
    message: str
    source: tuple[SourceLine, ...]

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def describe(error: BaseException, root: Path, page: Path, loaded: set[str]) -> TemplateProblem:
    """Find the failing template and line in ``error``; fall back to the page itself.

    A syntax error carries its file and line; a runtime error's traceback has a
    frame per template line (Jinja rewrites it so), and the innermost frame in
    a template this render loaded is the place to show.
    """
    real_root = os.path.realpath(root)
    filename: str | None = None
    line: int | None = None
    if isinstance(error, jinja2.TemplateSyntaxError) and error.filename:
        filename, line = error.filename, error.lineno
    else:
        for frame in reversed(traceback.extract_tb(error.__traceback__)):
            if frame.filename in loaded:
                filename, line = frame.filename, frame.lineno
                break
    path = Path(filename) if filename else page
    if not is_within(os.path.realpath(path), real_root):
        path, line = page, None
    message = error.message if isinstance(error, jinja2.TemplateError) else str(error)
    return TemplateProblem(
        file=Path(os.path.relpath(path, root)).as_posix(),
        path=path,
        line=line,
        kind=type(error).__name__,
        message=_relative(message, (str(root), real_root)) or type(error).__name__,
        source=_source_around(path, line),
    )


def _relative(message: str | None, roots: tuple[str, ...]) -> str:
    """``message`` with the site folder's path taken out: ``/home/me/site/a.html`` -> ``a.html``."""
    text = message or ""
    for root in sorted(set(roots), key=len, reverse=True):
        folder = root.rstrip(os.sep)
        if folder:  # a site served from "/" has no prefix worth taking out
            text = text.replace(folder + os.sep, "").replace(folder, ".")
    return text


def _source_around(path: Path, line: int | None) -> tuple[SourceLine, ...]:
    if line is None:
        return ()
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ()
    first = max(1, line - CONTEXT_LINES)
    last = min(len(lines), line + CONTEXT_LINES)
    return tuple(
        SourceLine(number, lines[number - 1], number == line) for number in range(first, last + 1)
    )


def log_problem(problem: TemplateProblem) -> None:
    logger.error("%s: %s: %s", problem.location, problem.kind, problem.message)


def is_loopback(client: tuple[str, int] | None) -> bool:
    """Whether the client connects from this machine (127.0.0.0/8, ::1, ::ffff:127.x)."""
    if client is None:
        return False  # not known: the safe answer
    try:
        address = ipaddress.ip_address(client[0].partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def problem_response(
    problem: TemplateProblem,
    sources: tuple[Path, ...] = (),
    *,
    client: tuple[str, int] | None = None,
) -> Response:
    """The 500 page for ``problem``: in full for a ``client`` on loopback, else plain.

    ``sources`` let live reload refresh the page once the file is fixed.
    """
    if not is_loopback(client):
        plain = builtin_error(500)
        plain.headers = [*_NO_STORE, *_without_cache_control(plain.headers)]
        plain.sources = sources
        return plain
    # Our own page, rendered by our own environment: the site's Environment is never involved.
    body = assets.render("template_error.html", problem=problem)
    return Response(
        status=500,
        headers=[
            ("Content-Type", "text/html; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
        ],
        body=body,
        sources=sources,
    )


_NO_STORE = (("Cache-Control", "no-store"),)


def _without_cache_control(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in headers if name.lower() != "cache-control"]
