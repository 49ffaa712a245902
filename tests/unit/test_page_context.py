"""What a page reads and sets: query, forms, cookies, url(), the response object."""

from __future__ import annotations

import pytest

from siteserve.site.forms import (
    MAX_FIELDS,
    FormError,
    MultiDict,
    UploadedFile,
    parse_cookies,
    parse_form,
    parse_query,
)
from siteserve.site.page_context import (
    PageAbort,
    PageRedirect,
    PageRequest,
    PageResponse,
    abort,
    now,
    redirect,
    url,
)
from tests.unit.page_support import make_request

# -- query strings and MultiDict ----------------------------------------------------


def test_query_keeps_repeats_order_and_blank_values() -> None:
    args = parse_query("tag=a&tag=b&q=caf%C3%A9+au+lait&empty=")
    assert args["tag"] == "a"
    assert args.getlist("tag") == ["a", "b"]
    assert args["q"] == "café au lait"
    assert args["empty"] == ""
    assert list(args) == ["tag", "q", "empty"]
    assert args.multi_items()[:2] == [("tag", "a"), ("tag", "b")]
    assert args.get("missing") is None and args.getlist("missing") == []


def test_too_many_fields_are_refused() -> None:
    with pytest.raises(FormError):
        parse_query("&".join(f"f{n}=1" for n in range(MAX_FIELDS + 1)))


def test_multidict_is_read_only_mapping() -> None:
    values = MultiDict([("a", 1)])
    assert dict(values) == {"a": 1}
    assert len(values) == 1
    with pytest.raises(TypeError):
        values["a"] = 2  # type: ignore[index]


# -- forms ----------------------------------------------------------------------------


def test_urlencoded_form() -> None:
    fields, files = parse_form(b"a=1&a=2&b=x+y", "application/x-www-form-urlencoded; charset=UTF-8")
    assert fields.getlist("a") == ["1", "2"] and fields["b"] == "x y"
    assert len(files) == 0


def multipart(*parts: bytes, boundary: bytes = b"XyZ") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + (
        b"--" + boundary + b"--\r\n"
    )


def test_multipart_fields_and_files() -> None:
    body = multipart(
        b'Content-Disposition: form-data; name="title"\r\n\r\nline one\r\nline two',
        b'Content-Disposition: form-data; name="doc"; '
        b'filename="C:\\\\Users\\\\me\\\\r\xc3\xa9sum\xc3\xa9.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF\x00\xff\r\nbinary",
        b'Content-Disposition: form-data; name="empty"; filename=""\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n",
    )
    fields, files = parse_form(body, 'multipart/form-data; boundary="XyZ"')
    assert fields["title"] == "line one\r\nline two"
    assert files["doc"] == UploadedFile("résumé.pdf", "application/pdf", 14)
    assert files["empty"] == UploadedFile("", "application/octet-stream", 0)


def test_multipart_rfc2231_file_name() -> None:
    body = multipart(
        b"Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''na%C3%AFve.txt\r\n\r\nx"
    )
    _, files = parse_form(body, "multipart/form-data; boundary=XyZ")
    assert files["f"].filename == "naïve.txt"


def test_multipart_preamble_and_padding_are_skipped() -> None:
    body = b"preamble\r\n--XyZ  \r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--"
    fields, _ = parse_form(body, "multipart/form-data; boundary=XyZ")
    assert fields["a"] == "1"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\nunterminated", "boundary=XyZ"),
        (b"no boundary at all", "boundary=XyZ"),
        (b"--XyZ\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--XyZ--", ""),
    ],
)
def test_broken_multipart_is_a_form_error(body: bytes, content_type: str) -> None:
    with pytest.raises(FormError):
        parse_form(body, "multipart/form-data; " + content_type)


def test_other_bodies_have_no_form() -> None:
    fields, files = parse_form(b'{"a": 1}', "application/json")
    assert (len(fields), len(files)) == (0, 0)


# -- cookies ----------------------------------------------------------------------------


def test_cookie_header_parsing() -> None:
    cookies = parse_cookies('a=1; b="quoted"; c=x%20y; a=second; junk; =noname; d=')
    assert cookies == {"a": "1", "b": "quoted", "c": "x y", "d": ""}
    assert parse_cookies(None) == {}


def test_set_cookie_encodes_values_and_writes_attributes() -> None:
    response = PageResponse()
    response.set_cookie("name", "Ann; Lee, ok", max_age=10, domain="example.test", secure=True)
    response.set_cookie("strict", "1", httponly=False, samesite="strict")
    assert response.cookies == [
        "name=Ann%3B%20Lee%2C%20ok; Max-Age=10; Path=/; Domain=example.test; Secure; HttpOnly;"
        " SameSite=Lax",
        "strict=1; Path=/; SameSite=Strict",
    ]
    # What a page sets, it reads back unchanged.
    assert parse_cookies(response.cookies[0].split(";")[0]) == {"name": "Ann; Lee, ok"}


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.set_cookie("bad name", "x"),
        lambda r: r.set_cookie("a", "x", path="/;evil"),
        lambda r: r.set_cookie("a", "x", samesite="sometimes"),
        lambda r: r.set_status(99),
        lambda r: r.set_status("200"),
    ],
)
def test_invalid_response_changes_are_refused(call: object) -> None:
    with pytest.raises(ValueError):
        call(PageResponse())  # type: ignore[operator]


def test_header_list_refuses_injection_and_writer_headers() -> None:
    response = PageResponse()
    response.headers["X-Ok"] = "fine"
    assert response.header_list() == [("X-Ok", "fine")]
    response.headers["X-Bad"] = "a\r\nb"
    with pytest.raises(ValueError):
        response.header_list()
    other = PageResponse()
    other.headers["Transfer-Encoding"] = "chunked"
    with pytest.raises(ValueError):
        other.header_list()


# -- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "query", "expected"),
    [
        (("/about",), {}, "/about"),
        (("blog/my post",), {}, "/blog/my%20post"),
        (("/search",), {"q": "a&b", "tag": ["x", "y"]}, "/search?q=a%26b&tag=x&tag=y"),
        (("/already%20encoded",), {}, "/already%20encoded"),
        (("/page#part two",), {}, "/page#part two"),
        (("https://example.org/x",), {}, "https://example.org/x"),
    ],
)
def test_url_helper(args: tuple[str], query: dict[str, object], expected: str) -> None:
    assert url(*args, **query) == expected


def test_redirect_and_abort_raise_what_the_renderer_catches() -> None:
    with pytest.raises(PageRedirect) as jump:
        redirect("/next", 307)
    assert (jump.value.location, jump.value.status) == ("/next", 307)
    with pytest.raises(PageAbort) as stop:
        abort(404)
    assert stop.value.status == 404
    with pytest.raises(ValueError):
        abort(200)
    with pytest.raises(ValueError):
        redirect("/a\r\nSet-Cookie: x=1")


def test_now_is_timezone_aware() -> None:
    assert now().tzinfo is not None
    assert now(utc=True).utcoffset() is not None
    assert now(utc=True).utcoffset().total_seconds() == 0  # type: ignore[union-attr]


# -- PageRequest --------------------------------------------------------------------------


def test_page_request_reads_lazily_and_decodes_the_path() -> None:
    request = PageRequest(
        make_request("/caf%C3%A9/x?a=1", headers=[("content-type", "application/json")]),
        b"not json",
    )
    assert request.path == "/café/x"
    assert request.query_string == "a=1"
    assert request.args["a"] == "1"
    assert request.host == "example.test"
    assert request.client == "192.0.2.7"
    assert request.headers["Content-Type"] == "application/json"
    with pytest.raises(PageAbort) as bad:
        _ = request.json
    assert bad.value.status == 400


def test_json_is_none_for_other_types() -> None:
    request = PageRequest(make_request("/", headers=[("content-type", "text/plain")]), b"{}")
    assert request.json is None
    vendor = PageRequest(
        make_request("/", headers=[("content-type", "application/vnd.api+json")]), b'{"a": 2}'
    )
    assert vendor.json == {"a": 2}
