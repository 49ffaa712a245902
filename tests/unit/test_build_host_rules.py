"""``_headers`` and ``_redirects``: each URL gets exactly its headers, in the hosts' syntax.

Netlify and Cloudflare Pages apply every rule whose path matches and join the
values of a header two rules set, so the check here matches each URL against
the generated rules the way they do, and finds every header once, with its value.
"""

from __future__ import annotations

from pathlib import Path

from siteserve.build.host_rules import (
    IMMUTABLE,
    NOSNIFF,
    Redirect,
    Served,
    deployed_cache_control,
    file_urls,
    header_rules,
    headers_text,
    redirects_text,
    static_headers,
)
from siteserve.config import build_config


def _matches(pattern: str, url: str) -> bool:
    if pattern.endswith("/*"):
        return url.startswith(pattern[:-1])
    return url == pattern


def _headers_for(rules: list[tuple[str, list[tuple[str, str]]]], url: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for pattern, headers in rules:
        if _matches(pattern, url):
            found.extend(headers)
    return found


def _check(entries: list[Served]) -> list[tuple[str, list[tuple[str, str]]]]:
    rules = header_rules(entries)
    for entry in entries:
        for url in entry.urls:
            got = _headers_for(rules, url)
            names = [name.lower() for name, _ in got]
            assert len(names) == len(set(names)), f"{url} gets a header from two rules: {got}"
            assert sorted(got) == sorted(entry.headers), url
    return rules


def test_a_folder_of_hashed_names_is_one_immutable_rule() -> None:
    cache = ("Cache-Control", IMMUTABLE)
    entries = [
        Served("index.html", file_urls("index.html"), (NOSNIFF,)),
        Served("assets/app.3f9a2c1b.js", file_urls("assets/app.3f9a2c1b.js"), (cache, NOSNIFF)),
        Served("assets/app.8e1d4c7a.css", file_urls("assets/app.8e1d4c7a.css"), (cache, NOSNIFF)),
        Served("blog/first.html", ("/blog/first", "/blog/first.html"), (NOSNIFF,)),
    ]
    rules = _check(entries)
    assert rules == [
        ("/*", [NOSNIFF]),
        ("/assets/*", [cache]),
    ]


def test_mixed_folders_get_a_rule_per_file_and_no_header_twice() -> None:
    cache = ("Cache-Control", IMMUTABLE)
    robots = ("X-Robots-Tag", "noindex")
    entries = [
        Served("a/app.3f9a2c1b.js", file_urls("a/app.3f9a2c1b.js"), (cache, NOSNIFF)),
        Served("a/plain.js", file_urls("a/plain.js"), (NOSNIFF,)),
        Served("a/b/notes.txt", file_urls("a/b/notes.txt"), (NOSNIFF, robots)),
        Served("a/b/more.txt", file_urls("a/b/more.txt"), (NOSNIFF, robots)),
        Served("feed.xml", ("/feed.xml",), (("Content-Type", "application/atom+xml"),)),
        Served("about.html", ("/about", "/about.html"), (NOSNIFF, ("X-Frame-Options", "DENY"))),
    ]
    rules = _check(entries)
    patterns = [pattern for pattern, _ in rules]
    assert "/a/app.3f9a2c1b.js" in patterns and "/a/b/*" in patterns
    assert "/about" in patterns and "/about.html" in patterns
    assert "/*" not in patterns  # feed.xml has no nosniff here: not every file shares it


def test_headers_text_is_the_hosts_syntax() -> None:
    text = headers_text([("/*", [NOSNIFF]), ("/a/*", [("Cache-Control", IMMUTABLE)])])
    assert "\n/*\n  X-Content-Type-Options: nosniff\n" in text
    assert text.endswith("\n/a/*\n  Cache-Control: public, max-age=31536000, immutable\n")
    assert all(line.startswith(("#", "/", "  ")) or not line for line in text.splitlines())


def test_redirects_text() -> None:
    text = redirects_text(
        [
            Redirect(("/old", "/old.html"), "/new", 301),
            Redirect(("/a",), "https://example.org/b", 302),
        ]
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == ["/a https://example.org/b 302", "/old /new 301", "/old.html /new 301"]


def test_file_urls() -> None:
    assert file_urls("index.html") == ("/index.html", "/")
    assert file_urls("blog/index.html") == ("/blog/index.html", "/blog/")
    assert file_urls("about.html") == ("/about.html", "/about")
    assert file_urls("sp ace/ü.txt") == ("/sp%20ace/%C3%BC.txt",)


def test_static_headers_follow_the_live_cache_policy_and_the_sites_rules(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        '[headers]\n"*.txt" = { X-Robots-Tag = "noindex" }\n'
        '"legacy/*" = { X-Content-Type-Options = "" }\n'
    )
    config = build_config(tmp_path)
    # Development profile live: hashed names immutable once deployed, the rest revalidated
    # (the hosts' default, so no rule for it).
    assert deployed_cache_control(config, "app.3f9a2c1b.js") == IMMUTABLE
    assert static_headers(config, "app.3f9a2c1b.js") == (("Cache-Control", IMMUTABLE), NOSNIFF)
    assert static_headers(config, "notes.txt") == (NOSNIFF, ("X-Robots-Tag", "noindex"))
    # nosniff cannot be removed by a [headers] rule (the rule files may not weaken safety).
    assert static_headers(config, "legacy/x.js") == (NOSNIFF,)
    (tmp_path / "siteserve.toml").write_text("[server]\ncache_seconds = 600\n")
    shared = build_config(tmp_path)
    assert static_headers(shared, "x.js") == (("Cache-Control", "public, max-age=600"), NOSNIFF)
