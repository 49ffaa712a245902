"""Which requests a burst in progress holds back (``reload.hold``): only those it can affect.

Tables of URL paths against pending changes in a temporary site folder; the page graph
is fed responses by hand, as ``ReloadApp`` feeds it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.reload.changes import PendingChanges
from siteserve.reload.graph import PageGraph
from siteserve.reload.hold import HoldRule

FILES = [
    "other.txt",
    "index.html",
    "about.html",
    "dist/x.js",
    "dist/index.html",
    "dist/assets/y.css",
    "edit/a.txt",
    "edit/b.txt",
    "blog/post.md",
    "sub/page.html",
    "my files/a b.txt",
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    for name in FILES:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    return tmp_path


@pytest.fixture
def graph(root: Path) -> PageGraph:
    return PageGraph(root)


@pytest.fixture
def rule(root: Path, graph: PageGraph) -> HoldRule:
    return HoldRule(root, graph)


def served(graph: PageGraph, url: str, *sources: Path) -> None:
    request = Request("GET", url, url, "", Headers([("host", "127.0.0.1")]))
    graph.record(request, Response(200, [], b"", sources=sources), page=False)


def held(rule: HoldRule, pending: PendingChanges, *urls: str) -> dict[str, bool]:
    return {url: rule.holds(url, pending) for url in urls}


def test_a_rebuild_holds_its_folder_and_nothing_else(root: Path, rule: HoldRule) -> None:
    dist = root / "dist"
    pending = PendingChanges(frozenset({dist / "x.js", dist / "old.js"}), frozenset({dist}))
    assert held(
        rule, pending, "/dist/x.js", "/dist/", "/dist", "/dist/assets/y.css"
    ) == dict.fromkeys(["/dist/x.js", "/dist/", "/dist", "/dist/assets/y.css"], True)
    # Not named by any event yet, not there yet: still the rebuild's.
    assert rule.holds("/dist/new-chunk.js", pending)
    unrelated = [
        "/other.txt",
        "/about.html",
        "/edit/a.txt",
        "/sub/page.html",
        "/my%20files/a%20b.txt",
    ]
    assert held(rule, pending, *unrelated) == dict.fromkeys(unrelated, False)


def test_a_small_edit_holds_the_file_its_folder_and_the_pages_made_from_it(
    root: Path, graph: PageGraph, rule: HoldRule
) -> None:
    edited = root / "edit" / "a.txt"
    served(graph, "/sub/page.html", root / "sub" / "page.html", edited)  # a page including it
    served(graph, "/", root / "index.html")
    pending = PendingChanges(frozenset({edited}))
    waiting = ["/edit/a.txt", "/edit/", "/edit", "/edit/a", "/sub/page.html"]
    assert held(rule, pending, *waiting) == dict.fromkeys(waiting, True)
    free = ["/edit/b.txt", "/other.txt", "/dist/x.js", "/about.html", "/"]
    assert held(rule, pending, *free) == dict.fromkeys(free, False)


def test_a_change_in_the_root_folder_holds_its_listing_and_index(
    root: Path, rule: HoldRule
) -> None:
    pending = PendingChanges(frozenset({root / "about.html"}))
    assert held(rule, pending, "/", "/about.html", "/about") == dict.fromkeys(
        ["/", "/about.html", "/about"], True
    )
    assert held(rule, pending, "/other.txt", "/edit/a.txt") == dict.fromkeys(
        ["/other.txt", "/edit/a.txt"], False
    )


def test_a_page_listing_a_folder_waits_for_a_new_file_in_it(
    root: Path, graph: PageGraph, rule: HoldRule
) -> None:
    served(graph, "/news.html", root / "news.html.jinja", root / "blog")
    pending = PendingChanges(frozenset({root / "blog" / "new-post.md"}))
    assert rule.holds("/news.html", pending)
    assert rule.holds("/blog/new-post/", pending)  # its clean URL
    assert not rule.holds("/blog/post.md", pending)


def test_a_folder_deleted_holds_what_it_held(root: Path, rule: HoldRule) -> None:
    pending = PendingChanges(frozenset({root / "dist" / "assets"}))
    assert rule.holds("/dist/assets/y.css", pending)
    assert not rule.holds("/dist/x.js", pending)


@pytest.mark.parametrize(
    "changed",
    [
        "",  # the root itself: events were lost
        "_layouts/base.html",
        "_data/team.json",
        "_redirects",
        "_headers",
        "serve.json",
        "siteserve.toml",
        ".env",
        "base.html.jinja",
        "blog/[slug].jinja",
        "[...path]/index.html",
    ],
)
def test_changes_that_can_alter_any_answer_hold_every_request(
    root: Path, rule: HoldRule, changed: str
) -> None:
    pending = PendingChanges(frozenset({root / changed if changed else root}))
    assert held(rule, pending, "/other.txt", "/dist/x.js") == {
        "/other.txt": True,
        "/dist/x.js": True,
    }


def test_a_path_outside_the_site_holds_everything(root: Path, rule: HoldRule) -> None:
    assert rule.holds("/other.txt", PendingChanges(frozenset({root.parent / "elsewhere.txt"})))


def test_a_url_whose_files_are_unknown_waits(root: Path, rule: HoldRule, graph: PageGraph) -> None:
    pending = PendingChanges(frozenset({root / "edit" / "a.txt"}))
    # A history fallback, a rewrite or a proxied path: nothing says which files answer it.
    assert rule.holds("/app/route", pending)
    served(graph, "/app/route", root / "index.html")  # answered once: now it is known
    assert not rule.holds("/app/route", pending)


def test_the_reach_of_a_burst_is_worked_out_again_when_it_grows(root: Path, rule: HoldRule) -> None:
    first = PendingChanges(frozenset({root / "edit" / "a.txt"}))
    assert not rule.holds("/other.txt", first)
    grown = PendingChanges(first.paths | {root / "other.txt"})
    assert rule.holds("/other.txt", grown)


def test_an_answer_follows_what_the_graph_learns_during_the_burst(
    root: Path, rule: HoldRule, graph: PageGraph
) -> None:
    """Answers are remembered while a burst settles, but not past a new record of a URL."""
    pending = PendingChanges(frozenset({root / "edit" / "a.txt"}))
    served(graph, "/report", root / "other.txt")
    assert held(rule, pending, "/report") == {"/report": False}
    assert held(rule, pending, "/report") == {"/report": False}  # asked again: the same
    served(graph, "/report", root / "edit" / "a.txt")  # rendered anew, from the changed file
    assert held(rule, pending, "/report") == {"/report": True}
