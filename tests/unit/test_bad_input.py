"""Input a page, an upload or a zip cannot take is answered, never a 500 or an unsafe name."""

from __future__ import annotations

import io
import json
import logging
import os
import zipfile
from pathlib import Path

import pytest

from siteserve.share import archive
from siteserve.site.forms import (
    DEFAULT_FORM_LIMITS,
    FormLimits,
    TooManyFields,
    parse_form,
    parse_multipart,
)
from siteserve.site.names import is_portable
from siteserve.site.page_context import PageAbort, PageRequest
from siteserve.site.template_errors import is_loopback
from tests.unit.page_support import LAN_CLIENT, LOCAL_CLIENT, body_text, make_request, page_site

NESTED = b"[" * 2000 + b"]" * 2000  # 4 KB, deeper than the parser's recursion limit


def _page_request(
    body: bytes, content_type: str, limits: FormLimits = DEFAULT_FORM_LIMITS
) -> PageRequest:
    request = make_request("/", "POST", [("content-type", content_type)], body)
    return PageRequest(request, body, limits)


# -- JSON and forms a page reads ------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        NESTED,
        b'{"a": ' * 5000 + b"1" + b"}" * 5000,
        b"not json",
        b"\xff\xfe{}",  # not UTF-8
        b"1" * 5000,  # more digits than int() takes (CPython 3.11's int_max_str_digits)
    ],
)
def test_json_a_page_cannot_parse_is_400(body: bytes) -> None:
    with pytest.raises(PageAbort) as aborted:
        _ = _page_request(body, "application/json").json
    assert aborted.value.status == 400


def test_nested_json_through_a_page_is_a_400_page(tmp_path: Path) -> None:
    files = {"api.json.jinja": "{{ request.json | length }}"}
    with page_site(tmp_path, files) as site:
        nested = site.get(
            "/api.json", method="POST", headers=[("content-type", "application/json")], body=NESTED
        )
        fine = site.get(
            "/api.json",
            method="POST",
            headers=[("content-type", "application/json")],
            body=json.dumps([1, 2, 3]).encode(),
        )
    assert nested.status == 400
    assert (fine.status, fine.body) == (200, b"3")


def test_too_many_form_fields_is_413_and_a_long_query_414() -> None:
    limits = FormLimits(fields=3, parts=5)
    fields = _page_request(b"a=1&b=2&c=3", "application/x-www-form-urlencoded", limits)
    assert fields.form["c"] == "3"  # up to the limit is fine
    over = _page_request(b"a=1&b=2&c=3&d=4", "application/x-www-form-urlencoded", limits)
    with pytest.raises(PageAbort) as aborted:
        _ = over.form
    # Well-formed content, only more than we will process (RFC 9110 section 15.5.14).
    assert aborted.value.status == 413
    query = PageRequest(make_request("/?a=1&b=2&c=3&d=4"), b"", limits)
    with pytest.raises(PageAbort) as aborted:
        _ = query.args
    assert aborted.value.status == 414  # the target is longer than we interpret (15.5.15)


def multipart(*parts: bytes, boundary: bytes = b"XyZ") -> bytes:
    return b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts) + (
        b"--" + boundary + b"--\r\n"
    )


def test_multipart_parts_and_fields_are_bounded() -> None:
    limits = FormLimits(fields=2, parts=3)
    field = b'Content-Disposition: form-data; name="f"\r\n\r\nx'
    upload = b'Content-Disposition: form-data; name="u"; filename="a.txt"\r\n\r\nx'
    nameless = b"Content-Type: text/plain\r\n\r\nx"
    assert len(parse_multipart(multipart(field, field, upload), b"XyZ", limits)[1]) == 1
    with pytest.raises(TooManyFields, match="form fields"):
        parse_multipart(multipart(field, field, field), b"XyZ", limits)
    with pytest.raises(TooManyFields, match="parts"):
        parse_multipart(multipart(upload, upload, upload, upload), b"XyZ", limits)
    # Parts without a name count too: they cost as much to split.
    with pytest.raises(TooManyFields, match="parts"):
        parse_multipart(multipart(*[nameless] * 4), b"XyZ", limits)
    request = _page_request(multipart(*[upload] * 4), 'multipart/form-data; boundary="XyZ"', limits)
    with pytest.raises(PageAbort) as aborted:
        _ = request.files
    assert aborted.value.status == 413


def test_a_boundary_that_is_not_latin_1_is_400_not_500() -> None:
    content_type = "multipart/form-data; boundary*=UTF-8''%E6%97%A5"
    with pytest.raises(ValueError):
        parse_form(b"--x--", content_type)
    with pytest.raises(PageAbort) as aborted:
        _ = _page_request(b"--x--", content_type).form
    assert aborted.value.status == 400


def test_form_limits_come_from_the_limits_table(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        "[limits]\nmax_form_fields = 2\nmax_multipart_parts = 4\n"
    )
    files = {"f.html.jinja": "{{ request.form | length }}"}
    form = [("content-type", "application/x-www-form-urlencoded")]
    with page_site(tmp_path, files) as site:
        assert site.get("/f", method="POST", headers=form, body=b"a=1&b=2").body == b"2"
        assert site.get("/f", method="POST", headers=form, body=b"a=1&b=2&c=3").status == 413


# -- the template error page --------------------------------------------------------------


LAYOUT = {
    "_layouts/base.html": "<html>\nSECRET LAYOUT LINE\n{% block body %}{% endblock %\n",
    "p.html.jinja": '{% extends "_layouts/base.html" %}',
    "q.html.jinja": "{% include 'nothing.html' %}",
}


def test_loopback_clients_see_the_source_and_lan_clients_a_plain_500(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="siteserve.pages"),
        page_site(tmp_path, LAYOUT) as site,
    ):
        local = site.get("/p", client=LOCAL_CLIENT)
        lan = site.get("/p", client=LAN_CLIENT)
        mapped = site.get("/p", client=("::ffff:127.0.0.1", 1))
    assert local.status == lan.status == 500
    assert "SECRET LAYOUT LINE" in body_text(local) and "_layouts/base.html" in body_text(local)
    assert "SECRET LAYOUT LINE" in body_text(mapped)
    plain = body_text(lan)
    assert "SECRET" not in plain and "_layouts" not in plain and "Syntax" not in plain
    assert "Something went wrong on the server" in plain
    assert lan.header("content-type") == "text/html; charset=utf-8"
    assert lan.header("cache-control") == "no-store"
    assert lan.header("x-content-type-options") == "nosniff"
    assert lan.sources == local.sources  # a fix reloads the plain page too
    # The terminal has the details, for both.
    lines = [r.getMessage() for r in caplog.records if r.name == "siteserve.pages"]
    assert len(lines) == 3 and all(line.startswith("_layouts/base.html:3: ") for line in lines)


def test_the_site_folder_path_never_shows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.ERROR, logger="siteserve.pages"),
        page_site(tmp_path, LAYOUT) as site,
    ):
        html = body_text(site.get("/q", client=LOCAL_CLIENT))
    # Jinja names its search path (the absolute site folder) in a TemplateNotFound.
    assert str(tmp_path) not in html and "TemplateNotFound" in html
    assert "not found in search path: &#39;.&#39;" in html
    assert all(str(tmp_path) not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("client", "local"),
    [
        (("127.0.0.1", 1), True),
        (("127.8.9.10", 1), True),
        (("::1", 1), True),
        (("::ffff:127.0.0.1", 1), True),
        (("192.168.1.4", 1), False),
        (("::ffff:192.168.1.4", 1), False),
        (("fe80::1%eth0", 1), False),
        (("not an address", 1), False),
        (None, False),
    ],
)
def test_is_loopback(client: tuple[str, int] | None, local: bool) -> None:
    assert is_loopback(client) is local


# -- names in a zip --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "portable"),
    [
        ("report.pdf", True),
        ("café au lait.txt", True),
        ("a\\..\\..\\evil.txt", False),
        ("C:evil.txt", False),
        ("tab\there", False),
        ("bell\x07", False),
        ("a:b.txt", False),
        ("what?.txt", False),
        ("CON", False),
        ("con.txt", False),
        ("trailing.", False),
        ("trailing ", False),
        ("..", False),
        (".hidden", False),
        (os.fsdecode(b"latin1-\xe9.txt"), False),
    ],
)
def test_portable_names(name: str, portable: bool) -> None:
    assert is_portable(name) is portable


def test_a_zip_leaves_out_names_unsafe_somewhere_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "root"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "fine.txt").write_text("fine")
    for unsafe in ("a\\..\\..\\evil.txt", "C:drive.txt", "ctl\x01.txt", "NUL.txt", "x:y"):
        (root / "docs" / unsafe).write_text("unsafe")
    (root / "docs" / "back\\slash").mkdir()
    (root / "docs" / "back\\slash" / "inside.txt").write_text("never reached")
    os.close(os.open(os.fsencode(root / "docs") + b"/bytes-\xff.txt", os.O_CREAT | os.O_WRONLY))
    with caplog.at_level(logging.WARNING, logger="siteserve.share"):
        contents = archive.FolderContents(
            root / "docs", root=root, follow_symlinks=False, is_page=lambda _: False
        )
        data = b"".join(archive.produce(contents))
    with zipfile.ZipFile(io.BytesIO(data)) as made:
        assert made.namelist() == ["docs/", "docs/fine.txt"]
        assert made.comment.startswith(b"siteserve left out 7 file(s) or folder(s)")
    warning = [r.getMessage() for r in caplog.records if r.name == "siteserve.share"]
    assert len(warning) == 1 and "left out 7 name(s)" in warning[0]
    assert "'docs/C:drive.txt'" in warning[0] and "\x01" not in warning[0]  # shown escaped


def test_a_zip_of_a_clean_folder_has_no_comment(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_text("a")
    contents = archive.FolderContents(
        root, root=root, follow_symlinks=False, is_page=lambda _: False
    )
    with zipfile.ZipFile(io.BytesIO(b"".join(archive.produce(contents)))) as made:
        assert made.namelist() == ["root/", "root/a.txt"] and made.comment == b""
