"""Static files through the real server on port 0: what a browser and an attacker see."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningServer
from tests.integration.wire import Wire

SECRET = b"TOP-SECRET-VALUE"
BIG = 3 * 1024 * 1024 + 17


@pytest.fixture
def site_root(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "_layouts").mkdir()
    (root / ".git").mkdir()
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "about.html").write_text("<h1>about</h1>")
    (root / "sub" / "index.html").write_text("<h1>sub</h1>")
    (root / "app.mjs").write_text("export const x = 1;\n")
    (root / "mod.wasm").write_bytes(b"\0asm\1\0\0\0")
    (root / "docs" / "<img src=x onerror=alert(1)>.txt").write_text("x")
    (root / "docs" / "notes.md").write_text("# notes")
    (root / "big.bin").write_bytes(bytes(range(256)) * (BIG // 256) + b"t" * (BIG % 256))
    (root / ".env").write_bytes(SECRET)
    (root / ".git" / "config").write_bytes(SECRET)
    (root / "_layouts" / "base.html").write_bytes(SECRET)
    (root / "_secret.txt").write_bytes(SECRET)
    (root / "page.html.jinja").write_bytes(SECRET + b"{{ 1 }}")
    (root / "siteserve.toml").write_text('[site]\ntitle = "TOP-SECRET-VALUE"\n')
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(SECRET)
    (root / "out").symlink_to(outside, target_is_directory=True)
    (root / "out.txt").symlink_to(outside / "secret.txt")
    return root


Serve = Callable[..., RunningServer]


@pytest.fixture
def server(serve_site: Serve, site_root: Path) -> RunningServer:
    return serve_site(site_root)


def test_index_and_headers(server: RunningServer) -> None:
    response = httpx.get(server.url("/"))
    assert response.status_code == 200
    assert response.text == "<h1>home</h1>"
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-length"] == str(len("<h1>home</h1>"))
    assert headers["etag"].startswith('"') and headers["etag"].endswith('"')
    assert headers["last-modified"].endswith(" GMT")
    assert headers["cache-control"] == "no-cache"
    assert headers["accept-ranges"] == "bytes"
    assert headers["x-content-type-options"] == "nosniff"
    assert "date" in headers and "server" in headers


def test_head_matches_get(server: RunningServer) -> None:
    get = httpx.get(server.url("/about"))
    head = httpx.head(server.url("/about"))
    assert head.status_code == 200 and head.content == b""
    for name in ("content-type", "content-length", "etag", "last-modified", "cache-control"):
        assert head.headers[name] == get.headers[name]


def test_clean_urls_and_folder_redirects(server: RunningServer) -> None:
    assert httpx.get(server.url("/about")).text == "<h1>about</h1>"
    assert httpx.get(server.url("/about.html")).text == "<h1>about</h1>"
    redirect = httpx.get(server.url("/sub?x=1&y=%20"))
    assert redirect.status_code == 301
    assert redirect.headers["location"] == "/sub/?x=1&y=%20"
    followed = httpx.get(server.url("/sub"), follow_redirects=True)
    assert followed.text == "<h1>sub</h1>"


def test_types(server: RunningServer) -> None:
    assert httpx.get(server.url("/app.mjs")).headers["content-type"] == (
        "text/javascript; charset=utf-8"
    )
    assert httpx.get(server.url("/mod.wasm")).headers["content-type"] == "application/wasm"
    assert httpx.get(server.url("/docs/notes.md")).headers["content-type"] == (
        "text/markdown; charset=utf-8"
    )


def test_listing_escapes_names(server: RunningServer) -> None:
    response = httpx.get(server.url("/docs/"))
    assert response.status_code == 200
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in response.text
    assert 'href="notes.md"' in response.text
    link = "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt"
    assert f'href="{link}"' in response.text
    assert httpx.get(server.url("/docs/" + link)).text == "x"


def test_not_found_pages(server: RunningServer, site_root: Path) -> None:
    plain = httpx.get(server.url("/nothing"))
    assert plain.status_code == 404
    assert plain.headers["content-type"] == "text/html; charset=utf-8"
    assert "Not Found" in plain.text
    (site_root / "404.html").write_text("<p>our own 404</p>")
    custom = httpx.get(server.url("/nothing"))
    assert custom.status_code == 404
    assert custom.text == "<p>our own 404</p>"


def test_methods(server: RunningServer) -> None:
    put = httpx.put(server.url("/about"), content=b"x")
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, OPTIONS"
    options = httpx.options(server.url("/about"))
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS"


def test_large_file_arrives_whole(server: RunningServer, site_root: Path) -> None:
    response = httpx.get(server.url("/big.bin"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(BIG)
    assert response.content == (site_root / "big.bin").read_bytes()


def test_changes_are_seen_without_a_watcher(server: RunningServer, site_root: Path) -> None:
    first = httpx.get(server.url("/about"))
    (site_root / "about.html").write_text("<h1>about, edited</h1>")
    os.utime(site_root / "about.html", ns=(1, 1_000_000_000))
    second = httpx.get(server.url("/about"))
    assert second.text == "<h1>about, edited</h1>"
    assert second.headers["etag"] != first.headers["etag"]


HOSTILE = [
    "/../outside/secret.txt",
    "/%2e%2e/outside/secret.txt",
    "/%2E%2E%2Foutside%2Fsecret.txt",
    "/sub/..%2f..%2foutside/secret.txt",
    "/..%5coutside%5csecret.txt",
    "/%c0%ae%c0%ae/outside/secret.txt",
    "/.env",
    "/%2eenv",
    "//.env",
    "/.env/",
    "/.env?x=1",
    "/.git/config",
    "/.git//config",
    "/%2egit/config",
    "/_layouts/base.html",
    "/%5flayouts/base.html",
    "/_secret.txt",
    "/_secret",
    "/siteserve.toml",
    "/SITESERVE.TOML",
    "/siteserve.toml.",
    "/siteserve.toml%20",
    "/siteserve.toml?raw",
    "/page.html.jinja",
    "/out/secret.txt",
    "/out.txt",
    "/index.html%00.txt",
]


def test_hostile_paths_on_the_wire(server: RunningServer) -> None:
    """Sent as raw bytes (a client library would normalise them), on one connection."""
    wire = Wire(server.port)
    for target in HOSTILE:
        wire.send(f"GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        status, _, body = wire.read_response()
        assert status in (400, 404), target
        assert SECRET not in body, target
    # The connection survived every one of them.
    wire.send(b"GET /about HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert wire.read_response()[0] == 200


def test_hidden_folder_listing_is_refused(server: RunningServer) -> None:
    listing = httpx.get(server.url("/"))  # index.html exists: no listing at the root
    assert listing.text == "<h1>home</h1>"
    assert httpx.get(server.url("/.git/")).status_code == 404
    assert httpx.get(server.url("/_layouts/")).status_code == 404


def test_follow_symlinks_opt_in(serve_site: Serve, site_root: Path) -> None:
    server = serve_site(site_root, follow_symlinks=True)
    assert httpx.get(server.url("/out/secret.txt")).content == SECRET
    assert httpx.get(server.url("/out.txt")).content == SECRET
    assert httpx.get(server.url("/.env")).status_code == 404
