"""The template error page: the right file and line, escaped, nothing run, nothing else shown."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import jinja2
import pytest

from siteserve.site.template_errors import describe, problem_response
from tests.unit.page_support import LOCAL_CLIENT, body_text, page_site

LAYOUT_WITH_SYNTAX_ERROR = "<html>\n<body>\n{% block body %}{% endblock %\n</body>\n"


def marked_line(html: str) -> tuple[str, str]:
    found = re.search(
        r'<tr class="marked"[^>]*><td class="number">(\d+)</td><td>(.*?)</td></tr>', html
    )
    assert found is not None, html
    return found.group(1), found.group(2)


def test_a_syntax_error_in_the_layout_names_the_layout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files = {
        "_layouts/base.html": LAYOUT_WITH_SYNTAX_ERROR,
        "blog/post.html.jinja": '{% extends "_layouts/base.html" %}',
    }
    with (
        caplog.at_level(logging.ERROR, logger="siteserve.pages"),
        page_site(tmp_path, files, LOCAL_CLIENT) as site,
    ):
        response = site.get("/blog/post")
    html = body_text(response)
    assert response.status == 500
    assert response.header("content-type") == "text/html; charset=utf-8"
    assert response.header("cache-control") == "no-store"
    assert "<h1>TemplateSyntaxError</h1>" in html
    assert "_layouts/base.html, line 3" in html
    assert marked_line(html) == ("3", "{% block body %}{% endblock %")
    assert "&lt;body&gt;" in html  # the source around it, escaped
    # Saving a fix to the layout must reload this page.
    assert site.config.root / "_layouts/base.html" in response.sources
    records = [r for r in caplog.records if r.name == "siteserve.pages"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert line.startswith("_layouts/base.html:3: TemplateSyntaxError: ")
    assert "\n" not in line


def test_a_runtime_error_in_an_include_names_the_include(tmp_path: Path) -> None:
    files = {
        "_partials/list.html": "<ul>\n{% for x in items %}\n<li>{{ x.name.upper() }}</li>\n"
        "{% endfor %}</ul>",
        "p.html.jinja": "{% set items = [{'name': 1}] %}\n{% include '_partials/list.html' %}",
    }
    with page_site(tmp_path, files, LOCAL_CLIENT) as site:
        html = body_text(site.get("/p"))
    assert "_partials/list.html, line 3" in html
    assert "<h1>UndefinedError</h1>" in html


def test_a_missing_include_names_the_page_and_line(tmp_path: Path) -> None:
    files = {"p.html.jinja": "one\ntwo\n{% include '_partials/nope.html' %}\n"}
    with page_site(tmp_path, files, LOCAL_CLIENT) as site:
        html = body_text(site.get("/p"))
    assert "<h1>TemplateNotFound</h1>" in html
    assert "p.html.jinja, line 3" in html
    assert "_partials/nope.html" in html


def test_a_broken_data_file_shows_the_line_that_read_it(tmp_path: Path) -> None:
    files = {"_data/team.json": '{"a": }', "team.html.jinja": "x\n{{ data.team }}"}
    with page_site(tmp_path, files, LOCAL_CLIENT) as site:
        response = site.get("/team")
    html = body_text(response)
    assert "team.html.jinja, line 2" in html
    assert "_data/team.json: Expecting value" in html
    assert site.config.root / "_data/team.json" in response.sources


def test_the_page_escapes_everything_and_runs_nothing(tmp_path: Path) -> None:
    files = {
        "x.html.jinja": "<script>alert(1)</script> {{ 7 * 7 }}\n"
        "{{ raise_error('<img src=x onerror=alert(2)>') }}"
    }
    with page_site(tmp_path, files, LOCAL_CLIENT) as site:
        site.pages.environment.globals["raise_error"] = _raise
        html = body_text(site.get("/x"))
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7 * 7 }}" in html and "49" not in html
    assert "<img" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def _raise(message: str) -> None:
    raise RuntimeError(message)


def test_a_file_outside_the_site_is_never_shown(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    page = root / "p.html.jinja"
    page.write_text("page")
    outside = tmp_path / "secret.html"
    outside.write_text("one\ntwo\nSECRET LINE\n")
    error = jinja2.TemplateSyntaxError("bad", 3, "secret.html", str(outside))
    problem = describe(error, root, page, set())
    assert problem.file == "p.html.jinja"
    assert problem.line is None and problem.source == ()
    html = body_text(problem_response(problem))
    assert "SECRET" not in html


def test_only_templates_the_render_loaded_are_candidates(tmp_path: Path) -> None:
    page = tmp_path / "p.html.jinja"
    page.write_text("x")
    try:
        raise ValueError("plain python error")
    except ValueError as error:
        problem = describe(error, tmp_path, page, set())
    # No template frame: the page is named, without a line or source.
    assert (problem.file, problem.line, problem.kind) == ("p.html.jinja", None, "ValueError")
    assert problem.location == "p.html.jinja"


def test_source_lines_are_clipped_to_the_file(tmp_path: Path) -> None:
    files = {"short.html.jinja": "{{ 1 // 0 }}"}
    with page_site(tmp_path, files, LOCAL_CLIENT) as site:
        html = body_text(site.get("/short"))
    assert marked_line(html) == ("1", "{{ 1 // 0 }}")
    assert html.count('<td class="number">') == 1
