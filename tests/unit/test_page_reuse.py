"""Renders answered again while nothing they were made from changed, and only those."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.content_support import content_site
from tests.unit.page_support import body_text

COUNTER = "{% set _ = counter.append(1) %}"


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts real renders: every template below appends to ``counter`` when rendered."""
    from siteserve.site import page_context

    counted: list[int] = []
    real = page_context.site_globals

    def with_counter(*args: object, **kwargs: object) -> dict[str, object]:
        values = real(*args, **kwargs)  # type: ignore[arg-type]
        values["counter"] = counted
        return values

    monkeypatch.setattr("siteserve.site.pages.site_globals", with_counter)
    return counted


def test_a_page_that_reads_only_its_url_is_rendered_once(
    tmp_path: Path, renders: list[int]
) -> None:
    files = {
        "_layouts/post.html": COUNTER + "{{ content }} at {{ request.path }} on {{ request.host }}",
        "a.md": "---\nlayout: post\n---\nHello",
    }
    with content_site(tmp_path, files) as site:
        site.age()
        first = site.get("/a")
        again = site.get("/a")
        assert len(renders) == 1
        assert body_text(again) == body_text(first) == "<p>Hello</p>\n at /a on example.test"
        assert again.sources == first.sources and again.headers == first.headers
        assert again.headers is not first.headers  # a list of its own, for the layers outside
        assert site.get("/a", method="HEAD").status == 200 and len(renders) == 1
        # Another URL of the same page, another host: renders of their own.
        assert body_text(site.get("/a.html")).endswith("at /a.html on example.test")
        site.get("/a", headers=[("host", "other.test")])
        assert len(renders) == 3


def test_without_a_watcher_every_use_checks_the_files(tmp_path: Path, renders: list[int]) -> None:
    files = {"_layouts/post.html": COUNTER + "{{ content }}", "a.md": "---\nlayout: post\n---\nOne"}
    with content_site(tmp_path, files) as site:
        site.age()
        site.get("/a")
        site.get("/a")
        assert len(renders) == 1
        site.write("a.md", "---\nlayout: post\n---\nTwo, longer")
        assert body_text(site.get("/a")) == "<p>Two, longer</p>\n"
        site.write("_layouts/post.html", COUNTER + "[{{ content }}]")
        assert body_text(site.get("/a")) == "[<p>Two, longer</p>\n]"
        assert len(renders) == 3


def test_with_a_watcher_a_change_set_drops_every_kept_render(
    tmp_path: Path, renders: list[int]
) -> None:
    files = {"_layouts/post.html": COUNTER + "{{ content }}", "a.md": "---\nlayout: post\n---\nOne"}
    with content_site(tmp_path, files, watched=True) as site:
        site.age()
        site.get("/a")
        site.write("a.md", "---\nlayout: post\n---\nTwo")
        assert body_text(site.get("/a")) == "<p>One</p>\n"  # the watcher has not said yet
        site.site.invalidate([tmp_path / "a.md"])
        assert body_text(site.get("/a")) == "<p>Two</p>\n"
        assert len(renders) == 2


@pytest.mark.parametrize(
    "expression",
    [
        "{{ request.args.q }}",
        "{{ request.query_string }}",
        "{{ request.url }}",
        "{{ request.method }}",
        "{{ request.headers.get('accept') }}",
        "{{ request.cookies.theme }}",
        "{{ request.client }}",
        "{{ request.form.name }}",
        "{{ session.get('n') }}",
        "{{ now().year }}",
        "{{ [1, 2]|random }}",
        "{{ lipsum(1) }}",
        "{% do response.set_cookie('a', 'b') %}",
    ],
)
def test_a_page_that_reads_the_request_is_rendered_every_time(
    tmp_path: Path, renders: list[int], expression: str
) -> None:
    with content_site(tmp_path, {"p.html.jinja": COUNTER + expression}) as site:
        site.age()
        site.get("/p?q=1")
        site.get("/p?q=2")
        assert len(renders) == 2


def test_only_bodiless_gets_of_good_pages_are_kept(tmp_path: Path, renders: list[int]) -> None:
    files = {
        "p.html.jinja": COUNTER + "p",
        "gone.html.jinja": COUNTER + "{% do abort(404) %}",
        "away.html.jinja": COUNTER + "{% do redirect('/p') %}",
        "broken.html.jinja": COUNTER + "{{ 1 / 0 }}",
    }
    with content_site(tmp_path, files) as site:
        site.age()
        site.get("/p", method="POST", body=b"a=1")
        site.get("/p", method="POST", body=b"a=1")
        assert len(renders) == 2
        for target in ("/gone", "/away", "/broken"):
            site.get(target)
            site.get(target)
        assert len(renders) == 8


@pytest.mark.parametrize("expression", ["{{ request.args.q }}", "{{ request.query_string }}"])
def test_a_page_that_reads_the_query_is_kept_for_that_query(
    tmp_path: Path, renders: list[int], expression: str
) -> None:
    files = {
        "p.html.jinja": COUNTER + expression + " {{ data['items']|length }}",
        "_data/items.json": "[1, 2]",
    }
    with content_site(tmp_path, files) as site:
        site.age()
        first = site.get("/p?q=1")
        again = site.get("/p?q=1")
        assert len(renders) == 1
        assert body_text(again) == body_text(first) and body_text(first).endswith(" 2")
        assert "request.args" in again.inputs  # a build still says it differs per query
        assert body_text(site.get("/p?q=2")) != body_text(first)
        assert len(renders) == 2
        site.get("/p?q=1")
        site.get("/p?q=2", method="HEAD")
        assert len(renders) == 2  # each query keeps its own render
        site.get("/p")
        assert len(renders) == 3
        # Its data file changes: the next request sees it (no watcher: each use checks).
        site.write("_data/items.json", "[1, 2, 3]")
        assert body_text(site.get("/p?q=1")).endswith(" 3")
        site.write("p.html.jinja", COUNTER + expression + " changed")
        assert body_text(site.get("/p?q=1")).endswith(" changed")
        assert len(renders) == 5


def test_with_a_watcher_a_change_set_drops_the_renders_kept_per_query(
    tmp_path: Path, renders: list[int]
) -> None:
    files = {"p.html.jinja": COUNTER + "{{ request.args.q }} one"}
    with content_site(tmp_path, files, watched=True) as site:
        site.age()
        site.get("/p?q=a")
        site.get("/p?q=b")
        site.get("/p?q=a")
        assert len(renders) == 2
        site.write("p.html.jinja", COUNTER + "{{ request.args.q }} two")
        site.site.invalidate([tmp_path / "p.html.jinja"])
        assert body_text(site.get("/p?q=a")) == "a two"
        assert body_text(site.get("/p?q=b")) == "b two"
        assert len(renders) == 4


def test_a_page_that_never_reads_the_query_is_kept_for_every_query(
    tmp_path: Path, renders: list[int]
) -> None:
    with content_site(tmp_path, {"p.html.jinja": COUNTER + "{{ request.path }}"}) as site:
        site.age()
        for target in ("/p?utm=1", "/p?utm=2", "/p"):
            assert body_text(site.get(target)) == "/p"
        assert len(renders) == 1


@pytest.mark.parametrize(
    "expression",
    [
        "{{ now().year }}",
        "{{ session.get('n') }}",
        "{{ request.headers.get('accept') }}",
        "{{ request.cookies.theme }}",
        "{{ request.url }}",
        "{% do response.set_cookie('a', 'b') %}",
        "{% do response.set_header('X-A', 'b') %}",
        "{% do response.headers.update({'X-A': 'b'}) %}",
        "{% do response.set_status(201) %}",
        "{{ [1, 2]|random }}",
    ],
)
def test_a_page_that_reads_the_query_and_more_is_rendered_every_time(
    tmp_path: Path, renders: list[int], expression: str
) -> None:
    page = COUNTER + "{{ request.args.q }}" + expression
    with content_site(tmp_path, {"p.html.jinja": page}) as site:
        site.age()
        site.get("/p?q=1")
        site.get("/p?q=1")
        assert len(renders) == 2
