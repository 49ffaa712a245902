"""Content types: our table, then Python's built-in table, then octet-stream."""

from __future__ import annotations

import mimetypes

import pytest

from siteserve.site import mime
from siteserve.site.mime import content_type, is_textual

UTF8 = "; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app.js", "text/javascript" + UTF8),
        ("module.mjs", "text/javascript" + UTF8),
        ("common.cjs", "text/javascript" + UTF8),
        ("APP.JS", "text/javascript" + UTF8),
        ("code.wasm", "application/wasm"),
        ("site.webmanifest", "application/manifest+json" + UTF8),
        ("photo.avif", "image/avif"),
        ("photo.webp", "image/webp"),
        ("font.woff2", "font/woff2"),
        ("font.woff", "font/woff"),
        ("README.md", "text/markdown" + UTF8),
        ("app.js.map", "application/json" + UTF8),
        ("data.json", "application/json" + UTF8),
        ("logo.svg", "image/svg+xml" + UTF8),
        ("index.html", "text/html" + UTF8),
        ("style.css", "text/css" + UTF8),
        ("notes.txt", "text/plain" + UTF8),
        ("feed.xml", "application/xml" + UTF8),
        ("favicon.ico", "image/vnd.microsoft.icon"),
        ("clip.mp4", "video/mp4"),
        ("clip.webm", "video/webm"),
        ("song.mp3", "audio/mpeg"),
        ("song.ogg", "audio/ogg"),
        ("paper.pdf", "application/pdf"),
        ("bundle.zip", "application/zip"),
        ("archive.tar.gz", "application/gzip"),
        ("image.png", "image/png"),
        ("image.jpg", "image/jpeg"),
        ("image.JPEG", "image/jpeg"),
        ("anim.gif", "image/gif"),
        ("table.csv", "text/csv" + UTF8),
        # Registered to MPEG transport streams; TypeScript has no registered type.
        ("segment.ts", "video/mp2t"),
        ("config.yaml", "application/yaml" + UTF8),
        ("pyproject.toml", "application/toml" + UTF8),
        ("feed.rss", "application/rss+xml" + UTF8),
        ("dir/sub.d/file.css", "text/css" + UTF8),
        ("report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ],
)
def test_own_table(name: str, expected: str) -> None:
    assert content_type(name) == expected


def test_python_table_is_the_second_choice() -> None:
    # Not in our table, in Python's built-in one.
    assert content_type("sheet.xls") == "application/vnd.ms-excel"
    assert content_type("paper.tex") == "application/x-tex"
    assert content_type("page.xhtml") == "application/xhtml+xml" + UTF8


@pytest.mark.parametrize("name", ["blob", ".bashrc", "file.unknownext", "dir.d/file", "x."])
def test_unknown_is_octet_stream(name: str) -> None:
    assert content_type(name) == "application/octet-stream"


def test_machine_tables_change_no_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    """What /etc/mime.types or the Windows registry put in ``mimetypes`` is not consulted."""
    mimetypes.init()
    mime._type_for_extension.cache_clear()
    monkeypatch.setitem(mimetypes.types_map, ".xyzzy", "text/x-registry-guess")
    monkeypatch.setitem(mimetypes.types_map, ".js", "text/plain")
    try:
        assert content_type("a.xyzzy") == "application/octet-stream"
        assert content_type("a.js") == "text/javascript" + UTF8
    finally:
        mime._type_for_extension.cache_clear()


@pytest.mark.parametrize(
    ("media_type", "textual"),
    [
        ("text/plain", True),
        ("application/ld+json", True),
        ("application/atom+xml", True),
        ("application/javascript", True),
        ("image/svg+xml", True),
        ("application/manifest+json", True),
        ("image/png", False),
        ("application/wasm", False),
        ("application/octet-stream", False),
    ],
)
def test_is_textual(media_type: str, textual: bool) -> None:
    assert is_textual(media_type) is textual


def test_answers_are_cached() -> None:
    mime._type_for_extension.cache_clear()
    content_type("a.css")
    content_type("b.css")
    assert mime._type_for_extension.cache_info().hits >= 1
