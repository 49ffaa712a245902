"""Live reload for content pages: a listing reloads for its posts, new ones too; the tab's
console hears the render's warnings."""

from __future__ import annotations

from pathlib import Path

from siteserve.http.response import Response
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from siteserve.reload.graph import PageGraph
from tests.unit.test_reload_app import HTML, FakeSite, Tab, answer, app, page, request, root, site

__all__ = ["app", "root", "site"]  # the fixtures, shared with test_reload_app


def test_an_index_reloads_when_a_listed_post_changes_or_a_new_one_appears(
    app: ReloadApp, site: FakeSite, root: Path
) -> None:
    blog, post = root / "blog", root / "blog/a.md"
    site.routes["/blog/"] = lambda r: page(
        b"<p>index</p>", root / "blog/index.html.jinja", blog, post
    )
    site.routes["/about"] = lambda r: page(b"<p>about</p>", root / "about.html")
    answer(app, request("/blog/"))
    answer(app, request("/about"))
    index, other = Tab(app, "/blog/"), Tab(app, "/about")
    app.apply(ChangeSet(frozenset({post})))
    assert index.heard() == [{"type": "reload"}]
    assert other.heard() == []
    index = Tab(app, "/blog/")
    app.apply(ChangeSet(frozenset({root / "blog/new.md"})))  # not among the sources yet
    assert index.heard() == [{"type": "reload"}]
    index = Tab(app, "/blog/")
    app.apply(ChangeSet(frozenset({root / "blog/2024/deep.md"})))
    assert index.heard() == [{"type": "reload"}]
    assert other.heard() == []


def test_a_stylesheet_in_a_listed_folder_is_still_swapped_in_place(root: Path) -> None:
    graph = PageGraph(root)
    response = Response(200, [("Content-Type", HTML)], b"", sources=(root / "blog",))
    graph.record(request("/blog/"), response, page=True)
    assert not graph.affects("/blog/", (), frozenset({root / "blog/style.css"}))
    assert not graph.affects("/blog/", (), frozenset({root / "blog/photo.png"}))
    assert not graph.affects("/blog/", (), frozenset({root / "elsewhere/a.md"}))
    assert graph.affects("/blog/", (), frozenset({root / "blog/a.md"}))


def test_a_tab_hears_the_warnings_of_its_page(app: ReloadApp, site: FakeSite, root: Path) -> None:
    warned = "p.html.jinja:1: 'app_version' is undefined (rendered as empty text)"
    site.routes["/p"] = lambda r: Response(
        200,
        [("Content-Type", HTML)],
        b"<p>x</p>",
        sources=(root / "p.html.jinja",),
        warnings=(warned,),
    )
    site.routes["/q"] = lambda r: page(b"<p>q</p>", root / "q.html")
    answer(app, request("/p"))
    answer(app, request("/q"))
    assert Tab(app, "/p").heard() == [{"type": "warnings", "messages": [warned]}]
    assert Tab(app, "/q").heard() == []
    # Fixed: the next render has none, and neither has the next tab.
    site.routes["/p"] = lambda r: page(b"<p>x</p>", root / "p.html.jinja")
    answer(app, request("/p"))
    assert Tab(app, "/p").heard() == []


def test_a_render_answered_again_is_injected_and_recorded_once(root: Path) -> None:
    from siteserve.reload.inject import Injector

    injector = Injector()
    body = b"<html><head></head><body>" + b"x" * 100_000 + b"</body></html>"
    first = injector.apply(Response(200, [("Content-Type", HTML)], body))
    again = injector.apply(Response(200, [("Content-Type", HTML)], body))
    assert first.body is again.body  # the same bytes object: no second copy of 100 kB
    copy = body[:10] + body[10:]  # equal bytes, another object
    other = injector.apply(Response(200, [("Content-Type", HTML)], copy))
    assert other.body == first.body and other.body is not first.body
    graph = PageGraph(root)
    sources = tuple(root / f"blog/{n}.md" for n in range(1000))
    graph.record(request("/blog/"), Response(200, [], b"", sources=sources), page=True)
    kept = graph.page_sources("/blog/")
    graph.record(request("/blog/"), Response(200, [], b"", sources=sources), page=True)
    assert graph.page_sources("/blog/") is kept
    assert kept == frozenset(sources)
