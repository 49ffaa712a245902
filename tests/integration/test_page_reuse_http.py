"""Kept renders through the real server on port 0: a page that echoes the query is answered
again for the same query, and never once its template or data changed."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from siteserve.layers import innermost
from siteserve.site.app import Site
from siteserve.site.pages import Pages
from tests.conftest import RunningServer
from tests.integration.waiting import until

PAGE = "<h1>{{ request.args.q }}</h1>{% for item in data['items'] %}<i>{{ item }}</i>{% endfor %}"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    site = tmp_path / "site"
    (site / "_data").mkdir(parents=True)
    (site / "p.html.jinja").write_text(PAGE)
    (site / "_data" / "items.json").write_text('["a", "b"]')
    then = time.time_ns() - 60 * 10**9  # not just written: a render of it may be kept
    for path in site.rglob("*"):
        os.utime(path, ns=(then, then))
    return site


def kept_queries(server: RunningServer) -> list[str | None]:
    site = innermost(server.app)
    assert isinstance(site, Site)
    assert isinstance(site.pages, Pages)
    return sorted(key[5] or "" for key in site.pages.reuse._kept)


@pytest.mark.parametrize("reload", [True, False])
def test_a_page_echoing_the_query_is_kept_per_query_until_its_data_changes(
    root: Path, serve_site: Callable[..., RunningServer], reload: bool
) -> None:
    server = serve_site(root, reload=reload, quiet=True)
    with httpx.Client(headers={"Accept-Encoding": "identity"}) as client:
        first = client.get(server.url("/p?q=%3Cx%3E"))
        again = client.get(server.url("/p?q=%3Cx%3E"))
        other = client.get(server.url("/p?q=y"))
        assert first.status_code == again.status_code == other.status_code == 200
        assert "<h1>&lt;x&gt;</h1><i>a</i><i>b</i>" in first.text
        assert again.content == first.content
        assert "<h1>y</h1>" in other.text
        assert kept_queries(server) == ["q=%3Cx%3E", "q=y"]
        (root / "_data" / "items.json").write_text('["a", "b", "c"]')
        # With live reload the watcher says so; without it each use checks the files.
        until(
            lambda: "<i>c</i>" in client.get(server.url("/p?q=%3Cx%3E")).text,
            "the kept render to give way to the changed data",
        )
        (root / "p.html.jinja").write_text("<h2>{{ request.args.q }}</h2>")
        until(
            lambda: "<h2>y</h2>" in client.get(server.url("/p?q=y")).text,
            "the kept render to give way to the changed template",
        )
