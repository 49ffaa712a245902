"""One matrix of HTTP checks, the same assertions against every way siteserve is served.

Each check runs against the built-in server (in-process, port 0) and against
``siteserve.asgi:app`` under real uvicorn and granian processes, all serving
one folder whose ``siteserve.toml`` turns on uploads, a password, CORS and a
cache profile. The servers start once per module. What the ASGI servers frame
themselves (chunking, Date, Server) is not asserted; everything siteserve
decides is.
"""

from __future__ import annotations

import gzip
import io
import ssl
import zipfile
from collections.abc import Iterator
from pathlib import Path

import brotli
import httpx
import pytest

from siteserve.assemble import build_app
from siteserve.config import build_config
from tests.conftest import running_server
from tests.integration.processes import asgi_command, free_port, server_process

SERVERS = ["builtin", "uvicorn", "granian"]
USER, PASSWORD = "tester", "secret"

TEXT = "".join(f"line {n}: the quick brown fox jumps over the lazy dog\n" for n in range(400))
#: Larger than the adapter's 64 KiB piece, so a whole file and a range go out in pieces.
BINARY = bytes(range(256)) * 1200
SCRIPT = "export function f(x) { return x * 2; }\n" * 200

SITE_TOML = """\
[server]
upload = true
max_upload = "1M"
cors = true
cache_seconds = 600
auth = ["tester:secret"]

[limits]
max_body = 262144

[site]
title = "Matrix & co"

[headers]
"assets/*" = { X-Matrix = "assets" }
"""

PAGES = {
    "index.html.jinja": (
        "<!doctype html><title>{{ site.title }}</title>"
        "<p>index of {{ request.path }}, q={{ request.args.get('q', '') }}</p>"
    ),
    "blog/[slug].html.jinja": "<p>post {{ params.slug }}</p>",
    "form.html.jinja": (
        "{%- if request.method == 'POST' -%}"
        "name={{ request.form.get('name', '') }};"
        "{%- set doc = request.files.get('doc') -%}"
        "{%- if doc %}file={{ doc.filename }}:{{ doc.size }}{% endif -%}"
        "{%- else -%}<form method=post></form>{%- endif -%}"
    ),
    "hello.html.jinja": (
        "{%- if request.method == 'POST' -%}"
        "{%- set name = request.form.get('name', '').strip() -%}"
        "{%- if not name -%}{%- do abort(400) -%}{%- endif -%}"
        "{%- do session.update(name=name, posts=session.get('posts', 0) + 1) -%}"
        "{%- do redirect(url('/hello'), 303) -%}"
        "{%- endif -%}"
        "<p>Hello {{ session.get('name', 'stranger') }}, {{ session.get('posts', 0) }} posts</p>"
    ),
    "cookie.html.jinja": (
        "{%- do response.set_cookie('theme', 'dark', max_age=60) -%}"
        "<p>theme was {{ request.cookies.get('theme', 'unset') }}</p>"
    ),
    "go.html.jinja": "{%- do redirect('/blog/moved', 302) -%}",
    "secret.html.jinja": "{%- do abort(403) -%}",
    "created.html.jinja": (
        "{%- do response.set_status(201) -%}{%- do response.set_header('X-Page', 'yes') -%}ok"
    ),
    "broken.html.jinja": "<p>{{ 1 + }}</p>",
    "403.html.jinja": "<p>custom {{ error.status }} {{ error.reason }}</p>",
    "404.html.jinja": "<p>custom not found: {{ error.status }}</p>",
}


def make_site(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "siteserve.toml").write_text(SITE_TOML)
    for name, text in PAGES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "hello.txt").write_text("hello, world\n")
    (root / "big.txt").write_text(TEXT)
    (root / "data.bin").write_bytes(BINARY)
    (root / "a b.txt").write_text("spaced\n")
    (root / "café.txt").write_text("accented\n")
    (root / ".env").write_text("SECRET=1\n")
    (root / "_data").mkdir()
    (root / "_data" / "x.json").write_text("{}")
    assets = root / "assets"
    assets.mkdir()
    (assets / "app.js").write_text(SCRIPT)
    # A precompressed sibling, made after the file so that it is not older.
    (assets / "app.js.gz").write_bytes(gzip.compress(SCRIPT.encode(), mtime=0))
    (assets / "app.3f9a2c1b.js").write_text("console.log(1);\n")
    (assets / "mod.mjs").write_text("export {};\n")
    (assets / "code.wasm").write_bytes(b"\0asm\1\0\0\0")
    (assets / "site.webmanifest").write_text("{}")
    (assets / "pic.avif").write_bytes(b"\0\0\0\x1cftypavif")
    files = root / "files"
    files.mkdir()
    (files / "one.txt").write_text("one\n")
    (files / "<two>.txt").write_text("two\n")
    (files / "sub").mkdir()
    (files / "sub" / "three.txt").write_text("three\n")
    (root / "uploads").mkdir()
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("matrix") / "site")


@pytest.fixture(scope="module", params=SERVERS)
def base_url(
    request: pytest.FixtureRequest, site: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    kind: str = request.param
    if kind == "builtin":
        config = build_config(site, port=0, reload=False)
        with running_server(build_app(config), config) as server:
            yield server.base_url
        return
    port = free_port()
    log = tmp_path_factory.mktemp(kind) / "server.log"
    with server_process(
        kind, asgi_command(kind, port), port=port, log=log, env={"SITESERVE_ROOT": str(site)}
    ) as process:
        yield process.base_url


def new_client(base_url: str, *, auth: bool = True) -> httpx.Client:
    # One TLS context for every client: httpx makes a new one per client otherwise,
    # which costs more than most of these checks (and nothing here uses TLS).
    return httpx.Client(
        base_url=base_url,
        auth=(USER, PASSWORD) if auth else None,
        timeout=10.0,
        verify=_TLS_CONTEXT,
    )


_TLS_CONTEXT = ssl.create_default_context()


@pytest.fixture(scope="module")
def module_client(base_url: str) -> Iterator[httpx.Client]:
    with new_client(base_url) as http:
        yield http


@pytest.fixture
def client(module_client: httpx.Client) -> httpx.Client:
    """The module's client (its connections stay open), with no cookie from an earlier test."""
    module_client.cookies.clear()
    return module_client


def plain(client: httpx.Client, path: str, **headers: str) -> httpx.Response:
    """A GET with no Accept-Encoding (httpx sends one by default): identity bytes."""
    return client.get(path, headers={"Accept-Encoding": "identity", **headers})


# -- static files -----------------------------------------------------------------------


def test_file_with_validators_mime_nosniff_and_cache_profile(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt")
    assert response.status_code == 200
    assert response.content == b"hello, world\n"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == "13"
    assert response.headers["etag"].startswith('"')
    assert response.headers["last-modified"].endswith("GMT")
    assert response.headers["cache-control"] == "public, max-age=600"
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_head_is_get_without_the_body(client: httpx.Client) -> None:
    get = plain(client, "/data.bin")
    head = client.head("/data.bin", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.content == b""
    for name in ("content-length", "etag", "last-modified", "content-type", "cache-control"):
        assert head.headers[name] == get.headers[name]
    assert get.content == BINARY


def test_if_none_match_answers_304_with_only_the_validators(client: httpx.Client) -> None:
    etag = plain(client, "/hello.txt").headers["etag"]
    response = plain(client, "/hello.txt", **{"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=600"
    assert "content-type" not in response.headers
    assert response.headers.get("content-length", "0") == "0"


def test_if_modified_since_answers_304(client: httpx.Client) -> None:
    modified = plain(client, "/hello.txt").headers["last-modified"]
    response = plain(client, "/hello.txt", **{"If-Modified-Since": modified})
    assert response.status_code == 304


def test_failed_if_match_answers_412(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt", **{"If-Match": '"not-it"'})
    assert response.status_code == 412


def test_range_inside_a_large_file(client: httpx.Client) -> None:
    response = plain(client, "/data.bin", Range="bytes=70000-200000")
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 70000-200000/{len(BINARY)}"
    assert response.headers["content-length"] == "130001"
    assert response.content == BINARY[70000:200001]


def test_suffix_range(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt", Range="bytes=-6")
    assert response.status_code == 206
    assert response.content == b"world\n"


def test_several_ranges_answer_multipart_byteranges(client: httpx.Client) -> None:
    response = plain(client, "/big.txt", Range="bytes=0-9,5000-5009")
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert TEXT[:10].encode() in response.content
    assert TEXT[5000:5010].encode() in response.content


def test_range_past_the_end_answers_416(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt", Range="bytes=100-200")
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */13"


def test_if_range_with_an_old_etag_gets_the_whole_file(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt", Range="bytes=0-4", **{"If-Range": '"old"'})
    assert response.status_code == 200
    assert response.content == b"hello, world\n"


def test_gzip_on_the_fly(client: httpx.Client) -> None:
    response = client.get("/big.txt", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.headers["etag"].endswith('-gz"')
    assert response.text == TEXT  # httpx decodes it


def test_brotli_preferred_when_both_are_accepted(client: httpx.Client) -> None:
    with client.stream("GET", "/big.txt", headers={"Accept-Encoding": "gzip, br"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "br"
    assert int(response.headers["content-length"]) == len(raw)
    assert brotli.decompress(raw) == TEXT.encode()


def test_precompressed_sibling_is_sent_as_it_is(client: httpx.Client, site: Path) -> None:
    with client.stream("GET", "/assets/app.js", headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert raw == (site / "assets" / "app.js.gz").read_bytes()


def test_304_of_a_compressed_file_keeps_vary(client: httpx.Client) -> None:
    etag = client.get("/big.txt", headers={"Accept-Encoding": "gzip"}).headers["etag"]
    response = client.get("/big.txt", headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert response.status_code == 304
    assert response.headers["vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/mod.mjs", "text/javascript; charset=utf-8"),
        ("/assets/code.wasm", "application/wasm"),
        ("/assets/site.webmanifest", "application/manifest+json; charset=utf-8"),
        ("/assets/pic.avif", "image/avif"),
        ("/data.bin", "application/octet-stream"),
    ],
)
def test_mime_types(client: httpx.Client, path: str, content_type: str) -> None:
    response = plain(client, path)
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"


def test_hashed_names_are_immutable_and_header_rules_apply(client: httpx.Client) -> None:
    response = plain(client, "/assets/app.3f9a2c1b.js")
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["x-matrix"] == "assets"
    assert "x-matrix" not in plain(client, "/hello.txt").headers


@pytest.mark.parametrize(
    "path", ["/.env", "/_data/x.json", "/siteserve.toml", "/%2e%2e/etc/passwd"]
)
def test_private_and_escaping_paths_are_not_served(client: httpx.Client, path: str) -> None:
    response = plain(client, path)
    assert response.status_code in (400, 404)
    assert b"SECRET" not in response.content


def test_percent_encoded_names(client: httpx.Client) -> None:
    assert plain(client, "/a%20b.txt").content == b"spaced\n"
    assert plain(client, "/caf%C3%A9.txt").content == b"accented\n"


def test_post_to_a_file_answers_405_with_allow(client: httpx.Client) -> None:
    response = client.post("/hello.txt", content=b"x")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"


# -- pages --------------------------------------------------------------------------------


def test_index_page_sees_site_request_and_query(client: httpx.Client) -> None:
    response = client.get("/?q=%3Cb%3E")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert "<title>Matrix &amp; co</title>" in response.text
    assert "index of /, q=&lt;b&gt;" in response.text


def test_head_of_a_page_has_no_body(client: httpx.Client) -> None:
    get = client.get("/")
    head = client.head("/")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_route_params(client: httpx.Client) -> None:
    assert client.get("/blog/first-post").text == "<p>post first-post</p>"


def test_urlencoded_form(client: httpx.Client) -> None:
    response = client.post("/form", data={"name": "Ada & Bob"})
    assert response.status_code == 200
    assert response.text == "name=Ada &amp; Bob;"


def test_multipart_form_with_a_file(client: httpx.Client) -> None:
    response = client.post(
        "/form", data={"name": "x"}, files={"doc": ("notes.txt", b"n" * 5000, "text/plain")}
    )
    assert response.text == "name=x;file=notes.txt:5000"


def test_a_page_body_over_max_body_answers_413(client: httpx.Client) -> None:
    response = client.post("/form", content=b"x" * 300_000, headers={"Content-Type": "text/plain"})
    assert response.status_code == 413


def test_session_kept_across_requests_and_not_shared(base_url: str) -> None:
    with new_client(base_url) as visitor:
        posted = visitor.post("/hello", data={"name": "Ada"})
        assert posted.status_code == 303
        assert posted.headers["location"] == "/hello"
        cookie = posted.headers["set-cookie"]
        assert cookie.startswith("siteserve_session=")
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        visitor.post("/hello", data={"name": "Ada"})
        assert visitor.get("/hello").text == "<p>Hello Ada, 2 posts</p>"
    with new_client(base_url) as other:
        assert other.get("/hello").text == "<p>Hello stranger, 0 posts</p>"


def test_cookies_set_and_read(client: httpx.Client) -> None:
    first = client.get("/cookie")
    assert "theme=dark" in first.headers["set-cookie"]
    assert first.headers["cache-control"] == "no-store"
    assert first.text == "<p>theme was unset</p>"
    assert client.get("/cookie").text == "<p>theme was dark</p>"


def test_page_status_and_header(client: httpx.Client) -> None:
    response = client.get("/created")
    assert response.status_code == 201
    assert response.headers["x-page"] == "yes"


def test_redirects(client: httpx.Client) -> None:
    page = client.get("/go")
    assert page.status_code == 302
    assert page.headers["location"] == "/blog/moved"
    folder = client.get("/files?x=1")
    assert folder.status_code == 301
    assert folder.headers["location"] == "/files/?x=1"


def test_abort_uses_the_sites_error_page(client: httpx.Client) -> None:
    response = client.get("/secret")
    assert response.status_code == 403
    assert response.text == "<p>custom 403 Forbidden</p>"


def test_not_found_uses_the_sites_404_page(client: httpx.Client) -> None:
    response = client.get("/nowhere")
    assert response.status_code == 404
    assert response.text == "<p>custom not found: 404</p>"


def test_template_error_answers_500_with_file_and_line(client: httpx.Client) -> None:
    response = client.get("/broken")
    assert response.status_code == 500
    assert "broken.html.jinja" in response.text
    assert "TemplateSyntaxError" in response.text


def test_options_on_a_page_lists_its_methods(client: httpx.Client) -> None:
    response = client.options("/form")
    assert response.status_code == 204
    assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST, PUT, PATCH, DELETE"


# -- listings, downloads, uploads ---------------------------------------------------------


def test_listing_html_escapes_names(client: httpx.Client) -> None:
    response = client.get("/files/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "one.txt" in response.text
    assert "&lt;two&gt;.txt" in response.text
    assert "<two>" not in response.text


def test_listing_as_json(client: httpx.Client) -> None:
    response = client.get("/files/", headers={"Accept": "application/json"})
    assert response.headers["content-type"].startswith("application/json")
    names = {entry["name"] for entry in response.json()["entries"]}
    assert {"one.txt", "<two>.txt", "sub"} <= names


def test_folder_as_zip(client: httpx.Client) -> None:
    response = client.get("/files/?download=zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("files/sub/three.txt") == b"three\n"
        assert archive.read("files/one.txt") == b"one\n"


def test_file_download_is_an_attachment(client: httpx.Client) -> None:
    response = plain(client, "/files/one.txt?download")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.content == b"one\n"


def test_upload_streams_a_file_into_the_folder(client: httpx.Client, base_url: str) -> None:
    name = f"up-{base_url.rsplit(':', 1)[1]}.bin"
    payload = bytes(range(256)) * 2048  # 512 KiB
    response = client.post(
        "/uploads/",
        files={"file": (name, payload, "application/octet-stream")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 201, response.text
    created = response.json()["created"]
    assert created == [
        {"name": name, "href": f"/uploads/{name}", "type": "file", "size": len(payload)}
    ]
    assert plain(client, f"/uploads/{name}").content == payload


def test_upload_over_max_upload_answers_413(client: httpx.Client) -> None:
    response = client.post(
        "/uploads/",
        files={"file": ("huge.bin", b"x" * (1024 * 1024 + 1), "application/octet-stream")},
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 413


def test_upload_form_redirects_to_the_listing(client: httpx.Client) -> None:
    response = client.post("/uploads/", files={"file": ("form.txt", b"hi", "text/plain")})
    assert response.status_code == 303
    assert response.headers["location"] == "/uploads/"


# -- auth, CORS, health --------------------------------------------------------------------


def test_password_is_required(base_url: str) -> None:
    with new_client(base_url, auth=False) as anonymous:
        refused = anonymous.get("/hello.txt")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Basic")
        assert b"hello, world" not in refused.content
        wrong = anonymous.get("/hello.txt", auth=(USER, "wrong"))
        assert wrong.status_code == 401


def test_health_needs_no_password(base_url: str) -> None:
    with new_client(base_url, auth=False) as anonymous:
        response = anonymous.get("/__siteserve/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


def test_cors_headers_on_a_cross_origin_read(client: httpx.Client) -> None:
    response = plain(client, "/hello.txt", Origin="https://elsewhere.example")
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]


def test_cors_preflight_needs_no_password(base_url: str) -> None:
    with new_client(base_url, auth=False) as anonymous:
        response = anonymous.options(
            "/hello.txt",
            headers={
                "Origin": "https://elsewhere.example",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert "GET" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
