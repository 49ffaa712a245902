"""One URL rendered by the Site for a build: what is written, and what is said about it.

No sockets: a temporary site, a Renderer in this process, its output folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from siteserve.build.jobs import NotFoundPage, Visit
from siteserve.build.render import Renderer
from siteserve.build.settings import BuildSettings
from siteserve.http import Request
from tests.unit.page_support import write_site

SITE = {
    "_layouts/base.html": (
        "<title>{% block title %}{% endblock %}</title>{% block body %}{% endblock %}"
    ),
    "about.html.jinja": (
        '{% extends "_layouts/base.html" %}{% block title %}About{% endblock %}'
        '{% block body %}<a href="/blog/">blog</a> <a href="team">team</a>{% endblock %}'
    ),
    "search.html.jinja": "You asked for {{ request.args.q or 'nothing' }}.",
    "count.html.jinja": "{% do session.update(n=session.get('n', 0) + 1) %}{{ session.n }}",
    "theme.html.jinja": "{% do response.set_cookie('theme', 'dark') %}dark",
    "old.html.jinja": "{% do redirect(url('/about'), 301) %}",
    "gone.html.jinja": "{% do abort(404) %}",
    "forbidden.html.jinja": "{% do abort(403) %}",
    "broken.html.jinja": "line one\n{{ missing.attribute.deeper }}\n",
    "clock.html.jinja": "{{ now(utc=True).isoformat() }}",
    "404.html.jinja": "Not here ({{ error.status }}) <a href='/about'>about</a>",
    "blog/[slug].html.jinja": "Post {{ params.slug }}",
}

#: 2023-11-14T22:13:20Z, the instant every page of these builds sees.
CLOCK = 1_700_000_000.0


@pytest.fixture
def renderer(tmp_path: Path) -> Iterator[Renderer]:
    root = write_site(tmp_path / "site", SITE)
    out = tmp_path / "out"
    out.mkdir()
    made = Renderer(BuildSettings(root=root.resolve(), out=out, clock=CLOCK))
    yield made
    made.close()


def _out(renderer: Renderer, rel: str) -> bytes:
    return (renderer.settings.out / rel).read_bytes()


def test_a_page_is_written_as_the_live_server_renders_it(renderer: Renderer) -> None:
    outcome = renderer.run_one(Visit("/about"))
    record = outcome.record
    assert record is not None and (record.kind, record.status, record.out) == (
        "page",
        200,
        "about.html",
    )
    assert (
        _out(renderer, "about.html")
        == b'<title>About</title><a href="/blog/">blog</a> <a href="team">team</a>'
    )
    assert record.links == ["/blog/", "/team"]
    assert record.template == "about.html.jinja"
    assert outcome.source_paths == ["_layouts/base.html", "about.html.jinja"]
    assert record.inputs == []


def test_another_spelling_is_an_alias_of_the_canonical_url(renderer: Renderer) -> None:
    record = renderer.run_one(Visit("/about.html")).record
    assert record is not None and (record.kind, record.location) == ("alias", "/about")
    assert not (renderer.settings.out / "about.html").exists()


@pytest.mark.parametrize(
    ("url", "inputs", "cookie"),
    [
        ("/search", ["request.args"], False),
        ("/count", ["session"], True),
        ("/theme", [], True),
    ],
)
def test_what_a_page_reads_of_its_request_is_noted(
    renderer: Renderer, url: str, inputs: list[str], cookie: bool
) -> None:
    record = renderer.run_one(Visit(url)).record
    assert record is not None
    assert (record.inputs, record.sets_cookie, record.status) == (inputs, cookie, 200)
    assert record.out is not None and (renderer.settings.out / record.out).exists()


def test_a_redirect_becomes_a_rule_and_a_small_page(renderer: Renderer) -> None:
    record = renderer.run_one(Visit("/old")).record
    assert record is not None and (record.status, record.location, record.out) == (
        301,
        "/about",
        "old.html",
    )
    page = _out(renderer, "old.html")
    assert b'http-equiv="refresh" content="0; url=/about"' in page
    assert record.links == ["/about"]


def test_abort_writes_nothing(renderer: Renderer) -> None:
    for url, status in (("/gone", 404), ("/forbidden", 403)):
        record = renderer.run_one(Visit(url)).record
        assert record is not None and (record.status, record.out) == (status, None)
    assert sorted(path.name for path in renderer.settings.out.iterdir()) == []


def test_a_template_error_says_file_and_line_as_the_server_logs_it(renderer: Renderer) -> None:
    record = renderer.run_one(Visit("/broken")).record
    assert record is not None and record.status == 500 and record.out is None
    assert record.problem is not None
    assert record.problem.startswith("broken.html.jinja:2: UndefinedError: ")


def test_every_renderer_sees_the_one_instant_of_the_build(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", SITE)
    pages = []
    for name in ("one", "two"):
        out = tmp_path / name
        out.mkdir()
        renderer = Renderer(BuildSettings(root=root.resolve(), out=out, clock=CLOCK))
        try:
            record = renderer.run_one(Visit("/clock")).record
        finally:
            renderer.close()
        assert record is not None and record.inputs == ["now"]
        pages.append((out / "clock.html").read_bytes())
    assert pages[0] == pages[1] == b"2023-11-14T22:13:20+00:00"


def test_a_route_is_rendered_for_the_url_that_reached_it(renderer: Renderer) -> None:
    outcome = renderer.run_one(Visit("/blog/caf%C3%A9"))
    assert outcome.record is not None and outcome.record.out == "blog/café.html"
    assert _out(renderer, "blog/café.html") == "Post café".encode()
    assert outcome.record.routes is not None


def test_the_not_found_page_is_written_as_404_html(renderer: Renderer) -> None:
    outcome = renderer.run_one(NotFoundPage())
    record = outcome.record
    assert record is not None and (record.status, record.out, record.template) == (
        404,
        "404.html",
        "404.html.jinja",
    )
    assert _out(renderer, "404.html") == b"Not here (404) <a href='/about'>about</a>"
    assert record.links == ["/about"]


def test_files_and_misses_are_reported_not_rendered(renderer: Renderer) -> None:
    record = renderer.run_one(Visit("/nowhere")).record
    assert record is not None and (record.kind, record.status) == ("missing", 404)
    record = renderer.run_one(Visit("/blog")).record
    assert record is not None and (record.kind, record.location) == ("redirect", "/blog/")


@pytest.mark.parametrize(
    "url", ["/about", "/search", "/count", "/theme", "/old", "/gone", "/broken", "/blog/a"]
)
def test_a_page_rendered_again_skips_site_handle_and_answers_the_same(
    renderer: Renderer, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = renderer.run_one(Visit(url))  # through Site.handle: the pages learn its cost
    written = {rel: (renderer.settings.out / rel).read_bytes() for rel, *_ in first.written}
    for rel in written:
        (renderer.settings.out / rel).unlink()
    handled: list[str] = []
    original = renderer.site.handle

    def spy(request: Request) -> object:
        handled.append(request.path)
        return original(request)

    monkeypatch.setattr(renderer.site, "handle", spy)
    again = renderer.run_one(Visit(url))
    assert handled == []
    assert again.record == first.record and again.source_paths == first.source_paths
    assert {rel: (renderer.settings.out / rel).read_bytes() for rel, *_ in again.written} == (
        written
    )


def test_a_page_the_pages_module_fails_on_is_answered_by_site_handle(
    renderer: Renderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An exception out of the direct path is Site.handle's to answer, as it would live
    (its 500, its log line), not the renderer's last-resort record."""
    renderer.run_one(Visit("/about"))

    def broken(*args: object) -> None:
        raise RuntimeError("not this way")

    monkeypatch.setattr(renderer.pages, "render_now", broken)
    record = renderer.run_one(Visit("/about")).record
    assert record is not None and (record.kind, record.status, record.out) == ("page", 500, None)
    assert record.problem == "error while answering GET /about: RuntimeError: not this way"
