"""The build's link finder: its fast attribute scan finds what the pattern finds."""

from __future__ import annotations

import random

import pytest

from siteserve.build.links import (
    _ATTRIBUTE,
    _attributes,
    extract_links,
    may_hold_css_refs,
    normalized,
)
from siteserve.site.resolver import split_path, url_for

#: Pieces that make attributes, near misses and the spaces ``\\s`` matches.
_PIECES = [
    "href", "src", "srcset", "poster", "content", "HREF", "SrC", "Content", "\u017frc",
    "xhref", "=", "= ", " =", " ", "\t", "\n", "\u00a0", "\u2028", "\x1c", '"', "'", ">",
    "<", "a", "/", "t", "r", "c", "f", "#x", "?q=1",
]  # fmt: skip


def _spans(matches: object) -> list[tuple[object, ...]]:
    return [(*match.span(), *match.groups()) for match in matches]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "text",
    [
        '<a href="/a">x</a> <img src=/b.png srcset="/c 1x, /d 2x"> <video poster=\'/e\'>',
        '<meta http-equiv="refresh" content="0; url=/f">',
        'href="/a"src="/b" data-href="/c" x=href="/d"',
        "href=/start-of-text  src = '/spaced'  SRC\t=\n\"/tabbed\"",
        'a == b, c=d, <p title="a=b href=/inside" href="/after">',
    ],
)
def test_the_scan_finds_the_matches_of_the_pattern(text: str) -> None:
    assert _spans(_attributes(text)) == _spans(_ATTRIBUTE.finditer(text))
    assert _spans(_attributes(text))  # every sample holds at least one attribute


def test_the_scan_agrees_with_the_pattern_on_generated_text() -> None:
    chance = random.Random(10)
    differ = []
    for _ in range(20_000):
        text = "".join(chance.choice(_PIECES) for _ in range(chance.randint(0, 24)))
        if _spans(_attributes(text)) != _spans(_ATTRIBUTE.finditer(text)):
            differ.append(text)
    assert differ == []


def test_a_page_of_text_gives_its_links_in_order() -> None:
    body = (
        b"<!doctype html><html><head><link rel=stylesheet href='/s.css'></head><body>"
        + b"<p>site serve page post content src srcset href</p>" * 50
        + b'<a href="/one">1</a> <a href="two">2</a> <a href="/one#x">again</a></body></html>'
    )
    assert extract_links(body, "text/html", "/blog/", "localhost") == [
        "/s.css",
        "/one",
        "/blog/two",
    ]


def _split_and_joined(path: str) -> str | None:
    split = split_path(path)
    if split is None:
        return None
    segments, trailing = split
    return url_for(segments, trailing) if segments else "/"


def test_a_plain_path_is_normalized_as_the_resolver_splits_and_joins_it() -> None:
    pieces = ["/", "a", "_x", "~", "-", ".", "..", "b.c", "siteserve.toml", "SiteServe.TOML"]
    pieces += ["siteserve.toml.", "x_", "_", "9", "A", "a~b", "%41", "é"]
    chance = random.Random(7)
    differ = []
    for _ in range(5_000):
        path = "/" + "".join(chance.choice(pieces) for _ in range(chance.randint(1, 8)))
        if normalized(path) != _split_and_joined(path):
            differ.append(path)
    assert differ == []
    assert normalized("/_layouts/base.html") is None
    assert normalized("/blog/post-1") == "/blog/post-1"


def test_the_css_hint_answers_what_the_lowered_text_holds() -> None:
    # The characters outside ASCII whose lower() holds an ASCII letter: none of them
    # completes url( or @import (the hint's reasoning, checked on every code point).
    lowers_to_ascii = set()
    for char in map(chr, range(0x80, 0x110000)):
        lowered = char.lower()
        if lowered != char and any(c.isascii() for c in lowered):
            lowers_to_ascii.add(char)
    assert lowers_to_ascii == {"\u0130", "\u212a"}
    pieces = ["url(", "URL(", "uRl", "(", "@", "import", "IMPORT", "@\u0130mport", "@\u0131mport"]
    pieces += ["\u0130", "\u212a", "·", "é", "u", "r", "l", "@imp", "ort", " ", "\ud800"]
    chance = random.Random(3)
    differ = []
    for _ in range(20_000):
        text = "".join(chance.choice(pieces) for _ in range(chance.randint(0, 12)))
        lowered = text.lower()
        if may_hold_css_refs(text) != ("url(" in lowered or "@import" in lowered):
            differ.append(text)
    assert differ == []
    assert may_hold_css_refs("<p style='background: URL(/a.png)'>·</p>")
    assert not may_hold_css_refs("<p>@\u0130mport ·</p>")
