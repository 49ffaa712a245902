"""pages(glob): what a glob matches, URLs, sorting by front matter, drafts, what is recorded."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from siteserve.site.collections import compile_glob, page_url
from tests.unit.content_support import content_site
from tests.unit.page_support import LOCAL_CLIENT

LAYOUT = "{{ content }}"
INDEX = (
    "{% for p in pages('blog/*.md')|sort(attribute='page.date', reverse=true) %}"
    "{{ p.url }} {{ p.page.title }} [{{ p.excerpt|striptags }}]\n{% endfor %}"
)


def post(title: str, date: str, *, extra: str = "", body: str = "Body.") -> str:
    return f"---\nlayout: post\ntitle: {title}\ndate: {date}\n{extra}---\n{body}\n"


BLOG = {
    "_layouts/post.html": LAYOUT,
    "blog/first.md": post("First", "2024-01-05", body="# First\n\nThe *first* one.\n\nMore."),
    "blog/second.md": post("Second", "2024-03-01", extra="excerpt: Told **here**\n"),
    "blog/third.md": post("Third", "2024-02-10", extra="tags: [news]\n"),
    "blog/wip.md": post("Draft", "2024-04-01", extra="draft: true\n"),
    "blog/notes.md": "no layout: not a page",
    "blog/photo.png": "not a page either",
    "blog/_hidden.md": post("Hidden", "2024-05-01"),
    "blog/[slug].html.jinja": "a route, not one page",
    "blog/deeper/fourth.md": post("Fourth", "2024-02-01"),
    "index.html.jinja": INDEX,
}


@pytest.mark.parametrize(
    ("glob", "matches", "misses"),
    [
        ("blog/*.md", ["blog/a.md"], ["blog/a/b.md", "a.md", "blog/a.mdx", "blogx/a.md"]),
        ("blog/**/*.md", ["blog/a.md", "blog/x/y/a.md"], ["a.md", "blog/a.txt"]),
        ("**/*.md", ["a.md", "x/y.md"], ["a.txt"]),
        ("docs/**", ["docs/a", "docs/b/c.md"], ["docs", "other/a"]),
        ("p/[ab]?.md", ["p/a1.md", "p/bz.md"], ["p/c1.md", "p/a12.md"]),
        ("p/[!a]*.md", ["p/b.md"], ["p/a.md"]),
        ("/blog/*.md", ["blog/a.md"], []),
    ],
)
def test_globs(glob: str, matches: list[str], misses: list[str]) -> None:
    compiled = compile_glob(glob)
    assert all(compiled.pattern.match(path) for path in matches)
    assert not any(compiled.pattern.match(path) for path in misses)


def test_globs_stay_in_the_site() -> None:
    assert compile_glob("blog/*.md").base == ("blog",) and not compile_glob("blog/*.md").deep
    assert compile_glob("blog/**/*.md").deep
    for bad in ("", "../*.md", "a/../../b"):
        with pytest.raises(ValueError, match="inside the site folder"):
            compile_glob(bad)


@pytest.mark.parametrize(
    ("relative", "rendered", "url"),
    [
        ("notes/intro.md", True, "/notes/intro"),
        ("notes/index.md", True, "/notes/"),
        ("index.md", True, "/"),
        ("notes/raw.md", False, "/notes/raw.md"),
        ("blog/index.html.jinja", True, "/blog/"),
        ("about.html.jinja", True, "/about"),
        ("contact.jinja", True, "/contact"),
        ("feed.xml.jinja", True, "/feed.xml"),
        ("about.html", False, "/about"),
        ("my notes/café.md", True, "/my%20notes/caf%C3%A9"),
    ],
)
def test_page_urls(relative: str, rendered: bool, url: str) -> None:
    assert page_url(relative, rendered) == url


def test_a_blog_index_sorted_by_date_without_drafts(tmp_path: Path) -> None:
    with content_site(tmp_path, BLOG) as site:
        assert site.text("/") == (
            "/blog/second Second [Told here]\n"
            "/blog/third Third [Body.]\n"
            "/blog/first First [The first one.]\n"
        )


def test_drafts_are_listed_with_drafts_on(tmp_path: Path) -> None:
    with content_site(tmp_path, BLOG, drafts=True) as site:
        assert site.text("/").startswith("/blog/wip Draft [Body.]\n")
        assert site.get("/blog/wip").status == 200
    with content_site(tmp_path, {}) as site:
        assert "wip" not in site.text("/")
        assert site.get("/blog/wip").status == 200  # not listed, but its URL still works


def test_what_a_listing_holds(tmp_path: Path) -> None:
    files = {
        **BLOG,
        "all.html.jinja": "{% for p in pages('**') %}{{ p.path }}={{ p.url }}\n{% endfor %}",
        "tagged.html.jinja": "{% for p in pages('blog/**/*.md') if 'news' in p.page.tags %}"
        "{{ p.page.title }}{% endfor %}|{{ pages('blog/first.md')[0].content }}",
        "about.html": "<p>plain</p>",
        "feed.xml.jinja": "",
    }
    with content_site(tmp_path, files) as site:
        listed = site.text("/all").splitlines()
        assert "about.html=/about" in listed
        assert "feed.xml.jinja=/feed.xml" in listed
        assert "blog/deeper/fourth.md=/blog/deeper/fourth" in listed
        assert not [line for line in listed if "notes.md" in line or "photo" in line]
        assert not [line for line in listed if "_hidden" in line or "[slug]" in line]
        assert not [line for line in listed if "_layouts" in line or "wip" in line]
        assert site.text("/tagged") == (
            'Third|<h1 id="first">First</h1>\n<p>The <em>first</em> one.</p>\n<p>More.</p>\n'
        )


def test_a_listing_records_its_folder_and_files(tmp_path: Path) -> None:
    with content_site(tmp_path, BLOG) as site:
        sources = set(site.get("/").sources)
        root = site.config.root
        assert root / "blog" in sources
        assert {root / "blog/first.md", root / "blog/second.md", root / "blog/wip.md"} <= sources
        assert root / "blog/photo.png" not in sources


def test_a_new_post_shows_at_once_without_a_watcher(tmp_path: Path) -> None:
    with content_site(tmp_path, BLOG) as site:
        assert site.text("/").count("\n") == 3
        site.write("blog/zzz.md", post("Newest", "2025-01-01"))
        _bump(tmp_path / "blog")
        assert site.text("/").startswith("/blog/zzz Newest")
        site.write("blog/zzz.md", post("Renamed, and longer", "2025-01-01"))
        assert site.text("/").startswith("/blog/zzz Renamed, and longer")


def test_with_a_watcher_listings_and_renders_are_kept_until_a_change(tmp_path: Path) -> None:
    with content_site(tmp_path, BLOG, watched=True) as site:
        site.age()
        first = site.text("/")
        site.write("blog/zzz.md", post("Newest", "2025-01-01"))
        _bump(tmp_path / "blog")
        assert site.text("/") == first  # nothing told the site yet: the kept render
        site.site.invalidate([tmp_path / "blog/zzz.md"])
        assert site.text("/").startswith("/blog/zzz Newest")


def test_a_broken_front_matter_in_a_listed_page_names_that_file(tmp_path: Path) -> None:
    files = {**BLOG, "blog/broken.md": "---\nlayout: post\ndate: [\n---\n"}
    with content_site(tmp_path, files) as site:
        response = site.get("/", client=LOCAL_CLIENT)
        assert response.status == 500
        assert "blog/broken.md:3" in response.body.decode()  # type: ignore[union-attr]


def test_a_bad_glob_is_a_template_error(tmp_path: Path) -> None:
    with content_site(tmp_path, {"p.html.jinja": "{{ pages('../*') }}"}) as site:
        response = site.get("/p", client=LOCAL_CLIENT)
        assert response.status == 500
        assert "inside the site folder" in response.body.decode()  # type: ignore[union-attr]


def _bump(folder: Path) -> None:
    """Make sure the folder's mtime moved on (coarse file system clocks)."""
    later = time.time_ns() + 10_000_000_000
    os.utime(folder, ns=(later, later))
