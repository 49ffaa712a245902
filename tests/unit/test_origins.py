"""Whether a request comes from a page of the server's own origin (siteserve.origins)."""

from __future__ import annotations

import pytest

from siteserve.hosts import AllowedHosts
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.origins import Origin, foreign_page, is_own_origin, parse_origin

HOSTS = AllowedHosts.for_bind("127.0.0.1", ["tunnel.example"])


def request(host: str | None = "127.0.0.1:8000", scheme: str = "http", **fields: str) -> Request:
    items = [("host", host)] if host is not None else []
    items += [(name.replace("_", "-"), value) for name, value in fields.items()]
    return Request("POST", "/inbox/", "/inbox/", "", Headers(items), scheme=scheme)


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("http://127.0.0.1:8000", Origin("http", "127.0.0.1", 8000)),
        ("HTTP://LocalHost", Origin("http", "localhost", 80)),
        ("https://example.com", Origin("https", "example.com", 443)),
        ("http://[::1]:8000", Origin("http", "[::1]", 8000)),
        ("null", None),
        ("", None),
        ("file://", None),
        ("chrome-extension://abcdef", None),
        ("http://127.0.0.1:8000/path", None),  # an origin has no path
        ("http://user@127.0.0.1:8000", None),
        ("http://a, http://b", None),  # two Origin lines, joined
    ],
)
def test_parse_origin(value: str, origin: Origin | None) -> None:
    assert parse_origin(value) == origin


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "own"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "http", True),
        ("http://localhost:8000", "localhost:8000", "http", True),
        ("http://[::1]:8000", "[::1]:8000", "http", True),
        ("http://localhost", "localhost:80", "http", True),
        ("https://localhost:8443", "localhost:8443", "https", True),
        ("http://127.0.0.1:9999", "127.0.0.1:8000", "http", False),  # another port
        ("http://localhost:8000", "127.0.0.1:8000", "http", False),  # another host
        ("https://127.0.0.1:8000", "127.0.0.1:8000", "http", False),  # another scheme
        ("http://127.0.0.1:8000", "127.0.0.1:8000", "https", False),
        ("http://evil.example:8000", "evil.example:8000", "http", False),  # not our name
        ("null", "127.0.0.1:8000", "http", False),
        # A name given with --allowed-host may be behind a TLS-terminating proxy.
        ("https://tunnel.example", "tunnel.example", "http", True),
        ("http://tunnel.example", "tunnel.example", "http", True),
        ("https://tunnel.example:8443", "tunnel.example:8443", "http", True),
        ("https://tunnel.example:8443", "tunnel.example", "http", False),
        ("https://tunnel.example", "tunnel.example:8000", "http", False),
    ],
)
def test_is_own_origin(origin: str, host: str, scheme: str, own: bool) -> None:
    assert is_own_origin(origin, request(host, scheme), HOSTS) is own


def test_no_host_is_no_origin_of_ours() -> None:
    assert not is_own_origin("http://localhost", request(None), HOSTS)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),  # curl, a script: not a web page
        ({"origin": "http://127.0.0.1:8000"}, None),
        ({"sec_fetch_site": "same-origin"}, None),
        ({"sec_fetch_site": "none"}, None),  # typed into the address bar
        ({"origin": "http://127.0.0.1:8000", "sec_fetch_site": "same-origin"}, None),
        # Our own page with Referrer-Policy: no-referrer posts with Origin: null.
        ({"origin": "null", "sec_fetch_site": "same-origin"}, None),
        ({"origin": "null"}, "Origin: null"),
        ({"origin": "null", "sec_fetch_site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        ({"origin": "http://evil.example"}, "Origin: http://evil.example"),
        ({"origin": "http://127.0.0.1:9999"}, "Origin: http://127.0.0.1:9999"),
        ({"sec_fetch_site": "cross-site"}, "Sec-Fetch-Site: cross-site"),
        # Another port on 127.0.0.1, or another name under localhost, is same-site.
        ({"sec_fetch_site": "same-site"}, "Sec-Fetch-Site: same-site"),
        ({"sec_fetch_site": "Cross-Site"}, "Sec-Fetch-Site: cross-site"),
        (
            {"origin": "http://evil.example", "sec_fetch_site": "same-origin"},
            "Origin: http://evil.example",
        ),
        ({"origin": "http://evil.example/\x1b[31m"}, "Origin: http://evil.example/\\x1b[31m"),
    ],
)
def test_foreign_page(fields: dict[str, str], reason: str | None) -> None:
    assert foreign_page(request(**fields), HOSTS) == reason


def test_a_long_origin_is_cut_short_in_the_reason() -> None:
    reason = foreign_page(request(origin="http://" + "a" * 500 + ".example"), HOSTS)
    assert reason is not None and len(reason) < 120 and reason.endswith("...")
