"""Where the reload script goes in an HTML page, and what happens to the response around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.reload.inject import (
    MAX_INJECT_BYTES,
    SCRIPT_TAG,
    SCRIPT_TAG_AFTER_POST,
    Injector,
    asks_download,
    collect,
    inject,
    injectable,
    insertion_point,
    is_html,
    needs_script,
    shows_page,
    tag_etag,
)
from siteserve.site.transfer import HtmlTransform

T = "<script>"  # stands in for the tag in the table below, to keep it readable
TAG = SCRIPT_TAG.decode()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # The usual page: before </head>.
        (
            "<!doctype html><html><head><title>x</title></head><body>hi</body></html>",
            f"<!doctype html><html><head><title>x</title>{T}</head><body>hi</body></html>",
        ),
        # Upper case, and a </HEAD> with spaces.
        (
            "<HTML><HEAD></HEAD ><BODY></BODY></HTML>",
            f"<HTML><HEAD>{T}</HEAD ><BODY></BODY></HTML>",
        ),
        # No head at all: right after <body ...>, attributes with quoted ">" included.
        (
            "<html><body class=\"a>b\" data-x='>'><p>x</p></body></html>",
            f"<html><body class=\"a>b\" data-x='>'>{T}<p>x</p></body></html>",
        ),
        # Neither </head> nor <body>: after <head>.
        ("<head><title>t</title>", f"<head>{T}<title>t</title>"),
        # Only <html>.
        ("<html><p>x</p></html>", f"<html>{T}<p>x</p></html>"),
        # A fragment after a doctype: after the doctype, never before it (quirks mode).
        ("<!DOCTYPE html>\n<p>hello</p>", f"<!DOCTYPE html>{T}\n<p>hello</p>"),
        # A bare fragment: at the start.
        ("<p>hello</p>", f"{T}<p>hello</p>"),
        ("", T),
        ("plain words", f"{T}plain words"),
        # </head> inside a comment, a script, a style or a title is not the real one.
        (
            "<html><head><!-- </head> --><script>let s = '</head>';</script>"
            "<style>/* </head> */</style><title></head></title></head><body></body>",
            "<html><head><!-- </head> --><script>let s = '</head>';</script>"
            f"<style>/* </head> */</style><title></head></title>{T}</head><body></body>",
        ),
        # A <body> mentioned in a script before the real one.
        (
            "<script>document.write('<body>')</script><body>x</body>",
            f"<script>document.write('<body>')</script><body>{T}x</body>",
        ),
        # <header> and <bodyguard> are not <head> and <body>.
        (
            "<header>h</header><bodyguard></bodyguard>",
            f"{T}<header>h</header><bodyguard></bodyguard>",
        ),
        # An unterminated comment: nothing after it is markup.
        ("<p>x</p><!-- </head>", f"{T}<p>x</p><!-- </head>"),
        # An unterminated script likewise.
        ("<html><script>x</head>", f"<html>{T}<script>x</head>"),
        # A stray "<" is text.
        ("<html>1 < 2 <head></head>", f"<html>1 < 2 <head>{T}</head>"),
    ],
)
def test_insertion_point(page: str, expected: str) -> None:
    got = inject(page.encode(), T.encode()).decode()
    assert got == expected


def test_utf8_bom_stays_first() -> None:
    page = b"\xef\xbb\xbf<p>x</p>"
    assert inject(page, b"<s>") == b"\xef\xbb\xbf<s><p>x</p>"


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_utf16_pages_are_left_alone(bom: bytes) -> None:
    page = bom + "<html></html>".encode("utf-16-le")
    assert insertion_point(page) is None
    assert inject(page) == page


def test_the_tag_is_a_module_script_from_the_reserved_prefix() -> None:
    assert TAG == '<script type="module" src="/__siteserve/reload.js"></script>'


@pytest.mark.parametrize(
    ("content_type", "html"),
    [
        ("text/html", True),
        ("text/html; charset=utf-8", True),
        ("TEXT/HTML;charset=UTF-8", True),
        ("text/html; charset=utf-16", False),
        ("application/xhtml+xml", False),
        ("text/plain", False),
        (None, False),
    ],
)
def test_is_html(content_type: str | None, html: bool) -> None:
    assert is_html(content_type) is html


@pytest.mark.parametrize(
    ("etag", "tagged"),
    [('"abc"', '"abc+reload"'), ('W/"abc"', 'W/"abc+reload"'), ("broken", "broken")],
)
def test_injected_pages_get_their_own_etag(etag: str, tagged: str) -> None:
    assert tag_etag(etag) == tagged


def html(status: int = 200, body: bytes = b"<html><head></head></html>", **kw: object) -> Response:
    headers = [("Content-Type", "text/html; charset=utf-8"), ("ETag", '"v1"')]
    return Response(status=status, headers=headers, body=body, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("response", "wanted"),
    [
        (html(), True),
        (html(404), True),
        (html(500), True),
        (html(304, b""), False),
        (html(204, b""), False),
        (html(301, b""), False),
        (html(206), False),
        (html(101, b"", upgrade=lambda channel: None), False),
        (Response(200, [("Content-Type", "text/css")], b"p{}"), False),
    ],
)
def test_which_responses_get_the_script(response: Response, wanted: bool) -> None:
    assert injectable(response) is wanted


def test_bytes_body_gets_the_tag_and_headers_stay_right() -> None:
    response = html()
    response.headers += [("Accept-Ranges", "bytes"), ("Cache-Control", "no-cache")]
    out = Injector().apply(response)
    assert isinstance(out.body, bytes)
    assert out.body == b"<html><head>" + SCRIPT_TAG + b"</head></html>"
    assert out.header("etag") == '"v1+reload"'
    # Ranges of the injected page are not offered; the writer sizes the new body.
    assert out.header("accept-ranges") is None
    assert out.header("content-length") is None
    assert out.header("cache-control") == "no-cache"
    assert out.length is None
    # The original is untouched (the site may cache its response headers).
    assert response.header("etag") == '"v1"'


def test_file_body_is_read_once_per_version(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"<html><head></head><body>one</body></html>")
    injector = Injector()
    size = page.stat().st_size
    first = injector.apply(html(body=FileBody(page, 0, size)))  # type: ignore[arg-type]
    assert isinstance(first.body, bytes) and b"one" in first.body
    assert SCRIPT_TAG in first.body
    # Same ETag: served from memory even if the bytes on disk changed meanwhile.
    page.write_bytes(b"<html><head></head><body>two</body></html>")
    again = injector.apply(html(body=FileBody(page, 0, size)))  # type: ignore[arg-type]
    assert again.body == first.body
    # A change set makes it read the file again.
    injector.forget([page])
    fresh = injector.apply(html(body=FileBody(page, 0, size)))  # type: ignore[arg-type]
    assert isinstance(fresh.body, bytes) and b"two" in fresh.body


def test_file_body_slice_is_honoured(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_bytes(b"XXXX<p>x</p>YYYY")
    out = Injector(b"<s>").apply(html(body=FileBody(page, 4, 8)))  # type: ignore[arg-type]
    assert out.body == b"<s><p>x</p>"


def test_a_vanished_file_is_passed_through(tmp_path: Path) -> None:
    response = html(body=FileBody(tmp_path / "gone.html", 0, 10))  # type: ignore[arg-type]
    assert Injector().apply(response) is response


def test_streamed_html_is_collected_then_injected() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"<html><head>"
        yield b"</head></html>"

    async def go() -> Response:
        collected = await collect(html(body=chunks(), length=None))  # type: ignore[arg-type]
        return Injector(b"<s>").apply(collected)

    out = asyncio.run(go())
    assert out.body == b"<html><head><s></head></html>"


def test_the_answer_to_a_post_gets_a_marked_tag(tmp_path: Path) -> None:
    injector = Injector()
    out = injector.apply(html(), after_post=True)
    assert isinstance(out.body, bytes)
    assert b"data-siteserve-post></script></head>" in out.body
    page = tmp_path / "form.html"
    page.write_bytes(b"<p>form</p>")
    from_file = injector.apply(html(body=FileBody(page, 0, 11)), after_post=True)  # type: ignore[arg-type]
    assert from_file.body == SCRIPT_TAG_AFTER_POST + b"<p>form</p>"
    # ... and never lands in the cache a GET of the same version is answered from.
    assert injector.apply(html()).body == b"<html><head>" + SCRIPT_TAG + b"</head></html>"


# -- the Site's HtmlTransform, and what the reload layer still injects ------------------


def _request(target: str) -> Request:
    path, _, query = target.partition("?")
    return Request("GET", target, path, query, Headers([("host", "x")]))


def test_the_injector_is_the_sites_html_transform() -> None:
    injector = Injector(b"<s>")
    transform: HtmlTransform = injector  # what the Site's static files take
    assert transform.rewrites("text/html; charset=utf-8")
    assert not transform.rewrites("text/css") and not transform.rewrites("application/xhtml+xml")
    assert transform.rewrite(b"<head></head>") == b"<head><s></head>"
    assert transform.rewritten_etag('"v1"') == '"v1+reload"'
    assert transform.max_bytes == MAX_INJECT_BYTES


@pytest.mark.parametrize(
    ("target", "download"),
    [
        ("/a.html", False),
        ("/a.html?download", True),
        ("/a.html?download=", True),
        ("/a.html?x=1&download=1", True),
        ("/a.html?downloads=1", False),
        ("/a.html?q=download", False),
        ("/a.html?" + "&".join(f"f{i}=1" for i in range(30)) + "&download", False),
    ],
)
def test_a_download_is_the_file_as_it_is(target: str, download: bool) -> None:
    assert asks_download(_request(target)) is download
    assert Injector().applies_to(_request(target)) is not download


@pytest.mark.parametrize(
    ("headers", "needed"),
    [
        ([], True),  # a page, a listing, an error page
        ([("ETag", '"p1"')], True),  # a page that set its own tag
        ([("ETag", '"v1+reload"')], False),  # injected by the Site's pipeline
        ([("ETag", '"v1+reload-gz"'), ("Content-Encoding", "gzip")], False),
        ([("Content-Encoding", "br")], False),  # coded bytes cannot take the tag
        ([("Content-Encoding", "identity")], True),
    ],
)
def test_what_the_reload_layer_still_injects(headers: list[tuple[str, str]], needed: bool) -> None:
    response = Response(200, [("Content-Type", "text/html"), *headers], b"<p>x</p>")
    assert needs_script(response) is needed


def test_a_304_of_an_injected_page_shows_the_page() -> None:
    assert shows_page(html())
    assert shows_page(Response(304, [("ETag", '"v1+reload"')]))
    assert not shows_page(Response(304, [("ETag", '"v1"')]))
    assert not shows_page(html(206))
