"""The Jinja environment of a site, and the record of what each render read.

Template names are paths relative to the site folder, so
``{% extends "_layouts/base.html" %}`` means the same file from any depth.
The loader refuses ``..``, dot segments and (unless symlinks are followed)
anything whose real path leaves the folder, so a template cannot read
outside the site.

Every template a render loads (the page, and whatever it extends, includes
or imports) and every ``_data`` file it reads is recorded for the render in
progress; the page's Response lists them as ``sources`` so live reload knows
which open pages a change affects.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from siteserve.config import Config
from siteserve.site.names import strip_template_suffix

#: Output types whose templates escape ``{{ values }}`` by default.
_ESCAPED_EXTENSIONS = frozenset({"html", "htm", "xhtml", "xml", "svg"})


@dataclass(slots=True)
class RenderRecord:
    """What one render read: ``files`` become the page's sources; ``memo`` keeps values
    read once per render (a data file used in a loop is checked on disk once)."""

    files: set[str] = field(default_factory=set)
    memo: dict[str, Any] = field(default_factory=dict)


_current: ContextVar[RenderRecord | None] = ContextVar("siteserve_render", default=None)


@contextmanager
def recording() -> Iterator[RenderRecord]:
    """Collect the files read while the block runs (in this thread or task)."""
    current = RenderRecord()
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)


def record(filename: str) -> None:
    """Note a file the render in progress depends on; outside a render, nothing."""
    current = _current.get()
    if current is not None:
        current.files.add(filename)


def render_memo() -> dict[str, Any] | None:
    """The memo of the render in progress, or None outside a render."""
    current = _current.get()
    return None if current is None else current.memo


def autoescape_for(name: str | None) -> bool:
    """Escape HTML, XML and SVG output; a bare ``NAME.jinja`` is HTML too.

    Jinja decides this once per template, from the template's own name, so a
    layout ``_layouts/base.html`` escapes and ``data.json.jinja`` does not.
    """
    if name is None:
        return True
    base = name.rpartition("/")[2]
    served = strip_template_suffix(base) or base
    _, dot, extension = served.rpartition(".")
    return not dot or extension.lower() in _ESCAPED_EXTENSIONS


def is_within(path: str, root: str) -> bool:
    """Whether the real path ``path`` is ``root`` or lies under it (both real paths)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class SiteLoader(jinja2.FileSystemLoader):
    """Loads templates by their path under the site folder, and from nowhere else."""

    def __init__(self, root: Path, *, follow_symlinks: bool = False) -> None:
        super().__init__(str(root), encoding="utf-8", followlinks=follow_symlinks)
        self._root = os.path.realpath(root)
        self._follow_symlinks = follow_symlinks

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        # split_template_path already refuses ".." (and drops "." segments).
        pieces = split_template_path(template)
        if any(piece.startswith(".") for piece in pieces):
            raise jinja2.TemplateNotFound(template)
        if not self._follow_symlinks:
            real = os.path.realpath(os.path.join(self._root, *pieces))
            if not is_within(real, self._root):
                raise jinja2.TemplateNotFound(template)
        return super().get_source(environment, template)


class SiteEnvironment(jinja2.Environment):
    """An Environment that records every template it hands out during a render.

    ``extends``, ``include`` and ``import`` all go through ``get_template`` or
    ``select_template`` at render time, cached or not, so these two overrides
    see every file a page was made from.
    """

    def get_template(
        self,
        name: str | jinja2.Template,
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        template = super().get_template(name, parent, globals)
        if template.filename is not None:
            record(template.filename)
        return template

    def select_template(
        self,
        names: Iterable[str | jinja2.Template],
        parent: str | None = None,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        template = super().select_template(names, parent, globals)
        if template.filename is not None:
            record(template.filename)
        return template

    def forget(self, paths: Iterable[Path]) -> None:
        """Drop the compiled templates made from ``paths`` (files, or folders holding them)."""
        if self.cache is None:
            return
        prefixes = [os.path.abspath(path) for path in paths]
        if not prefixes:
            return
        stale = [
            key
            for key, template in self.cache.items()
            if template.filename is not None
            and any(
                template.filename == prefix or template.filename.startswith(prefix + os.sep)
                for prefix in prefixes
            )
        ]
        for key in stale:
            # Another thread may have evicted it meanwhile.
            with suppress(KeyError):
                del self.cache[key]


def build_environment(config: Config, globals: dict[str, Any]) -> SiteEnvironment:
    """The site's Environment.

    ``auto_reload`` stays on: Jinja then compares each cached template's mtime
    before using it (one stat per template per render, a few microseconds), so
    pages are never stale even when no watcher runs (``--no-reload``, the ASGI
    app). ``forget`` (called on file events) also covers an edit that keeps the
    same mtime.
    """
    environment = SiteEnvironment(
        loader=SiteLoader(config.root, follow_symlinks=config.follow_symlinks),
        autoescape=autoescape_for,
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        undefined=jinja2.StrictUndefined if config.strict_undefined else jinja2.Undefined,
        auto_reload=True,
    )
    environment.globals.update(globals)
    return environment
