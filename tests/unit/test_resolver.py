"""The resolver against a real tree: hostile paths first, then what must be found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siteserve.site import names
from siteserve.site.names import is_hidden, segment_is_safe, strip_template_suffix
from siteserve.site.resolver import Resolver, split_path, url_for

FILES = {
    "index.html": "home",
    "a.html": "a",
    "plain": "no extension",
    "about.html.jinja": "about",
    "feed.xml.jinja": "feed",
    "x.jinja": "x",
    "docs/guide.md": "# guide",
    "sub/index.html": "sub",
    "tsub/index.html.jinja": "tsub",
    "blog/archive.html": "archive",
    "blog/[slug].html.jinja": "post",
    "users/[id]/index.html.jinja": "user",
    "users/[id]/profile.html.jinja": "profile",
    "shop/[...path].html.jinja": "shop",
    "evil.com/index.html": "not a host",
    "sp ace/index.html": "space folder",
    "space name.txt": "spaced",
    "ünï.txt": "unicode",
    "pct%41.txt": "literal percent",
    ".env": "SECRET=1",
    ".git/config": "[core]",
    "_layouts/base.html": "layout",
    "_partial.html": "partial",
    "siteserve.toml": "[site]\n",
    "404.html": "custom 404",
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("resolver")
    root = base / "site"
    for name, text in FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("outside the root")
    (root / "link_in").symlink_to(root / "sub", target_is_directory=True)
    (root / "link_out").symlink_to(outside, target_is_directory=True)
    (root / "file_out.txt").symlink_to(outside / "secret.txt")
    (root / "file_in.txt").symlink_to(root / "a.html")
    (root / "env_link").symlink_to(root / ".git", target_is_directory=True)
    return root


@pytest.fixture(scope="module")
def resolver(tree: Path) -> Resolver:
    return Resolver(tree, follow_symlinks=False)


HOSTILE = [
    # Traversal, plain and encoded in every way a segment can spell "..".
    "/../outside/secret.txt",
    "/sub/../../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E/outside/secret.txt",
    "/.%2e/outside/secret.txt",
    "/%2e./outside/secret.txt",
    "/sub/%2e%2e/%2e%2e/outside/secret.txt",
    "/..%2foutside/secret.txt",
    "/%2e%2e%2foutside%2fsecret.txt",
    "/sub%2f..%2f..%2foutside/secret.txt",
    "/docs/%2e%2e/.env",
    "/a.html/..",
    "/.",
    # Backslashes, raw or encoded.
    "/..\\outside\\secret.txt",
    "/..%5coutside%5csecret.txt",
    "/sub%5c..%5c.env",
    # Overlong UTF-8 for "." and "/", and invalid UTF-8.
    "/%c0%ae%c0%ae/outside/secret.txt",
    "/%e0%80%ae%e0%80%ae/outside/secret.txt",
    "/sub%c0%af..%c0%af.env",
    "/%ff",
    # NUL and other control characters.
    "/a.html%00.txt",
    "/a.html\x00",
    "/%00",
    "/sub/%0a",
    # Drive letters and paths that are not origin-form.
    "/C:/Windows/win.ini",
    "/c:%5cwindows",
    "/C%3a/x",
    "etc/passwd",
    "*",
    "",
    # Dotfiles and dot-folders, in every spelling.
    "/.env",
    "/%2eenv",
    "/%2Eenv",
    "/.env/",
    "//.env",
    "/sub/../.env",
    "/.git/config",
    "/.git/",
    "/%2egit/config",
    "/.git//config",
    # "_" files and folders.
    "/_layouts/base.html",
    "/_layouts/",
    "/_partial.html",
    "/_partial",
    "/%5fpartial.html",
    "/%5Fpartial.html",
    # The config file, in every spelling.
    "/siteserve.toml",
    "//siteserve.toml",
    "/siteserve.toml/",
    "/./siteserve.toml",
    "/siteserve.toml.",
    "/siteserve.toml..",
    "/siteserve.toml%20",
    "/SITESERVE.TOML",
    "/Siteserve.Toml",
    "/siteserve%2etoml",
    "/siteserve%2Etoml.",
    # Template sources are rendered, never shown raw.
    "/about.html.jinja",
    "/ABOUT.HTML.JINJA",
    "/x.jinja",
    "/tsub/index.html.jinja",
    "/blog/%5Bslug%5D.html.jinja",
    # Symlinks that lead out of the root.
    "/link_out/secret.txt",
    "/link_out/",
    "/file_out.txt",
    # A file with a trailing slash, and things that do not exist.
    "/index.html/",
    "/%252e%252e/outside/secret.txt",
    "/nothing-here",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_hostile_paths_are_not_found(resolver: Resolver, raw: str) -> None:
    resolved = resolver.resolve(raw)
    assert resolved.kind == "not_found", resolved
    assert resolved.path is None


def test_there_are_at_least_thirty_hostile_inputs() -> None:
    assert len(set(HOSTILE)) >= 30


POSITIVE = [
    # raw path, kind, file relative to the root (or location), served_as
    ("/", "file", "index.html", "index.html"),
    ("/index.html", "file", "index.html", "index.html"),
    ("/index", "file", "index.html", "index.html"),
    ("/a", "file", "a.html", "a.html"),
    ("/a.html", "file", "a.html", "a.html"),
    ("//a.html", "file", "a.html", "a.html"),
    ("/a%2Ehtml", "file", "a.html", "a.html"),
    ("/plain", "file", "plain", "plain"),
    ("/about", "page", "about.html.jinja", "about.html"),
    ("/about.html", "page", "about.html.jinja", "about.html"),
    ("/feed.xml", "page", "feed.xml.jinja", "feed.xml"),
    ("/x", "page", "x.jinja", "x.html"),
    ("/docs/", "directory", "docs", ""),
    ("/docs//", "directory", "docs", ""),
    ("/docs/guide.md", "file", "docs/guide.md", "guide.md"),
    ("/sub/", "file", "sub/index.html", "index.html"),
    ("/tsub/", "page", "tsub/index.html.jinja", "index.html"),
    ("/blog/archive", "file", "blog/archive.html", "archive.html"),
    ("/blog/hello", "page", "blog/[slug].html.jinja", "hello.html"),
    ("/blog/hello.html", "page", "blog/[slug].html.jinja", "hello.html"),
    ("/users/42/", "page", "users/[id]/index.html.jinja", "index.html"),
    ("/users/42/profile", "page", "users/[id]/profile.html.jinja", "profile.html"),
    ("/shop/a/b/c", "page", "shop/[...path].html.jinja", "c.html"),
    ("/link_in/", "file", "link_in/index.html", "index.html"),
    ("/file_in.txt", "file", "file_in.txt", "file_in.txt"),
    ("/space%20name.txt", "file", "space name.txt", "space name.txt"),
    ("/%C3%BCn%C3%AF.txt", "file", "ünï.txt", "ünï.txt"),
    ("/pct%2541.txt", "file", "pct%41.txt", "pct%41.txt"),
    ("/404.html", "file", "404.html", "404.html"),
]


@pytest.mark.parametrize(("raw", "kind", "relative", "served_as"), POSITIVE)
def test_found(
    resolver: Resolver, tree: Path, raw: str, kind: str, relative: str, served_as: str
) -> None:
    resolved = resolver.resolve(raw)
    assert resolved.kind == kind
    assert resolved.path == tree / relative
    assert resolved.served_as == served_as
    assert resolved.location is None


REDIRECTS = [
    ("/docs", "/docs/"),
    ("/sub", "/sub/"),
    ("/sub%2F", None),  # an encoded slash is not a trailing slash: refused instead
    ("//sub", "/sub/"),
    ("/link_in", "/link_in/"),
    ("/users/42", "/users/42/"),
    # Doubled slashes collapse, so a folder named like a host never makes "//evil.com/".
    ("//evil.com", "/evil.com/"),
    ("/sp%20ace", "/sp%20ace/"),
]


@pytest.mark.parametrize(("raw", "location"), REDIRECTS)
def test_folders_without_slash_redirect(resolver: Resolver, raw: str, location: str) -> None:
    resolved = resolver.resolve(raw)
    if location is None:
        assert resolved.kind == "not_found"
    else:
        assert resolved.kind == "redirect"
        assert resolved.location == location
        assert not resolved.location.startswith("//")


def test_route_params(resolver: Resolver) -> None:
    assert dict(resolver.resolve("/blog/hello%20world").params) == {"slug": "hello world"}
    assert dict(resolver.resolve("/users/7/profile.html").params) == {"id": "7"}
    assert dict(resolver.resolve("/shop/a/b/c").params) == {"path": "a/b/c"}
    assert dict(resolver.resolve("/shop/one").params) == {"path": "one"}
    assert dict(resolver.resolve("/about").params) == {}


def test_route_params_never_carry_hidden_segments(resolver: Resolver) -> None:
    assert resolver.resolve("/blog/.env").kind == "not_found"
    assert resolver.resolve("/shop/a/_b/c").kind == "not_found"
    assert resolver.resolve("/shop/a/%2e%2e/c").kind == "not_found"


def test_symlinks_out_are_followed_only_when_allowed(tree: Path) -> None:
    following = Resolver(tree, follow_symlinks=True)
    resolved = following.resolve("/link_out/secret.txt")
    assert resolved.kind == "file"
    assert resolved.path == tree / "link_out" / "secret.txt"
    assert following.resolve("/file_out.txt").kind == "file"
    # Following links never unhides a dotfile named in the URL.
    assert following.resolve("/.env").kind == "not_found"
    assert following.resolve("/link_out/../.env").kind == "not_found"


def test_positive_answers_are_cached_and_negative_are_not(tree: Path) -> None:
    resolver = Resolver(tree, follow_symlinks=False)
    first = resolver.resolve("/a")
    assert resolver.resolve("/a") is first
    resolver.resolve("/.env")
    resolver.resolve("/missing")
    assert "/.env" not in resolver._cache
    assert "/missing" not in resolver._cache


def test_invalidate_sees_new_files_and_routes(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text("a")
    resolver = Resolver(tmp_path, follow_symlinks=False)
    assert resolver.resolve("/a").path == tmp_path / "a.html"
    (tmp_path / "a").write_text("plain a")
    assert resolver.resolve("/a").path == tmp_path / "a.html"  # cached until told
    resolver.invalidate()
    assert resolver.resolve("/a").path == tmp_path / "a"


def test_route_table_notices_new_and_removed_routes_without_invalidate(tmp_path: Path) -> None:
    resolver = Resolver(tmp_path, follow_symlinks=False)
    assert resolver.resolve("/posts/one").kind == "not_found"
    table = resolver._routes
    assert resolver.resolve("/posts/two").kind == "not_found"
    assert resolver._routes is table  # nothing changed: the scan is reused
    (tmp_path / "posts").mkdir()
    (tmp_path / "posts" / "[name].html.jinja").write_text("post")
    assert dict(resolver.resolve("/posts/one").params) == {"name": "one"}
    (tmp_path / "posts" / "[name].html.jinja").unlink()
    assert resolver.resolve("/posts/two").kind == "not_found"


def test_listings_and_redirects_are_not_cached(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    resolver = Resolver(tmp_path, follow_symlinks=False)
    assert resolver.resolve("/docs/").kind == "directory"
    assert resolver.resolve("/docs").kind == "redirect"
    (tmp_path / "docs" / "index.html").write_text("index")
    assert resolver.resolve("/docs/").kind == "file"
    (tmp_path / "docs" / "index.html").unlink()
    (tmp_path / "docs").rmdir()
    assert resolver.resolve("/docs").kind == "not_found"


def test_render_globs_make_plain_files_pages(tree: Path) -> None:
    resolver = Resolver(tree, follow_symlinks=False, render_globs=("*.html",))
    assert resolver.resolve("/a").kind == "page"
    assert resolver.resolve("/sub/").kind == "page"  # "*" crosses folders, like fnmatch
    assert resolver.resolve("/docs/guide.md").kind == "file"


def test_most_specific_route_wins(tmp_path: Path) -> None:
    for name in (
        "[section]/[slug].html.jinja",
        "blog/[slug].html.jinja",
        "blog/[...rest].html.jinja",
        "[...all].html.jinja",
        "docs/intro.html",
    ):
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
    resolver = Resolver(tmp_path, follow_symlinks=False)
    assert resolver.resolve("/blog/x").path == tmp_path / "blog/[slug].html.jinja"
    assert resolver.resolve("/news/x").path == tmp_path / "[section]/[slug].html.jinja"
    assert resolver.resolve("/blog/x/y").path == tmp_path / "blog/[...rest].html.jinja"
    assert resolver.resolve("/p/q/r").path == tmp_path / "[...all].html.jinja"
    assert resolver.resolve("/docs/intro").path == tmp_path / "docs/intro.html"
    assert resolver.route_conflicts() == []


def test_route_conflicts_are_reported(tmp_path: Path) -> None:
    (tmp_path / "[a].html.jinja").write_text("a")
    (tmp_path / "[b].jinja").write_text("b")
    resolver = Resolver(tmp_path, follow_symlinks=False)
    conflicts = resolver.route_conflicts()
    assert len(conflicts) == 1
    assert "[a].html.jinja" in conflicts[0] and "[b].jinja" in conflicts[0]
    # Ties still resolve the same way every time.
    assert resolver.resolve("/q").path == tmp_path / "[a].html.jinja"


def test_route_scan_skips_hidden_folders_and_links_out(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "_drafts").mkdir(parents=True)
    (root / "_drafts" / "[x].html.jinja").write_text("draft")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "[y].html.jinja").write_text("outside")
    (root / "ext").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    resolver = Resolver(root, follow_symlinks=False)
    assert resolver.resolve("/_drafts/a").kind == "not_found"
    assert resolver.resolve("/ext/a").kind == "not_found"
    assert Resolver(root, follow_symlinks=True).resolve("/ext/a").kind == "page"


def test_fifo_is_not_a_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    assert Resolver(tmp_path, follow_symlinks=False).resolve("/pipe").kind == "not_found"


def test_cache_is_bounded(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("siteserve.site.resolver.CACHE_LIMIT", 3)
    resolver = Resolver(tree, follow_symlinks=False)
    for raw in ("/a", "//a", "///a", "/a.html", "/index"):
        assert resolver.resolve(raw).kind == "file"
    assert len(resolver._cache) == 3
    assert list(resolver._cache) == ["///a", "/a.html", "/index"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", ([], True)),
        ("/a//b/", (["a", "b"], True)),
        ("/a%20b", (["a b"], False)),
        ("/%C3%A9", (["é"], False)),
        # The parser hands over raw bytes as latin-1 text; they must come back as UTF-8.
        ("/\xc3\xa9", (["é"], False)),
        ("/a/%2e", None),
        ("/a%2fb", None),
    ],
)
def test_split_path(raw: str, expected: tuple[list[str], bool] | None) -> None:
    assert split_path(raw) == expected


def test_url_for_encodes_and_never_starts_with_two_slashes() -> None:
    assert url_for(["", "evil.com"][1:], True) == "/evil.com/"
    assert url_for(["a b", "c?d#e"], True) == "/a%20b/c%3Fd%23e/"
    assert url_for([], True) == "/"


@pytest.mark.parametrize(
    ("name", "hidden"),
    [
        (".env", True),
        ("_data", True),
        ("siteserve.toml", True),
        ("SiteServe.TOML. ", True),
        ("siteserve.toml.bak", False),
        ("index.html", False),
        ("a_b", False),
    ],
)
def test_is_hidden(name: str, hidden: bool) -> None:
    assert is_hidden(name) is hidden


def test_segment_rules() -> None:
    assert segment_is_safe("page.html")
    assert not segment_is_safe("")
    assert not segment_is_safe("a\\b")
    assert not segment_is_safe("D:stream")
    assert not segment_is_safe("tab\there")
    assert not segment_is_safe("del\x7f")


@pytest.mark.parametrize(
    ("name", "served"),
    [
        ("about.html.jinja", "about.html"),
        ("feed.xml.jinja", "feed.xml"),
        ("x.jinja", "x.html"),
        ("x.j2", "x.html"),
        ("x.html.jinja2", "x.html"),
        ("[slug].jinja", "[slug].html"),
        ("plain.html", None),
        (".jinja", None),
    ],
)
def test_strip_template_suffix(name: str, served: str | None) -> None:
    assert strip_template_suffix(name) == served


@pytest.mark.parametrize(
    ("segment", "safe"),
    [
        ("page.html", True),
        ("siteserve.toml::$DATA", False),  # an alternate data stream
        ("SITESE~1.TOM", False),  # an 8.3 short name
        ("con", False),
        ("aux.txt", False),
        ("file.", False),
        ("file ", False),
        ("console.log", True),
    ],
)
def test_windows_spellings(segment: str, safe: bool) -> None:
    """The extra rules that apply on Windows, checked on every platform."""
    assert names._windows_segment_is_safe(segment) is safe


def test_a_miss_in_a_folder_that_is_not_there_looks_once(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.txt").write_text("a")
    (tmp_path / "plain").write_text("a file, not a folder")
    looked: list[str] = []

    def counting_stat(path: str | Path) -> os.stat_result:
        looked.append(str(path))
        return os.stat(path)

    resolver = Resolver(tmp_path, follow_symlinks=False, stat=counting_stat)
    for url in ("/nope/deeper/x.html", "/plain/x"):
        looked.clear()
        assert resolver.resolve(url).kind == "not_found"
        assert len(looked) == 1, looked
    # In a folder that is there, every candidate is still looked at, and hits still hit.
    looked.clear()
    assert resolver.resolve("/files/b").kind == "not_found"
    assert len(looked) > 5
    assert resolver.resolve("/files/a.txt").kind == "file"
