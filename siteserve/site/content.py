"""Content pages: Markdown through a layout, front matter as ``page``, ``pages()`` listings.

A ``.md`` file is a page when a layout applies to it (``LayoutRules``): its
own ``layout:`` front matter, else the ``[markdown] layout`` rules of
siteserve.toml. The layout is an ordinary template that sees everything a
page sees, plus ``content`` (the Markdown as HTML, safe) and ``page`` (the
front matter). A template page sees its own front matter as ``page`` too.

Everything is parsed once per version of a file (``FrontMatterIndex``) and the
HTML of a Markdown file is made once per version, so a page costs its layout's
render and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jinja2
from markupsafe import Markup

from siteserve.config import Config
from siteserve.site.collections import Collections
from siteserve.site.front_matter import FrontMatterIndex, Indexed
from siteserve.site.jinja_env import SiteEnvironment, autoescape_for, record
from siteserve.site.layouts import LayoutRules, is_markdown
from siteserve.site.markdown import (
    EXCERPT_MARK,
    MarkdownRenderer,
    excerpt_source,
    first_heading,
)
from siteserve.site.names import is_template_source
from siteserve.site.page_context import PageAbort


class Content:
    """The Markdown side of a site's Pages: the page renders, ``pages()`` and ``|markdown``."""

    def __init__(self, config: Config, environment: SiteEnvironment) -> None:
        self.root = config.root
        self.render_globs = config.render
        self.environment = environment
        self.layouts = LayoutRules(config.markdown)
        self.renderer = MarkdownRenderer(html=config.markdown.html)
        self.index = FrontMatterIndex()
        self.collections = Collections(config, self, drafts=config.drafts)
        environment.globals["pages"] = self.collections.pages
        environment.filters["markdown"] = self.markdown_filter

    # -- rendering -------------------------------------------------------------------

    def render(self, name: str, path: Path, context: dict[str, Any]) -> str:
        """The page at ``path`` (template name ``name``), rendered with ``context``."""
        if is_markdown(path):
            return self._render_markdown(name, path, context)
        context["page"] = self._template_meta(name, path)
        return self.environment.get_template(name).render(context)

    def _render_markdown(self, name: str, path: Path, context: dict[str, Any]) -> str:
        record(str(path))  # first: a broken front matter must reload once fixed
        try:
            entry = self.index.get(path)
        except OSError:
            raise jinja2.TemplateNotFound(name) from None
        layout = self.layouts.layout_for(name, entry.meta)
        if layout is None:
            raise PageAbort(404)  # its layout went away: it is a plain file again
        context["page"] = self.page_of(entry)
        context["content"] = self.html_of(entry)
        return self.environment.get_template(layout).render(context)

    def _template_meta(self, name: str, path: Path) -> Mapping[str, Any]:
        if not autoescape_for(name):
            return _EMPTY  # front matter is for HTML, XML and SVG pages only
        try:
            return self.page_of(self.index.get(path))
        except OSError:
            return _EMPTY

    def markdown_filter(self, value: object) -> Markup:
        """``{{ text|markdown }}``: any string rendered as Markdown."""
        if value is None or isinstance(value, jinja2.Undefined):
            return Markup("")
        return Markup(self.renderer.render(str(value)))

    # -- what is made from one file, once per version ----------------------------------

    def page_of(self, entry: Indexed) -> Mapping[str, Any]:
        """The front matter as a read-only mapping, with a ``title`` when it gives none."""
        page = entry.memo.get("page")
        if page is None:
            meta = dict(entry.meta)
            if "title" not in meta and is_markdown(entry.path):
                meta["title"] = first_heading(entry.body) or entry.path.stem
            page = entry.memo["page"] = MappingProxyType(meta)
        result: Mapping[str, Any] = page
        return result

    def html_of(self, entry: Indexed) -> Markup:
        html = entry.memo.get("html")
        if html is None:
            # The excerpt's end mark is a comment: with raw HTML off it would show as text.
            body = entry.body.replace(EXCERPT_MARK, "")
            html = entry.memo["html"] = Markup(self.renderer.render(body))
        result: Markup = html
        return result

    def excerpt_of(self, entry: Indexed) -> Markup:
        excerpt = entry.memo.get("excerpt")
        if excerpt is None:
            given = entry.meta.get("excerpt", entry.meta.get("description"))
            if given is not None:
                excerpt = Markup(self.renderer.render(str(given)))
            elif is_markdown(entry.path):
                excerpt = Markup(self.renderer.render(excerpt_source(entry.body)))
            else:
                excerpt = Markup("")
            entry.memo["excerpt"] = excerpt
        result: Markup = excerpt
        return result

    def describe(self, relative: str, path: Path) -> tuple[Indexed | None, bool]:
        """For a listing: the file's entry (None when it has no front matter to read) and
        whether it is rendered (a Markdown page or a template). FrontMatterError when broken."""
        if is_markdown(path):
            entry = self.index.get(path)
            return entry, self.layouts.layout_for(relative, entry.meta) is not None
        rendered = is_template_source(path.name) or any(
            fnmatchcase(relative, pattern) for pattern in self.render_globs
        )
        if rendered and autoescape_for(relative):
            return self.index.get(path), True
        return None, rendered

    def watch(self) -> None:
        """A watcher calls ``forget`` on every change: trust what was parsed until then."""
        self.index.trusted = True
        self.collections.watched = True

    def forget(self, paths: Iterable[Path]) -> None:
        paths = list(paths)
        self.index.forget(paths)
        self.collections.forget(paths)


_EMPTY: Mapping[str, Any] = MappingProxyType({})
