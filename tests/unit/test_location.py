"""Redirect locations never leave the server (siteserve.http.location.safe_location)."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from siteserve.http.location import safe_location


@pytest.mark.parametrize(
    ("location", "safe"),
    [
        # Paths of ours stay as they are.
        ("/", "/"),
        ("/a/", "/a/"),
        ("/a/b?x=1#top", "/a/b?x=1#top"),
        ("/a//b/", "/a//b/"),  # only the start can name a host
        ("a/b", "a/b"),
        ("?page=2", "?page=2"),
        ("", ""),
        # Network-path references and what browsers read as one.
        ("//evil.example/", "/evil.example/"),
        ("///evil.example", "/evil.example"),
        ("/\\evil.example", "/evil.example"),
        ("\\\\evil.example", "/evil.example"),
        ("\\/evil.example", "/evil.example"),
        ("/\t/evil.example", "/evil.example"),
        ("/\n/evil.example", "/evil.example"),
        ("  //evil.example", "/evil.example"),
        ("\x00//evil.example", "/evil.example"),
        # Encoded separators, should anything decode them later.
        ("/%2Fevil.example/", "/evil.example/"),
        ("/%2fevil.example", "/evil.example"),
        ("%2F%2Fevil.example", "/evil.example"),
        ("/%5Cevil.example", "/evil.example"),
        ("/%5c%5cevil.example?x", "/evil.example?x"),
        # A page's own redirect to another site is its author's choice.
        ("https://example.com/", "https://example.com/"),
        ("mailto:me@example.com", "mailto:me@example.com"),
    ],
)
def test_safe_location(location: str, safe: str) -> None:
    assert safe_location(location) == safe


@pytest.mark.parametrize(
    "location",
    ["//evil.example/", "/\\evil.example", "\\\\evil.example/x", " /\t/evil.example", "/%2F/x"],
)
def test_a_browser_stays_on_our_host(location: str) -> None:
    # urljoin follows RFC 3986; a browser also reads "\\" as "/" (WHATWG URL).
    resolved = urljoin("http://127.0.0.1:8000/inbox/", safe_location(location).replace("\\", "/"))
    assert resolved.startswith("http://127.0.0.1:8000/")
