"""The Jinja environment of a site, and the record of what each render read.

Template names are paths relative to the site folder, so
``{% extends "_layouts/base.html" %}`` means the same file from any depth.
The loader refuses ``..``, dot segments and (unless symlinks are followed)
anything whose real path leaves the folder, so a template cannot read
outside the site.

Every template a render loads (the page, and whatever it extends, includes
or imports) and every ``_data`` file it reads is recorded for the render in
progress; the page's Response lists them as ``sources`` so live reload knows
which open pages a change affects. The record also notes whether the render
read anything that differs between two requests for the same URL (headers,
the session, the time: ``volatile``), whether it read the query string
(``by_query``: a kept render then answers that query only), and the undefined
names it rendered, each also logged once per template and name.

An HTML, XML or SVG template may start with YAML front matter: the loader
parses it (a broken one is a syntax error at its line) and hands Jinja the
rest, with the front matter's lines left empty so line numbers stay true.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from pathlib import Path
from types import FrameType
from typing import Any

import jinja2
from jinja2.loaders import split_template_path

from siteserve import bounds
from siteserve.config import Config
from siteserve.site.front_matter import blanked
from siteserve.site.names import strip_template_suffix

logger = logging.getLogger("siteserve.pages")

#: Output types whose templates escape ``{{ values }}`` by default.
_ESCAPED_EXTENSIONS = frozenset({"html", "htm", "xhtml", "xml", "svg"})


@dataclass(slots=True)
class RenderRecord:
    """What one render read: ``files`` become the page's sources; ``memo`` keeps values
    read once per render (a data file used in a loop is checked on disk once)."""

    files: set[str] = field(default_factory=set)
    memo: dict[str, Any] = field(default_factory=dict)
    #: Read something beyond the URL and query (headers, session, clock): not to be reused.
    volatile: bool = False
    #: Read the query string: reused only for a request with the same query.
    by_query: bool = False
    #: What that was, by name ("request.args", "now"): a static build lists such pages.
    inputs: set[str] = field(default_factory=set)
    #: Undefined names rendered (as empty text), one line each.
    warnings: list[str] = field(default_factory=list)


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


def mark_volatile(what: str) -> None:
    """The render in progress used ``what``, which a second request may see differently."""
    current = _current.get()
    if current is not None:
        current.volatile = True
        current.inputs.add(what)


def note_input(what: str) -> None:
    """The render in progress read ``what``, which is the same for every request to its
    URL on one host (``request.host``): kept live, named to a static build."""
    current = _current.get()
    if current is not None:
        current.inputs.add(what)


def mark_query(what: str) -> None:
    """The render in progress read the query string (``what``: how, for ``inputs``)."""
    current = _current.get()
    if current is not None:
        current.by_query = True
        current.inputs.add(what)


def render_memo() -> dict[str, Any] | None:
    """The memo of the render in progress, or None outside a render."""
    current = _current.get()
    return None if current is None else current.memo


@lru_cache(maxsize=1024)  # Jinja asks at every render of a template and at each include
def autoescape_for(name: str | None) -> bool:
    """Escape HTML, XML and SVG output; a bare ``NAME.jinja`` is HTML too.

    Jinja decides this from the template's own name, so a layout
    ``_layouts/base.html`` escapes and ``data.json.jinja`` does not.
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
        source, filename, uptodate = super().get_source(environment, template)
        if source.startswith(("---", "\ufeff---")) and autoescape_for(template):
            _, source = blanked(source, filename)
        return source, filename, uptodate


class WarningUndefined(jinja2.Undefined):
    """An undefined name renders as empty text, as Jinja's default does, and says so.

    Only rendering it warns: ``{% if page.subtitle %}`` and ``|default(...)``
    are how templates ask whether something is there.
    """

    __slots__ = ()

    def __str__(self) -> str:
        _warn_undefined(self._warning)
        return ""

    @property
    def _warning(self) -> str:
        owner = self._undefined_obj
        if self._undefined_hint is None and isinstance(owner, Mapping):
            # "'mappingproxy object' has no attribute 'title'" says little about front matter.
            keys = ", ".join(sorted(map(str, owner))[:12]) or "none"
            return f"no {self._undefined_name!r} here (the keys are: {keys})"
        return self._undefined_message


def _warn_undefined(message: str) -> None:
    # The innermost template frame: Jinja's compiled code keeps its template in globals.
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and "__jinja_template__" not in frame.f_globals:
        frame = frame.f_back
    name, where = "?", "?"
    environment: jinja2.Environment | None = None
    if frame is not None:
        template: jinja2.Template = frame.f_globals["__jinja_template__"]
        environment = template.environment
        name = template.name or template.filename or "?"
        where = f"{name}:{template.get_corresponding_lineno(frame.f_lineno)}"
    text = f"{where}: {message} (rendered as empty text)"
    current = _current.get()
    if current is not None and text not in current.warnings:
        current.warnings.append(text)
    if isinstance(environment, SiteEnvironment):
        environment.warn_once(name, message, text)


def undefined_class(config: Config) -> type[jinja2.Undefined]:
    """What an undefined name is: an error with ``strict_undefined``, else empty with a warning."""
    return jinja2.StrictUndefined if config.strict_undefined else WarningUndefined


class SiteEnvironment(jinja2.Environment):
    """An Environment that records every template it hands out during a render.

    ``extends``, ``include`` and ``import`` all go through ``get_template`` or
    ``select_template`` at render time, cached or not, so these two overrides
    see every file a page was made from.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._warned: set[tuple[str, str]] = set()
        self._warned_lock = threading.Lock()

    def warn_once(self, template: str, message: str, text: str) -> None:
        """Log ``text`` the first time ``message`` comes up in ``template``."""
        key = (template, message)
        with self._warned_lock:
            if key in self._warned or len(self._warned) > 10_000:
                return
            self._warned.add(key)
        logger.warning("%s", text)

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
        undefined=undefined_class(config),
        auto_reload=True,
        cache_size=bounds.COMPILED_TEMPLATES,
    )
    environment.globals.update(globals)
    # Chance makes a render that a second request would not see again.
    environment.filters["random"] = _volatile(environment.filters["random"], "random")
    lipsum: Callable[..., Any] = environment.globals["lipsum"]  # type: ignore[assignment]
    environment.globals["lipsum"] = _volatile(lipsum, "lipsum()")
    return environment


def _volatile(function: Callable[..., Any], what: str) -> Callable[..., Any]:
    # wraps() keeps Jinja's marks (pass the context, the environment) on the wrapper.
    @wraps(function)
    def marked(*args: Any, **kwargs: Any) -> Any:
        mark_volatile(what)
        return function(*args, **kwargs)

    return marked
