"""Markdown pages: which files are pages, their URLs, what the layout sees, escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, MarkdownOptions, build_config
from siteserve.site.layouts import LayoutRules, layout_name
from siteserve.site.markdown import excerpt_source, first_heading
from tests.unit.content_support import LAYOUT, content_site
from tests.unit.page_support import LOCAL_CLIENT, body_text

POST = "---\nlayout: post\ntitle: Intro\ntags: [a, b]\n---\n# Hello\n\nFirst *para*.\n"


# -- which layout ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ("post", "_layouts/post.html"),
        ("post.html", "_layouts/post.html"),
        ("post.html.jinja", "_layouts/post.html.jinja"),
        ("_layouts/wide.html", "_layouts/wide.html"),
        ("/themes/a/page", "themes/a/page.html"),
        ("none", None),
        ("None", None),
        ("", None),
        (False, None),
        (None, None),
    ],
)
def test_layout_names(value: object, name: str | None) -> None:
    assert layout_name(value) == name


def test_front_matter_beats_the_rules_and_the_last_matching_rule_wins() -> None:
    rules = LayoutRules(
        MarkdownOptions(layouts=(("*", "_layouts/page.html"), ("blog/*", "_layouts/post.html")))
    )
    assert rules.layout_for("notes/a.md", {}) == "_layouts/page.html"
    assert rules.layout_for("blog/a.md", {}) == "_layouts/post.html"
    assert rules.layout_for("blog/deep/a.md", {}) == "_layouts/post.html"
    assert rules.layout_for("blog/a.md", {"layout": "wide"}) == "_layouts/wide.html"
    assert rules.layout_for("blog/a.md", {"layout": "none"}) is None
    assert LayoutRules(MarkdownOptions()).layout_for("a.md", {}) is None


def test_the_markdown_table_of_siteserve_toml(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        '[markdown]\nlayout = "_layouts/page.html"\nhtml = true\n'
    )
    config = build_config(tmp_path)
    assert config.markdown == MarkdownOptions(layouts=(("*", "_layouts/page.html"),), html=True)
    (tmp_path / "siteserve.toml").write_text(
        '[markdown.layout]\n"*" = "page"\n"/blog/*" = "post"\n'
    )
    assert build_config(tmp_path).markdown.layouts == (("*", "page"), ("blog/*", "post"))
    (tmp_path / "siteserve.toml").write_text("[server]\ndrafts = true\n")
    assert build_config(tmp_path).drafts and not build_config(tmp_path / "..").drafts
    assert build_config(tmp_path.parent, drafts=True).drafts  # --drafts
    for bad, words in [
        ("[markdown]\nlayout = 3\n", "markdown.layout must be"),
        ("[markdown]\nhtml = 'yes'\n", "markdown.html must be true or false"),
        ("[markdown]\nlayouts = 'x'\n", "unknown key markdown.layouts"),
        ("[markdown.layout]\n'*' = 1\n", "markdown.layout.* must be"),
        ("markdown = 1\n", "[markdown] must be a table"),
    ]:
        (tmp_path / "siteserve.toml").write_text(bad)
        with pytest.raises(ConfigError, match=words.replace("[", r"\[").replace("*", r"\*")):
            build_config(tmp_path)


# -- URLs --------------------------------------------------------------------------------


def test_a_markdown_file_with_a_layout_is_a_page_at_its_clean_url(tmp_path: Path) -> None:
    files = {
        "_layouts/post.html": LAYOUT,
        "notes/intro.md": POST,
        "notes/raw.md": "# Just a file\n",
        "notes/index.md": "---\nlayout: post\n---\nAll notes\n",
        "plain/index.md": "# no layout: the folder gets a listing\n",
        "both/a.html": "<p>static</p>",
        "both/a.md": POST,
        "both/b.html.jinja": "template",
        "both/b.md": POST,
    }
    with content_site(tmp_path, files) as site:
        for target in ("/notes/intro", "/notes/intro.html"):
            response = site.get(target)
            assert response.status == 200
            assert response.header("content-type") == "text/html; charset=utf-8"
            assert "<title>Intro</title>" in body_text(response)
        # The source itself stays where it is.
        source = site.get("/notes/intro.md")
        assert source.header("content-type") == "text/markdown; charset=utf-8"
        assert body_text(source) == POST
        # Without a layout a .md file is a file, as always.
        assert site.kind("/notes/raw") == "not_found"
        assert site.kind("/notes/raw.html") == "not_found"
        assert site.kind("/notes/raw.md") == "file"
        assert "All notes" in site.text("/notes/")
        assert site.kind("/plain/") == "directory"
        # Static beats dynamic: a file, then a template, then the Markdown page.
        assert body_text(site.get("/both/a")) == "<p>static</p>"
        assert body_text(site.get("/both/b")) == "template"


def test_a_default_layout_makes_every_markdown_file_a_page(tmp_path: Path) -> None:
    files = {
        "siteserve.toml": '[markdown.layout]\n"*" = "page"\n"docs/drafts/*" = "none"\n',
        "_layouts/page.html": LAYOUT,
        "docs/guide.md": "# The guide\n\nRead me.\n",
        "docs/drafts/wip.md": "# not yet\n",
        "docs/own.md": "---\nlayout: none\n---\n# raw\n",
    }
    with content_site(tmp_path, files) as site:
        text = site.text("/docs/guide")
        assert "<title>The guide</title>" in text  # the first heading, when no title is given
        assert '<h1 id="the-guide">The guide</h1>' in text
        assert site.kind("/docs/drafts/wip") == "not_found"
        assert site.kind("/docs/own") == "not_found"


def test_a_broken_front_matter_shows_the_error_page(tmp_path: Path) -> None:
    files = {"_layouts/post.html": LAYOUT, "bad.md": "---\nlayout: post\ntitle: [x\n---\nbody"}
    with content_site(tmp_path, files) as site:
        response = site.get("/bad", client=LOCAL_CLIENT)
        assert response.status == 500
        text = body_text(response)
        assert "bad.md:3" in text and "front matter is not valid YAML" in text
        assert tmp_path / "bad.md" in response.sources


def test_a_missing_layout_is_a_template_error(tmp_path: Path) -> None:
    with content_site(tmp_path, {"a.md": "---\nlayout: gone\n---\nx"}) as site:
        response = site.get("/a", client=LOCAL_CLIENT)
        assert response.status == 500
        assert "_layouts/gone.html" in body_text(response)


# -- what the layout sees ------------------------------------------------------------------


def test_the_layout_sees_content_page_and_what_every_page_sees(tmp_path: Path) -> None:
    files = {
        "siteserve.toml": '[site]\nname = "Notes"\n',
        "_data/who.json": '{"me": "Ada"}',
        "_layouts/base.html": "<html>{% block main %}{% endblock %}</html>",
        "_layouts/post.html": '{% extends "_layouts/base.html" %}{% block main %}'
        "<h1>{{ page.title }}</h1>{{ content }}<p>{{ page.tags|join(' ') }} {{ site.name }} "
        "{{ data.who.me }} {{ request.path }} {{ url('/x y') }}</p>{% endblock %}",
        "n/intro.md": POST,
    }
    with content_site(tmp_path, files) as site:
        response = site.get("/n/intro")
        text = body_text(response)
        assert "<h1>Intro</h1>" in text
        assert '<h1 id="hello">Hello</h1>\n<p>First <em>para</em>.</p>' in text  # safe HTML
        assert "<p>a b Notes Ada /n/intro /x%20y</p>" in text
        root = site.config.root
        assert set(response.sources) == {
            root / "n/intro.md",
            root / "_layouts/post.html",
            root / "_layouts/base.html",
            root / "_data/who.json",
        }


def test_raw_html_is_escaped_unless_the_site_allows_it(tmp_path: Path) -> None:
    text = (
        "---\nlayout: post\n---\n<script>alert(1)</script>\n\n"
        "A <b>bold</b> [x](javascript:alert(1))\n"
    )
    files = {"_layouts/post.html": "{{ content }}", "a.md": text}
    with content_site(tmp_path, files) as site:
        out = site.text("/a")
        assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
        assert "&lt;b&gt;bold&lt;/b&gt;" in out
        assert 'href="javascript' not in out
    (tmp_path / "siteserve.toml").write_text("[markdown]\nhtml = true\n")
    with content_site(tmp_path, {}) as site:
        out = site.text("/a")
        assert "<script>alert(1)</script>" in out and "<b>bold</b>" in out
        assert 'href="javascript' not in out  # links are still checked


def test_the_extensions_and_highlighting(tmp_path: Path) -> None:
    text = (
        "---\nlayout: post\n---\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n~~gone~~\n\n- [x] done\n- [ ] todo\n\n"
        "Note[^1].\n\n[^1]: The note.\n\n## Two words\n\n"
        "```python\ndef f(): pass\n```\n\n```nosuchlanguage\n<x>\n```\n"
    )
    with content_site(tmp_path, {"_layouts/post.html": "{{ content }}", "a.md": text}) as site:
        out = site.text("/a")
        assert "<table>" in out and "<td>1</td>" in out
        assert "<s>gone</s>" in out
        assert 'class="task-list-item-checkbox" checked="checked"' in out
        assert 'class="footnote-ref"' in out and "The note." in out
        assert '<h2 id="two-words">Two words</h2>' in out
        assert (
            '<pre class="highlight"><code class="language-python"><span class="k">def</span>' in out
        )
        assert '<code class="language-nosuchlanguage">&lt;x&gt;\n</code>' in out


def test_the_markdown_filter(tmp_path: Path) -> None:
    files = {
        "p.html.jinja": "{{ intro|markdown }}|{{ missing|markdown }}|{{ '<i>x</i>'|markdown }}"
    }
    files["p.html.jinja"] = "{% set intro = '**hi**' %}" + files["p.html.jinja"]
    with content_site(tmp_path, files) as site:
        assert site.text("/p") == "<p><strong>hi</strong></p>\n||<p>&lt;i&gt;x&lt;/i&gt;</p>\n"


def test_a_page_whose_layout_went_away_from_its_front_matter_is_a_file_again(
    tmp_path: Path,
) -> None:
    files = {"_layouts/post.html": "{{ content }}", "a.md": "---\nlayout: post\n---\nx"}
    with content_site(tmp_path, files) as site:
        assert site.get("/a").status == 200
        site.write("a.md", "no layout now")
        site.site.invalidate([tmp_path / "a.md"])
        assert site.get("/a").status == 404
        assert body_text(site.get("/a.md")) == "no layout now"


# -- excerpts and titles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "excerpt"),
    [
        ("# Title\n\nFirst para\nstill.\n\nSecond.", "First para\nstill."),
        ("Intro.\n\n<!-- more -->\n\nRest", "Intro."),
        ("One.\n\nTwo.\n<!-- more -->\nThree", "One.\n\nTwo."),
        ("```\ncode\n```\n\n    indented\n\nText.", "Text."),
        ("# Only a heading\n", ""),
        ("\r\n\r\n## Sub\r\n\r\nWindows.\r\n", "Windows."),
    ],
)
def test_excerpt_source(body: str, excerpt: str) -> None:
    assert excerpt_source(body) == excerpt


def test_first_heading() -> None:
    assert first_heading("intro\n# The Title #\n") == "The Title"
    assert first_heading("```\n# not a heading\n```\n## Sub\n") is None
    assert first_heading("no heading") is None
