"""What the proxy changes in forwarded header fields, and how routes are read from the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, ProxyRoute, build_config, proxy_route
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.proxy import headers
from siteserve.proxy.app import Proxy
from siteserve.site.app import Site


def _request(path: str = "/api/x", query: str = "", **fields: str) -> Request:
    items = [("host", "localhost:8000"), *((k.replace("_", "-"), v) for k, v in fields.items())]
    target = path + (f"?{query}" if query else "")
    return Request("GET", target, path, query, Headers(items), client=("10.0.0.7", 5555))


API = ProxyRoute("/api", "http://127.0.0.1:5000/v1", strip_prefix=True)
PLAIN = ProxyRoute("/api", "http://127.0.0.1:5000")


@pytest.mark.parametrize(
    ("route", "path", "query", "target"),
    [
        (API, "/api/users", "a=1", "/v1/users?a=1"),
        (API, "/api", "", "/v1/"),
        (PLAIN, "/api/users", "", "/api/users"),
        (ProxyRoute("/", "http://h:1", strip_prefix=True), "/x", "", "/x"),
    ],
)
def test_backend_target(route: ProxyRoute, path: str, query: str, target: str) -> None:
    assert headers.backend_target(route, _request(path, query)) == target


def test_request_fields_drop_hop_by_hop_and_add_forwarding() -> None:
    request = _request(
        connection="keep-alive, X-Secret",
        x_secret="1",
        keep_alive="300",
        proxy_authorization="Basic x",
        te="trailers",
        upgrade="h2c",
        expect="100-continue",
        x_forwarded_for="1.2.3.4",
        x_forwarded_proto="https",
        accept="text/html",
        accept_encoding="gzip",
    )
    out = dict(headers.request_headers(PLAIN, request))
    for gone in ("connection", "x-secret", "keep-alive", "proxy-authorization", "te", "upgrade"):
        assert gone not in out
    assert "expect" not in out
    assert out["host"] == "localhost:8000"
    assert out["x-forwarded-for"] == "1.2.3.4, 10.0.0.7"
    assert out["x-forwarded-proto"] == "http"
    assert out["x-forwarded-host"] == "localhost:8000"
    assert out["via"] == "1.1 siteserve"
    assert out["accept-encoding"] == "gzip"
    plain = dict(headers.request_headers(PLAIN, request, plain_html=True))
    assert "accept-encoding" not in plain  # the reload script needs an uncompressed page
    origin = ProxyRoute("/api", "http://127.0.0.1:5000", change_origin=True)
    assert dict(headers.request_headers(origin, request))["host"] == "127.0.0.1:5000"


def test_request_body_framing_is_said_again_for_the_next_hop() -> None:
    sized = dict(headers.request_headers(PLAIN, _request(content_length="5")))
    assert sized["content-length"] == "5"
    chunked = dict(headers.request_headers(PLAIN, _request(transfer_encoding="chunked")))
    assert chunked["transfer-encoding"] == "chunked"


def test_a_list_of_one_length_goes_on_as_one_value() -> None:
    # RFC 9110 section 8.6: "5, 5" (a repeated field under HTTP/2) is the length 5.
    sized = headers.request_headers(PLAIN, _request(content_length="5, 5"))
    assert [value for name, value in sized if name == "content-length"] == ["5"]


def test_response_fields() -> None:
    fields = [
        ("Connection", "close, X-Hop"),
        ("X-Hop", "1"),
        ("Transfer-Encoding", "chunked"),
        ("Date", "x"),
        ("Server", "gunicorn"),
        ("Content-Length", "9"),
        ("Via", "1.0 cdn"),
        ("Content-Type", "text/plain"),
    ]
    out = headers.response_headers(PLAIN, _request(), fields)
    assert out == [("Content-Type", "text/plain"), ("Via", "1.0 cdn, 1.1 siteserve")]


@pytest.mark.parametrize(
    ("route", "location", "rewritten"),
    [
        (API, "http://127.0.0.1:5000/v1/login?next=/", "/api/login?next=/"),
        (API, "/v1/", "/api"),
        (API, "https://accounts.example.com/auth", "https://accounts.example.com/auth"),
        (API, "other", "other"),
        (PLAIN, "http://127.0.0.1:5000/api/x#top", "/api/x#top"),
        (PLAIN, "http://localhost:8000/api/x", "/api/x"),
    ],
)
def test_location(route: ProxyRoute, location: str, rewritten: str) -> None:
    assert headers.rewrite_location(route, _request(), location) == rewritten


@pytest.mark.parametrize(
    ("route", "cookie", "rewritten"),
    [
        (API, "sid=1; Domain=127.0.0.1; Path=/v1; HttpOnly", "sid=1; Path=/api; HttpOnly"),
        (API, "sid=1; Path=/v1/admin", "sid=1; Path=/api/admin"),
        (PLAIN, "sid=1; domain=.example.com; Secure", "sid=1; Secure"),
        (PLAIN, "sid=1", "sid=1"),
    ],
)
def test_set_cookie(route: ProxyRoute, cookie: str, rewritten: str) -> None:
    assert headers.rewrite_cookie(route, cookie) == rewritten


def test_routes_from_the_command_line_and_the_file(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        '[proxy]\n"/api/" = { url = "http://a:1", strip_prefix = true, read_timeout = "2m" }\n'
        '"/" = "http://b:2"\n'
    )
    config = build_config(tmp_path, proxy=("/api=http://c:3", "/api/v2=http://d:4"))
    assert [(r.prefix, r.url) for r in config.proxy] == [
        ("/api/v2", "http://d:4"),
        ("/api", "http://c:3"),
        ("/", "http://b:2"),
    ]
    api = config.proxy[1]
    assert api.strip_prefix and api.read_timeout == 120.0


@pytest.mark.parametrize(
    ("prefix", "url", "extra"),
    [
        ("api", "http://a:1", {}),
        ("/api", "ftp://a", {}),
        ("/api", "http://a:1?x=1", {}),
        ("/api", "http://a:99999", {}),
        ("/api", "http://a:1", {"strip": True}),
        ("/api", "http://a:1", {"change_origin": "yes"}),
    ],
)
def test_bad_routes_are_start_up_errors(prefix: str, url: str, extra: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        proxy_route(prefix, url, **extra)


def test_bad_command_line_spec(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PREFIX=URL"):
        build_config(tmp_path, proxy=("http://a:1",))


def test_route_for_takes_the_longest_prefix_and_whole_segments(tmp_path: Path) -> None:
    site = Site(build_config(tmp_path))
    routes = (ProxyRoute("/", "http://a"), ProxyRoute("/api", "http://b"))
    proxy = Proxy(site, routes)
    assert proxy.route_for("/api/x") == routes[1]
    assert proxy.route_for("/api") == routes[1]
    assert proxy.route_for("/apiary") == routes[0]
    assert proxy.route_for("/__siteserve/ws") is None
    only_api = Proxy(site, routes[1:])
    assert only_api.route_for("/other") is None
