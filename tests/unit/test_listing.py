"""Directory listings: what is shown, in which order, and that names cannot inject HTML."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siteserve.site.listing import (
    breadcrumbs,
    is_listed,
    listing_entries,
    render_listing,
)

# A name cannot hold "/", so the closing tag is spelled without it; the opening tag is the risk.
SCRIPT_NAME = "<script>alert(1)<script>.txt"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    for name in ("b.txt", "A.txt", "c d.txt", "a#b?.txt", SCRIPT_NAME, "100%.txt"):
        (root / name).write_bytes(b"x" * 1500)
    for name in ("zeta", "Alpha", "[slug]"):
        (root / name).mkdir()
    for name in (
        ".env",
        ".git",
        "_layouts",
        "_draft.html",
        "siteserve.toml",
        "page.html.jinja",
        "x.j2",
        "[id].html.jinja",
    ):
        (root / name).write_text("hidden")
    outside = tmp_path / "outside.txt"
    outside.write_text("out")
    (root / "out_link.txt").symlink_to(outside)
    (root / "in_link.txt").symlink_to(root / "b.txt")
    (root / "dangling").symlink_to(tmp_path / "nothing")
    os.mkfifo(root / "pipe")
    return root


def test_folders_first_then_files_by_name(folder: Path) -> None:
    names = [entry.name for entry in listing_entries(folder, root=folder, follow_symlinks=False)]
    assert names == [
        "Alpha",
        "zeta",
        "100%.txt",
        SCRIPT_NAME,
        "a#b?.txt",  # "#" sorts before "."
        "A.txt",
        "b.txt",
        "c d.txt",
        "in_link.txt",
    ]


def test_links_out_are_listed_only_when_followed(folder: Path) -> None:
    names = {entry.name for entry in listing_entries(folder, root=folder, follow_symlinks=True)}
    assert "out_link.txt" in names
    assert "dangling" not in names and "pipe" not in names


@pytest.mark.parametrize(
    "name",
    [".env", "_layouts", "siteserve.toml", "SITESERVE.TOML", "a.html.jinja", "b.j2", "[x]"],
)
def test_hidden_names(name: str) -> None:
    assert not is_listed(name)


def test_entry_fields(folder: Path) -> None:
    entries = {entry.name: entry for entry in listing_entries(folder)}
    assert entries["a#b?.txt"].href == "a%23b%3F.txt"
    assert entries["c d.txt"].href == "c%20d.txt"
    assert entries["100%.txt"].href == "100%25.txt"
    assert entries["zeta"].href == "zeta/"
    assert entries["zeta"].is_dir and entries["zeta"].size is None
    assert entries["zeta"].size_text == ""
    assert entries["b.txt"].size == 1500
    assert entries["b.txt"].size_text == "1.5 KiB"
    assert entries["b.txt"].modified_iso.endswith("+00:00")


def test_breadcrumbs_are_encoded_links() -> None:
    crumbs = breadcrumbs(["my docs", "a#b"], "site")
    assert [(c.name, c.href) for c in crumbs] == [
        ("site", "/"),
        ("my docs", "/my%20docs/"),
        ("a#b", "/my%20docs/a%23b/"),
    ]


def test_rendered_page_escapes_every_name(folder: Path, tmp_path: Path) -> None:
    sub = folder / "zeta"
    (sub / '"><img src=x onerror=alert(2)>.txt').write_text("x")
    response = render_listing(sub, ["zeta"], root=folder, follow_symlinks=False)
    page = response.body
    assert isinstance(page, bytes)
    html = page.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(2)&gt;.txt" in html
    assert 'href="%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E.txt"' in html

    top = render_listing(folder, [], root=folder, follow_symlinks=False).body
    assert isinstance(top, bytes)
    text = top.decode()
    assert "<script>alert(1)" not in text
    assert "&lt;script&gt;alert(1)&lt;script&gt;.txt" in text
    # The one script is our own filter / upload helper, which never holds a name.
    assert text.count("<script") == 1 and "<script>\n(function () {" in text


def test_rendered_page_is_made_for_phones_and_browsers(folder: Path) -> None:
    response = render_listing(folder / "zeta", ["zeta"], root=folder, follow_symlinks=False)
    assert response.status == 200
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert response.header("X-Content-Type-Options") == "nosniff"
    assert response.header("Cache-Control") == "no-cache"
    html = response.body.decode() if isinstance(response.body, bytes) else ""
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "@media (max-width:" in html
    assert 'href="../"' in html  # a way up
    assert 'href="/zeta/"' not in html or "<strong>zeta</strong>" in html
    assert 'href="/">site</a>' in html  # breadcrumb to the root


def test_empty_folder_says_so(tmp_path: Path) -> None:
    response = render_listing(tmp_path, [], root=tmp_path, follow_symlinks=False)
    html = response.body.decode() if isinstance(response.body, bytes) else ""
    assert "This folder is empty." in html
    assert 'href="../"' not in html  # the root has no parent


def test_icons_are_inline_svg_symbols_not_emoji(tmp_path: Path) -> None:
    # Emoji need a colour-emoji font the viewer may lack; inline SVG draws everywhere.
    (tmp_path / "pics").mkdir()
    for name in ("a.png", "b.zip", "c.js", "d.txt", "e.bin"):
        (tmp_path / name).write_bytes(b"x")
    body = render_listing(tmp_path, [], root=tmp_path, follow_symlinks=False).body
    assert isinstance(body, bytes)
    page = body.decode()
    for icon in ("folder", "image", "archive", "code", "text", "file"):
        assert f'<use href="#i-{icon}"/>' in page
        assert f'<symbol id="i-{icon}"' in page
    assert not any(0x1F300 <= ord(char) <= 0x1FAFF for char in page)
