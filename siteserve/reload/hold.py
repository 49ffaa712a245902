"""Which requests a settling burst of changes holds back: only those it can affect.

While a burst settles (``changes.Debouncer``), a request whose answer may come from
a changed file waits for the change set: it must not read a half-written file, and a
tab told to reload early (``ReloadApp.progress``) must get the finished content after
the caches were invalidated. Every other request is answered at once: an upload, an
edit in ``edit/`` or a rebuild of ``dist/`` never stalls a request for ``/other.txt``.

A request waits when one of the files behind its URL (those the page graph recorded
for it, and the file the URL names in the root) is

- a changed path, or lies under one (a changed folder stands for all it holds), or
  under a rebuild's folder (``PendingChanges.folders``: its files are rewritten one
  after the other, also those no event has named yet);
- the folder of a changed path (its listing, its index page, a page that lists it);
- a changed file without its suffix (clean URLs: ``/about`` is ``about.html``,
  ``/post/`` is ``post.md``).

Some changes can alter any answer, and hold every request as before: the root
itself (events were lost), hidden files and folders (layouts, partials, ``_data``,
``_redirects``, ``_headers``, siteserve.toml), Jinja templates, route files
(``[slug].jinja``) and ``serve.json``. A URL whose files are unknown (never answered
yet and naming no file: a rewrite, a fallback, a proxied path) waits too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from siteserve.reload.changes import PendingChanges
from siteserve.reload.graph import PageGraph
from siteserve.rules.load import RULE_FILES
from siteserve.site.names import is_hidden, is_route_name, is_template_source


@dataclass(frozen=True, slots=True)
class _Reach:
    """One ``PendingChanges`` in the shapes the question asks about."""

    everything: bool
    #: Changed paths and rebuild folders: anything at or under one is held.
    subtrees: frozenset[Path]
    #: The folders changed paths are in.
    folders: frozenset[Path]
    #: Changed paths without their last suffix.
    stems: frozenset[Path]


class HoldRule:
    """Answers "must this request wait for the burst in progress?" for a site's root."""

    def __init__(self, root: Path, graph: PageGraph) -> None:
        self.root = root
        self.graph = graph
        self._for: PendingChanges | None = None
        self._reach = _Reach(False, frozenset(), frozenset(), frozenset())

    def holds(self, url_path: str, pending: PendingChanges) -> bool:
        """Whether a request for ``url_path`` (percent-encoded) waits for ``pending``."""
        reach = self._reach_of(pending)
        if reach.everything:
            return True
        files = set(self.graph.files_for(url_path))
        known = bool(files)
        named = self._named(url_path)
        if named is not None:
            files.add(named)
        for path in files:
            if path in reach.folders or path in reach.stems or path in reach.subtrees:
                return True
            if any(parent in reach.subtrees for parent in path.parents):
                return True
        return not known

    def _named(self, url_path: str) -> Path | None:
        """The path the URL names in the root, as written (no file system access)."""
        relative = unquote(url_path).strip("/")
        if "\x00" in relative:
            return None
        return self.root / relative if relative else self.root

    def _reach_of(self, pending: PendingChanges) -> _Reach:
        # The Debouncer hands out one PendingChanges until its burst grows: work it out once.
        if pending is not self._for:
            paths = pending.paths
            self._reach = _Reach(
                everything=any(self.touches_everything(path) for path in paths),
                subtrees=paths | pending.folders,
                folders=frozenset(path.parent for path in paths),
                stems=frozenset(path.with_suffix("") for path in paths if path.suffix),
            )
            self._for = pending
        return self._reach

    def touches_everything(self, path: Path) -> bool:
        """Whether a change of ``path`` may alter the answer to any URL."""
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            return True  # not in the site: nothing to say which URLs it reaches
        if not parts:
            return True  # the root: events were lost (a rescan)
        if any(is_hidden(part) or is_route_name(part) for part in parts):
            return True
        return is_template_source(parts[-1]) or parts[-1] in RULE_FILES
