"""Lost events (a RESCAN of the root): every cache drops what it holds, every tab reloads once."""

from __future__ import annotations

from pathlib import Path

from siteserve.config import build_config
from siteserve.http.response import Response
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from siteserve.site.app import Site
from tests.unit.test_reload_app import FakeSite, Tab, answer, page, request


def test_a_change_set_holding_the_root_reloads_every_tab_once(tmp_path: Path) -> None:
    site = FakeSite(tmp_path)
    app = ReloadApp(site, build_config(tmp_path, reload=True))  # type: ignore[arg-type]
    site.routes["/"] = lambda r: page(b"<p>home</p>", tmp_path / "index.html")
    site.routes["/about"] = lambda r: page(b"<p>about</p>", tmp_path / "about.html")
    site.routes["/styled"] = lambda r: page(b"<p>css</p>", tmp_path / "styled.html")
    for path in ("/", "/about", "/styled"):
        answer(app, request(path))
    # Each tab's page is known to depend on its own file only.
    tabs = [Tab(app, "/"), Tab(app, "/about"), Tab(app, "/styled", ["/app.js"])]
    unrelated = ChangeSet(frozenset({tmp_path / "unused.html"}))
    app.apply(unrelated)
    assert [tab.heard() for tab in tabs] == [[], [], []]

    everything = ChangeSet(frozenset({tmp_path}))
    app.progress(everything)
    app.apply(everything)
    assert [tab.heard() for tab in tabs] == [[{"type": "reload", "full": True}]] * 3
    # The caches were told about the root: everything under it is forgotten.
    assert site.invalidated[-1] == frozenset({tmp_path})


def test_the_root_in_a_change_set_empties_the_sites_caches(tmp_path: Path) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "small.txt").write_text("cached")
    site = Site(build_config(tmp_path))
    response = site.handle(request("/deep/er/small.txt"))
    assert isinstance(response, Response) and response.status == 200
    assert site.static.cached_bytes > 0
    site.invalidate(ChangeSet(frozenset({tmp_path})).paths)
    assert site.static.cached_bytes == 0
