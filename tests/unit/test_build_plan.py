"""What a build copies and renders, where each page goes, and the links it follows.

No sockets: a temporary site tree, the resolver, and the build's planning functions.
The walk is checked against the resolver itself: what the walk copies is exactly
what the live server serves under that name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.build.layout import canonical_url, decoded_path, page_output
from siteserve.build.links import extract_links, internal_path, normalized
from siteserve.build.site_files import SnapshotResolver, walk_site
from siteserve.config import build_config
from siteserve.site.layouts import LayoutRules
from siteserve.site.resolver import Resolver
from tests.unit.page_support import write_site

TREE = {
    "index.html": "<a href='/about'>about</a>",
    "about.html.jinja": "about",
    "x.jinja": "x",
    "feed.xml.jinja": "feed",
    "plain": "a file named plain",
    "plain.html.jinja": "shadowed by nothing: /plain is the file",
    "notes.txt": "notes",
    "page.html": "rendered by a render glob",
    "blog/index.html.jinja": "blog",
    "blog/[slug].html.jinja": "post",
    "docs/[...path].html.jinja": "doc",
    "files/[name].txt": "a route file",
    "assets/app.3f9a2c1b.js": "js",
    "sp ace/ünï.txt": "unicode",
    "_layouts/base.html": "layout",
    "_data/posts.json": "[]",
    "_secret/key.pem": "key",
    ".env": "SECRET=1",
    ".git/config": "[core]",
    "siteserve.toml": 'render = ["page.html"]\n',
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = write_site(tmp_path / "site", TREE)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside")
    (root / "link_out.txt").symlink_to(outside / "secret.txt")
    (root / "link_in.txt").symlink_to(root / "notes.txt")
    (root / "dir_out").symlink_to(outside, target_is_directory=True)
    return root


def _resolver(root: Path) -> Resolver:
    return Resolver(root, follow_symlinks=False, render_globs=("page.html",))


def test_the_walk_copies_exactly_what_the_resolver_serves_under_its_own_name(site: Path) -> None:
    resolver = _resolver(site)
    tree = walk_site(resolver.root, resolver)
    copied = {source.rel for source in tree.static}
    assert copied == {
        "index.html",
        "plain",
        "notes.txt",
        "assets/app.3f9a2c1b.js",
        "sp ace/ünï.txt",
        "link_in.txt",
    }
    for rel in copied:
        answer = resolver.resolve("/" + "/".join(_quote(part) for part in rel.split("/")))
        assert answer.kind == "file"
    # What is never copied: hidden, private, template sources, routes, links out.
    for rel in ("link_out.txt", ".env", "_layouts/base.html", "about.html.jinja", "siteserve.toml"):
        assert rel not in copied


def test_the_snapshot_resolver_answers_what_the_resolver_answers(site: Path) -> None:
    resolver = _resolver(site)
    tree = walk_site(resolver.root, resolver)
    rules = LayoutRules(build_config(site).markdown)
    globs = ("page.html",)
    fast = SnapshotResolver(
        site, follow_symlinks=False, render_globs=globs, markdown=rules, snapshot=tree.snapshot
    )
    plain = Resolver(site, follow_symlinks=False, render_globs=globs, markdown=rules)
    urls = [
        *("/", "/about", "/about.html", "/ABOUT", "/plain", "/plain.html", "/notes.txt"),
        *("/page.html", "/page", "/blog", "/blog/", "/blog/a-post", "/blog/index.html"),
        *("/docs/a/b", "/files/readme.txt", "/sp%20ace/%C3%BCn%C3%AF.txt", "/nothing"),
        *("/about.htm", "/feed.xml", "/feed", "/x", "/link_in.txt", "/link_out.txt"),
        *("/dir_out/secret.txt", "/_layouts/base.html", "/.env", "/assets/", "/nope/deeper"),
    ]
    for url in urls:
        a, b = fast.resolve(url), plain.resolve(url)
        assert (a.kind, a.path, a.served_as, a.location, dict(a.params)) == (
            b.kind,
            b.path,
            b.served_as,
            b.location,
            dict(b.params),
        ), url
    # A name no file of its folder starts with is a miss without a look at the disk.
    blog = str(site / "blog")
    assert tree.snapshot.holds_none_starting(blog, "a-post")
    assert not tree.snapshot.holds_none_starting(blog, "INDEX")
    assert not tree.snapshot.holds_none_starting(str(site / "unlisted"), "x")


def test_the_walk_starts_from_every_page_that_is_not_a_route(site: Path) -> None:
    resolver = _resolver(site)
    tree = walk_site(resolver.root, resolver)
    assert tree.page_urls == [
        "/about",
        "/about.html",
        "/blog/",
        "/feed.xml",
        "/page",
        "/page.html",
        "/plain",
        "/plain.html",
        "/x",
        "/x.html",
    ]
    pages = {resolver.resolve(url).path for url in tree.page_urls} - {None}
    assert {site / name for name in ("about.html.jinja", "plain.html.jinja", "x.jinja")} <= pages
    assert tree.routes == [
        "blog/[slug].html.jinja",
        "docs/[...path].html.jinja",
        "files/[name].txt",
    ]


def test_the_walk_notes_private_files_a_page_may_read(site: Path) -> None:
    resolver = _resolver(site)
    tree = walk_site(resolver.root, resolver)
    assert {"_layouts/base.html", "_data/posts.json", "siteserve.toml"} <= set(tree.files)
    assert ".env" not in tree.files and ".git/config" not in tree.files
    assert tree.folder_digest("blog") != tree.folder_digest("docs")
    assert tree.folder_digest("no/such/folder") == "-"


def test_the_walk_leaves_out_the_output_folder_inside_the_site(site: Path) -> None:
    write_site(site, {"_site/index.html": "an earlier build", "_site/about.html": "x"})
    resolver = _resolver(site)
    tree = walk_site(resolver.root, resolver, skip=site / "_site")
    assert not any(rel.startswith("_site/") for rel in tree.files)


def test_a_folder_change_changes_only_its_digest(site: Path) -> None:
    resolver = _resolver(site)
    before = walk_site(resolver.root, resolver)
    (site / "blog" / "new.html").write_text("new")
    after = walk_site(resolver.root, resolver)
    assert before.folder_digest("blog") != after.folder_digest("blog")
    assert before.folder_digest("docs") == after.folder_digest("docs")


def _quote(part: str) -> str:
    from urllib.parse import quote

    return quote(part, safe="")


# -- layouts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "served_as", "layout", "expected"),
    [
        ("/about", "about.html", "html", "about.html"),
        ("/about", "about.html", "folder", "about/index.html"),
        ("/", "index.html", "html", "index.html"),
        ("/blog/", "index.html", "folder", "blog/index.html"),
        ("/feed.xml", "feed.xml", "folder", "feed.xml"),
        ("/blog/first", "first.html", "html", "blog/first.html"),
        ("/docs/a/b", "b.html", "folder", "docs/a/b/index.html"),
        ("/blog/caf%C3%A9", "café.html", "html", "blog/café.html"),
        ("/kept.html", "kept.html", "folder", "kept.html"),
    ],
)
def test_page_output(url: str, served_as: str, layout: str, expected: str) -> None:
    assert page_output(url, served_as, layout, lambda _: False) == expected  # type: ignore[arg-type]


def test_the_folder_layout_never_writes_over_a_folder_of_the_site() -> None:
    assert page_output("/about", "about.html", "folder", lambda url: url == "/about/") == (
        "about.html"
    )


def test_a_page_is_rendered_for_its_clean_url_when_the_server_answers_it(site: Path) -> None:
    resolver = _resolver(site)
    for spelled, canonical in [
        ("/about.html", "/about"),
        ("/about", "/about"),
        ("/blog/index.html", "/blog/"),
        ("/blog/first.html", "/blog/first"),
        ("/x.html", "/x.html"),  # x.jinja is reached as /x only, so /x.html is not a page
    ]:
        resolved = resolver.resolve(spelled)
        if resolved.kind == "page":
            assert canonical_url(spelled, resolved, resolver) == canonical


def test_a_clean_spelling_that_answers_something_else_is_not_taken(site: Path) -> None:
    resolver = _resolver(site)
    # /plain is the file "plain"; /plain.html is the template plain.html.jinja.
    resolved = resolver.resolve("/plain.html")
    assert resolved.kind == "page"
    assert canonical_url("/plain.html", resolved, resolver) == "/plain.html"


def test_decoded_path() -> None:
    assert decoded_path("/sp%20ace/%C3%BCn%C3%AF.txt") == "sp ace/ünï.txt"
    assert decoded_path("/folder/") is None
    assert decoded_path("/_private/x") is None


# -- links ----------------------------------------------------------------------------

PAGE = """<!doctype html>
<link rel="stylesheet" href="/assets/site.css">
<style>body { background: url('../img/bg.png') } @import "print.css";</style>
<!-- <a href="/commented-out">not a link</a> -->
<script src="/app.js">if (x) { location.href = "/from-script"; }</script>
<a href="about">relative</a> <a href='/blog/?page=2#top'>query and fragment</a>
<a href="https://example.org/elsewhere">another site</a> <a href="http://localhost/feed.xml">own</a>
<a href="mailto:a@example.org">mail</a> <a href="#top">fragment</a> <a href=/bare>bare</a>
<img srcset="/small.jpg 1x, /big.jpg 2x" src="/small.jpg">
<video poster="/poster.jpg"></video>
<a href="/blog/caf%c3%a9">encoded</a> <a href="/blog/café">raw</a>
<a href="/_layouts/base.html">private</a> <a href="/a/../b">dots</a>
<meta http-equiv="refresh" content="0; url=/moved">
<a href="/x?a=1&amp;b=2">entity</a>
""".encode()


def test_links_of_a_page() -> None:
    links = extract_links(PAGE, "text/html", "/docs/page", "localhost")
    assert links == [
        "/assets/site.css",
        "/app.js",
        "/docs/about",
        "/blog/",
        "/feed.xml",
        "/bare",
        "/small.jpg",
        "/big.jpg",
        "/poster.jpg",
        "/blog/caf%C3%A9",
        "/_layouts/base.html",
        "/b",
        "/moved",
        "/x",
        "/img/bg.png",
        "/docs/print.css",
    ]
    # A private target stays in the list as written, and normalizes to None: broken.
    assert normalized("/_layouts/base.html") is None


def test_links_of_a_stylesheet_and_a_sitemap() -> None:
    css = b'@import url(base.css); .a { background: url("/i/a.png") } .b { mask: url(data:x) }'
    assert extract_links(css, "text/css", "/assets/site.css", "localhost") == [
        "/assets/base.css",
        "/i/a.png",
    ]
    sitemap = b"<urlset><url><loc>http://localhost/hidden</loc></url><url><loc> /x </loc></url>"
    assert extract_links(
        sitemap, "application/xml", "/sitemap.xml", "localhost", "sitemap.xml"
    ) == [
        "/hidden",
        "/x",
    ]
    assert extract_links(b"<a href='/x'>", "text/plain", "/a.txt", "localhost") == []


def test_internal_path() -> None:
    assert internal_path("//localhost/a", "/", "localhost") == "/a"
    assert internal_path("//example.org/a", "/", "localhost") is None
    assert internal_path("javascript:void(0)", "/", "localhost") is None
    assert internal_path("../../../etc/passwd", "/a/b", "localhost") == "/etc/passwd"
    assert internal_path("", "/a", "localhost") is None
