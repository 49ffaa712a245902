"""Front matter: parsing, errors with file and line, templates that start with one."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import jinja2
import pytest

from siteserve.site.front_matter import FrontMatterError, FrontMatterIndex, blanked, split
from tests.unit.page_support import LOCAL_CLIENT, body_text, page_site


@pytest.mark.parametrize(
    ("text", "meta", "body"),
    [
        (
            "---\ntitle: Hi\ndate: 2024-05-02\n---\nbody\n",
            {"title": "Hi", "date": datetime.date(2024, 5, 2)},
            "body\n",
        ),
        ("---\r\ntitle: Hi\r\n---\r\nbody\r\n", {"title": "Hi"}, "body\r\n"),
        ("\ufeff---\ntags: [a, b]\n...\nbody", {"tags": ["a", "b"]}, "body"),
        ("---\n---\nbody", {}, "body"),
        ("---   \ntitle: x\n---  \n", {"title": "x"}, ""),
        # No closing line: a Markdown rule, not a front matter.
        ("---\nnot front matter\n", {}, "---\nnot front matter\n"),
        ("# Title\n---\na: 1\n---\n", {}, "# Title\n---\na: 1\n---\n"),
        ("plain", {}, "plain"),
    ],
)
def test_split(text: str, meta: dict[str, object], body: str) -> None:
    found = split(text)
    assert found.meta == meta
    assert found.body == body


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("---\ntitle: [unclosed\n---\n", 2, "not valid YAML"),
        ("---\ntitle: a\nbad: : x\n---\n", 3, "not valid YAML"),
        ("---\na: 1\n\tb: 2\n---\n", 3, "not valid YAML"),
        ("---\n- a list\n---\n", 2, "'key: value' lines, not a list"),
        ("---\njust text\n---\n", 2, "not a str"),
    ],
)
def test_a_broken_front_matter_is_a_syntax_error_at_its_line(
    text: str, line: int, words: str
) -> None:
    with pytest.raises(FrontMatterError) as caught:
        split(text, "/site/notes/a.md")
    error = caught.value
    assert isinstance(error, jinja2.TemplateSyntaxError)
    assert error.lineno == line
    assert error.filename == "/site/notes/a.md"
    assert words in error.message


def test_blanked_keeps_line_numbers_and_outputs_nothing_for_the_front_matter() -> None:
    meta, source = blanked("---\ntitle: x\n---\nline 4 {{ oops(\n")
    assert meta == {"title": "x"}
    with pytest.raises(jinja2.TemplateSyntaxError) as caught:
        jinja2.Environment().from_string(source)
    assert caught.value.lineno == 4
    meta, source = blanked("---\na: 1\n---\n<?xml version='1.0'?>")
    assert jinja2.Environment().from_string(source).render() == "<?xml version='1.0'?>"
    assert blanked("no front matter") == ({}, "no front matter")


def test_the_index_parses_once_per_version_and_trusts_a_watcher(tmp_path: Path) -> None:
    path = tmp_path / "a.md"
    path.write_text("---\ntitle: one\n---\nbody")
    index = FrontMatterIndex()
    first = index.get(path)
    assert first.meta == {"title": "one"} and first.body == "body"
    assert index.get(path) is first
    path.write_text("---\ntitle: two, longer\n---\nbody")
    assert index.get(path).meta == {"title": "two, longer"}  # a new version, seen by its stamp
    watched = FrontMatterIndex(trusted=True)
    kept = watched.get(path)
    path.write_text("---\ntitle: three\n---\n")
    os.utime(path, ns=(1, 1))
    assert watched.get(path) is kept  # trusted until the watcher says otherwise
    watched.forget([tmp_path])
    assert watched.get(path).meta == {"title": "three"}
    path.unlink()
    with pytest.raises(FileNotFoundError):
        index.get(path)


# -- templates with front matter -------------------------------------------------------


def test_a_template_page_sees_its_front_matter_as_page(tmp_path: Path) -> None:
    files = {
        "_layouts/base.html": "<title>{{ page.title }}</title>{% block body %}{% endblock %}",
        "about.html.jinja": '---\ntitle: About us\n---\n{% extends "_layouts/base.html" %}'
        "{% block body %}<h1>{{ page.title }}</h1>{% endblock %}",
        "plain.html.jinja": "[{{ page.title }}]{{ page|length }}",
        "feed.xml.jinja": '---\ntitle: Feed\n---\n<?xml version="1.0"?><t>{{ page.title }}</t>',
        "data.json.jinja": "---\n{{ 1 + 1 }}\n---\n",
    }
    with page_site(tmp_path, files) as site:
        assert body_text(site.get("/about")) == "<title>About us</title><h1>About us</h1>"
        assert body_text(site.get("/plain")) == "[]0"
        # The feed starts with its XML declaration: the front matter leaves nothing behind.
        assert body_text(site.get("/feed.xml")) == '<?xml version="1.0"?><t>Feed</t>'
        # Front matter is for HTML, XML and SVG pages: a JSON template starting with
        # "---" is left alone.
        assert body_text(site.get("/data.json")) == "---\n2\n---"


def test_a_broken_front_matter_answers_the_template_error_page(tmp_path: Path) -> None:
    files = {"p.html.jinja": "---\ntitle: ok\nwhat: [oops\n---\n<p>hi</p>"}
    with page_site(tmp_path, files) as site:
        response = site.get("/p", client=LOCAL_CLIENT)
        assert response.status == 500
        text = body_text(response)
        assert "p.html.jinja:3" in text and "FrontMatterError" in text
        assert "front matter is not valid YAML" in text
        assert tmp_path / "p.html.jinja" in response.sources  # saving a fix reloads it
