"""Markdown to HTML: CommonMark (markdown-it-py) with the extensions sites expect.

Tables, strikethrough, task lists, footnotes and an ``id`` on every heading
(``## Install`` can be linked as ``#install``); fenced code with a language is
highlighted by Pygments into ``<pre class="highlight">`` with the classes of
``/__siteserve/highlight.css``. Raw HTML in the Markdown is shown as text
unless ``[markdown] html = true``: a page written by someone else cannot
slip a script into the site by default.

markdown-it-py, its plugins and Pygments are imported when the first Markdown
is rendered, never at start-up: a site without Markdown pays nothing for them.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

#: Where a page's excerpt ends when it says so; otherwise its first paragraph is the excerpt.
EXCERPT_MARK = "<!-- more -->"
#: Blocks that are not a paragraph a listing would show.
_NOT_PROSE = re.compile(r"(#|```|~~~|<!--|\[\^|\s{4})")
_ATX_HEADING = re.compile(r"#\s+(.*?)(?:\s+#+)?\s*$")


class MarkdownRenderer:
    """Renders Markdown text; one per site (the ``html`` setting is the site's)."""

    def __init__(self, *, html: bool = False) -> None:
        self.html = html
        self._parser: MarkdownIt | None = None
        self._lock = threading.Lock()

    def render(self, text: str) -> str:
        """``text`` as HTML (a fragment: no ``<html>`` or ``<body>``)."""
        html: str = self._markdown_it().render(text)
        return html

    def _markdown_it(self) -> MarkdownIt:
        parser = self._parser
        if parser is None:
            with self._lock:
                if self._parser is None:
                    self._parser = _build(self.html)
                parser = self._parser
        return parser


def _build(html: bool) -> MarkdownIt:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.anchors import anchors_plugin
    from mdit_py_plugins.footnote import footnote_plugin
    from mdit_py_plugins.tasklists import tasklists_plugin

    options: dict[str, Any] = {"html": html, "highlight": highlight}
    parser = MarkdownIt("commonmark", options).enable(["table", "strikethrough"])
    parser.use(footnote_plugin).use(tasklists_plugin)
    parser.use(anchors_plugin, min_level=1, max_level=6)
    return parser


_formatter: Callable[[str, str], str | None] | None = None


def highlight(code: str, language: str, attributes: str) -> str | None:
    """Pygments' HTML for a fenced block in ``language``; None when it does not know it."""
    global _formatter
    if not language:
        return None
    if _formatter is None:
        _formatter = _pygments()
    return _formatter(code, language)


def _pygments() -> Callable[[str, str], str | None]:
    from html import escape

    from pygments import highlight as run
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    formatter = HtmlFormatter(nowrap=True)

    def formatted(code: str, language: str) -> str | None:
        try:
            lexer = get_lexer_by_name(language)
        except ClassNotFound:
            return None
        body = run(code, lexer, formatter)
        name = escape(language, quote=True)
        return f'<pre class="highlight"><code class="language-{name}">{body}</code></pre>'

    return formatted


def excerpt_source(body: str) -> str:
    """The Markdown of a page's excerpt: up to ``<!-- more -->``, else its first paragraph.

    Headings, code blocks, comments and footnotes before the first paragraph
    are passed over; a page with no paragraph has an empty excerpt.
    """
    marked, found, _ = body.partition(EXCERPT_MARK)
    if found:
        return marked.strip()
    for block in re.split(r"\n[ \t]*\n", body.replace("\r\n", "\n")):
        block = block.strip("\n")
        if block.strip() and not _NOT_PROSE.match(block):
            return block.strip()
    return ""


def first_heading(body: str) -> str | None:
    """The text of the first ``# Heading`` line, for a page that gives no title."""
    in_fence = False
    for line in body.splitlines():
        stripped = line.strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        elif not in_fence:
            match = _ATX_HEADING.match(stripped)
            if match and match.group(1):
                return match.group(1)
    return None
