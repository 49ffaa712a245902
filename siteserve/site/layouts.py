"""Which layout renders a Markdown file: its ``layout:`` front matter, else siteserve.toml.

``layout: post`` names ``_layouts/post.html``; a value with a ``/`` is a path
from the site folder; ``layout: none`` (or ``false``) keeps a file out of any
default. ``[markdown] layout = "_layouts/page.html"`` is the default for every
``.md`` file; as a table of ``glob = layout`` it applies per folder, globs
matched against the path from the site root as ``render`` globs are, the last
matching rule winning as in ``[headers]``. A ``.md`` file with no layout is a
plain file, served as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from siteserve.config import MarkdownOptions

MARKDOWN_SUFFIX = ".md"
LAYOUTS_FOLDER = "_layouts"
#: Front matter values that turn a default layout off for one file.
NO_LAYOUT = frozenset({"", "none", "false", "null"})


def is_markdown(path: object) -> bool:
    return str(path).lower().endswith(MARKDOWN_SUFFIX)


def layout_name(value: object) -> str | None:
    """The template a ``layout`` value names: ``post`` -> ``_layouts/post.html``; None for none."""
    if value is None or value is False:
        return None
    text = str(value).strip().strip("/")
    if text.lower() in NO_LAYOUT:
        return None
    if "/" not in text:
        text = f"{LAYOUTS_FOLDER}/{text}"
    if "." not in text.rpartition("/")[2]:
        text += ".html"
    return text


class LayoutRules:
    def __init__(self, options: MarkdownOptions) -> None:
        self.rules = options.layouts

    def layout_for(self, relative: str, meta: Mapping[str, Any]) -> str | None:
        """The layout of the file at ``relative`` (from the root) with front matter ``meta``."""
        if "layout" in meta:
            return layout_name(meta["layout"])
        chosen: str | None = None
        for pattern, layout in self.rules:
            if fnmatchcase(relative, pattern):
                chosen = layout
        return layout_name(chosen)
