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

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from siteserve import bounds
from siteserve.reload.changes import PendingChanges
from siteserve.reload.graph import PageGraph
from siteserve.rules.load import RULE_FILES
from siteserve.site.names import is_hidden, is_route_name, is_template_source


@dataclass(frozen=True, slots=True)
class _Reach:
    """One ``PendingChanges`` in the shapes the question asks about, as path strings:
    every request asks while a burst settles (kept answers too), and comparing strings
    costs a fraction of making and hashing ``Path`` objects for each parent folder."""

    everything: bool
    #: Changed paths and rebuild folders: anything at or under one is held.
    subtrees: frozenset[str]
    #: The same with a trailing separator: what lies under them starts with one.
    under: tuple[str, ...]
    #: The folders changed paths are in.
    folders: frozenset[str]
    #: Changed paths without their last suffix.
    stems: frozenset[str]

    def reaches(self, path: str) -> bool:
        return (
            path in self.folders
            or path in self.stems
            or path in self.subtrees
            or path.startswith(self.under)
        )


_NOTHING = _Reach(False, frozenset(), (), frozenset(), frozenset())

#: Answers remembered per burst (``HoldRule.holds``).
MAX_ANSWERS = bounds.HOLD_ANSWERS


class HoldRule:
    """Answers "must this request wait for the burst in progress?" for a site's root."""

    def __init__(self, root: Path, graph: PageGraph) -> None:
        self.root = root
        self.graph = graph
        self._for: PendingChanges | None = None
        self._reach = _NOTHING
        #: Answers for this burst's PendingChanges at the graph's epoch ``_answered_at``:
        #: while it settles, the same few URLs are asked about again and again.
        self._answers: dict[str, bool] = {}
        self._answered_at = -1

    def holds(self, url_path: str, pending: PendingChanges) -> bool:
        """Whether a request for ``url_path`` (percent-encoded) waits for ``pending``."""
        reach = self._reach_of(pending)
        if reach.everything:
            return True
        answers = self._answers
        if self._answered_at != self.graph.epoch or len(answers) >= MAX_ANSWERS:
            # What the graph records behind a URL may have changed (or the table is full).
            answers.clear()
            self._answered_at = self.graph.epoch
        answer = answers.get(url_path)
        if answer is None:
            answer = answers[url_path] = self._holds(url_path, reach)
        return answer

    def _holds(self, url_path: str, reach: _Reach) -> bool:
        named = self._named(url_path)
        files = self.graph.recorded(url_path)
        if files is None:
            # Never answered: known only as the file its name points at. Not one (a 404
            # to be, a rewrite, a fallback, a proxied path): it waits, whatever changed.
            if named is None or not os.path.isfile(named):
                return True
            files = self.graph.files_for(url_path)
            if not files:
                return True  # a link out of the root: not known either
        if named is not None and reach.reaches(str(named)):
            return True
        return any(reach.reaches(str(path)) for path in files)

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
            subtrees = frozenset(map(str, paths | pending.folders))
            self._reach = _Reach(
                everything=any(self.touches_everything(path) for path in paths),
                subtrees=subtrees,
                under=tuple(subtree.rstrip(os.sep) + os.sep for subtree in subtrees),
                folders=frozenset(str(path.parent) for path in paths),
                stems=frozenset(str(path.with_suffix("")) for path in paths if path.suffix),
            )
            self._for = pending
            self._answers.clear()
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
