"""The site's own header rules in OUT's ``_headers``: written as read, in order, and
never set twice for one URL by the build's rules and the site's.

A written file is read back with the reader the live server uses (``parse_headers``)
and applied the way the hosts apply it (every matching rule, values of one name
joined, ``! Name`` removing), to check what each URL gets.
"""

from __future__ import annotations

from pathlib import Path

from siteserve.build.host_rules import (
    NOSNIFF,
    REMOVED,
    Served,
    file_urls,
    header_rules,
    headers_text,
    static_headers,
)
from siteserve.build.site_headers import (
    decided_names,
    rule_lines,
    site_headers,
    without_decided,
    written_rules,
)
from siteserve.config import build_config
from siteserve.rules.headers_file import parse_headers
from siteserve.rules.model import HeaderRule, compile_pattern, fill
from siteserve.rules.vercel import parse_serve_json

SITE_HEADERS = (
    "/*\n  X-Site: all\n"
    "/blog/*\n  X-Section: blog\n"
    "/people/:name\n  X-Person: :name\n"
    "/embed/*\n  ! X-Frame-Options\n"
    "/about\n  X-Robots-Tag: noindex\n"
)


def _host(text: str, url: str) -> dict[str, str]:
    """What a host that reads ``text`` as ``_headers`` puts on ``url`` (names lower case;
    nosniff, which the reader leaves to the server, is looked for in the text)."""
    chosen: dict[str, list[str]] = {}
    for rule in parse_headers(text).headers:
        values = rule.source.match(url)
        if values is None:
            continue
        for name in rule.remove:
            chosen[name.lower()] = []
        for name, value in rule.headers:
            chosen.setdefault(name.lower(), []).append(fill(value, values))
    return {name: ", ".join(values) for name, values in chosen.items() if values}


def test_rules_are_written_as_read_and_read_back_the_same() -> None:
    rules = parse_headers(SITE_HEADERS).headers
    site = written_rules(rules)
    assert site.refused == () and site.rules == tuple(rules)
    again = parse_headers("\n".join(site.lines)).headers
    assert [(r.source.regex.pattern, r.headers, r.remove) for r in again] == [
        (r.source.regex.pattern, r.headers, r.remove) for r in rules
    ]
    assert rule_lines(rules[3]) == ["/embed/*", "  ! X-Frame-Options"]


def test_serve_json_globs_become_splats() -> None:
    found = parse_serve_json(
        '{"headers": [{"source": "/assets/**", "headers": [{"key": "X-A", "value": "1"}]}]}'
    )
    site = written_rules(found.headers)
    assert site.lines == ("", "/assets/*", "  X-A: 1")


def test_a_rule_headers_cannot_hold_is_refused_not_written() -> None:
    pattern = compile_pattern("/x/*")
    broken = [
        HeaderRule(pattern, (("X-Two", "line\nbreak"),), (), "serve.json:2"),
        HeaderRule(pattern, (("X-Pad", " padded "),), (), "serve.json:3"),
        HeaderRule(pattern, (("Bad Name", "v"),), (), "serve.json:4"),
    ]
    fine = HeaderRule(pattern, (("X-Ok", "v"),), (), "serve.json:5")
    site = written_rules([*broken, fine])
    assert site.refused == tuple(broken)
    assert site.rules == (fine,) and site.lines == ("", "/x/*", "  X-Ok: v")


def test_the_build_leaves_to_the_site_each_name_a_site_rule_decides() -> None:
    rules = parse_headers(SITE_HEADERS).headers
    frame = ("X-Frame-Options", "DENY")
    robots = ("X-Robots-Tag", "all")
    entries = [
        Served("about.html", ("/about", "/about.html"), (NOSNIFF, frame, robots)),
        Served("embed/a.html", file_urls("embed/a.html"), (NOSNIFF, frame, robots)),
        Served("blog/p.html", file_urls("blog/p.html"), (NOSNIFF, frame, robots)),
    ]
    assert decided_names(rules, "/about") == {"x-site", "x-robots-tag"}
    assert decided_names(rules, "/about.html") == {"x-site"}
    split = without_decided(entries, tuple(rules))
    # /about and /about.html are decided differently: one entry each.
    assert [entry.urls for entry in split if entry.out == "about.html"] == [
        ("/about",),
        ("/about.html",),
    ]
    text = headers_text(header_rules(split), written_rules(rules).lines)
    assert _host(text, "/about")["x-robots-tag"] == "noindex"  # the site's, not joined
    assert _host(text, "/about.html")["x-robots-tag"] == "all"
    assert "x-frame-options" not in _host(text, "/embed/a.html")  # removed, as live
    assert _host(text, "/blog/p")["x-frame-options"] == "DENY"
    assert _host(text, "/people/ada")["x-person"] == "ada"
    for url in ("/about", "/about.html", "/embed/a.html", "/blog/p.html"):
        assert _host(text, url)["x-site"] == "all", url
    assert "/*\n  X-Content-Type-Options: nosniff\n" in text


def test_without_rules_entries_are_left_as_they_are() -> None:
    entry = Served("a.txt", ("/a.txt",), (NOSNIFF,))
    assert without_decided([entry], ()) == [entry]


def test_site_headers_reads_the_sites_files_and_nosniff_stays(tmp_path: Path) -> None:
    assert site_headers(build_config(tmp_path)).lines == ()
    (tmp_path / "_headers").write_text(
        "/*\n  ! X-Content-Type-Options\n  X-Content-Type-Options: sniff\n  X-A: 1\n"
    )
    (tmp_path / "serve.json").write_text(
        '{"headers": [{"source": "/b", "headers": [{"key": "X-B", "value": "2"}]}]}'
    )
    site = site_headers(build_config(tmp_path))
    # nosniff can be neither removed nor set by a rule: the reader refuses both lines.
    assert site.lines == ("", "/*", "  X-A: 1", "", "/b", "  X-B: 2")
    text = headers_text(header_rules([Served("b", ("/b",), (NOSNIFF,))]), site.lines)
    assert _host(text, "/b") == {"x-a": "1", "x-b": "2"}
    assert "/*\n  X-Content-Type-Options: nosniff\n" in text
    assert "! X-Content-Type-Options" not in text and "sniff\n" not in text.replace("nosniff", "")


def test_an_empty_headers_value_is_written_as_a_removal(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text('[headers]\n"*.css" = { Cache-Control = "" }\n')
    config = build_config(tmp_path)
    headers = static_headers(config, "site.css")
    assert headers == (NOSNIFF, ("Cache-Control", REMOVED))
    text = headers_text(header_rules([Served("site.css", ("/site.css",), headers)]))
    assert "  ! Cache-Control" in text.splitlines()
    assert "cache-control" not in _host(text, "/site.css")
