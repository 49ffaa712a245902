"""Upload names: cleaned, never a template or a hidden file, never over an existing file."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from siteserve.share.upload_names import (
    UnsafeName,
    make_folder,
    numbered,
    place_file,
    safe_name,
    split_suffix,
)


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("C:\\fakepath\\report.pdf", "report.pdf"),
        (".htaccess", "htaccess"),
        ("..", "upload"),
        ("", "upload"),
        ("___init__.py", "init__.py"),
        ("-rf", "rf"),
        ("name\x00with\x1fnul.txt", "namewithnul.txt"),
        ("evil\u202egnp.exe", "evilgnp.exe"),
        ("zero\u200bwidth.txt", "zerowidth.txt"),
        ("line\u2028break.txt", "linebreak.txt"),
        ("tab\there.txt", "tab here.txt"),
        ("trailing dots...", "trailing dots"),
        ("a:b*c?.txt", "a_b_c_.txt"),
        ("[id].html", "(id).html"),
        ("[...rest]", "(...rest)"),
        ("page.html.jinja", "page.html.jinja.txt"),
        ("macro.J2", "macro.J2.txt"),
        ("SITESERVE.TOML", "SITESERVE.TOML.txt"),
        ("nul", "nul_"),
        ("Com1.log", "Com1_.log"),
        ("e\u0301te\u0301.txt", "\u00e9t\u00e9.txt"),  # NFC: one spelling per name
        ("日本語のファイル.txt", "日本語のファイル.txt"),
    ],
)
def test_safe_name(raw: str, safe: str) -> None:
    assert safe_name(raw) == safe


def test_siteserve_toml_is_not_kept_as_is() -> None:
    # The config name is hidden (never served): an upload of it must not sit unseen.
    assert safe_name("siteserve.toml") == "siteserve.toml.txt"


def test_long_names_are_cut_keeping_the_extension() -> None:
    name = safe_name("é" * 300 + ".jpeg")
    assert len(name.encode()) <= 255 and name.endswith(".jpeg")


def test_render_globs() -> None:
    def is_page(relative: str) -> bool:
        return relative.endswith(".html") and relative.startswith("docs/")

    assert safe_name("a.html", is_page=is_page, folder_relative="docs/") == "a.html.txt"
    assert safe_name("a.html", is_page=is_page, folder_relative="other/") == "a.html"
    with pytest.raises(UnsafeName):
        safe_name("a.txt", is_page=lambda _: True)


@pytest.mark.parametrize(
    ("name", "parts", "copy"),
    [
        ("photo.jpg", ("photo", ".jpg"), "photo (2).jpg"),
        ("archive.tar.gz", ("archive", ".tar.gz"), "archive (2).tar.gz"),
        ("README", ("README", ""), "README (2)"),
        ("v1.2.zip", ("v1.2", ".zip"), "v1.2 (2).zip"),
        (".tar.gz", (".tar", ".gz"), ".tar (2).gz"),
    ],
)
def test_suffixes_and_copies(name: str, parts: tuple[str, str], copy: str) -> None:
    assert split_suffix(name) == parts
    assert numbered(name, 2) == copy
    assert numbered(name, 0) == name


def test_place_file_never_replaces(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("old")
    (tmp_path / "a (1).txt").mkdir()  # a folder takes a name too
    for content in ("one", "two"):
        temporary = tmp_path / f".tmp-{content}"
        temporary.write_text(content)
        placed = place_file(temporary, tmp_path, "a.txt")
        assert not temporary.exists()
        assert (tmp_path / placed).read_text() == content
    assert (tmp_path / "a.txt").read_text() == "old"
    assert (tmp_path / "a (2).txt").read_text() == "one"
    assert (tmp_path / "a (3).txt").read_text() == "two"


def test_place_file_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "hard links not supported")

    monkeypatch.setattr(os, "link", no_links)
    (tmp_path / "b.txt").write_text("old")
    temporary = tmp_path / ".tmp"
    temporary.write_text("new")
    assert place_file(temporary, tmp_path, "b.txt") == "b (1).txt"
    assert (tmp_path / "b (1).txt").read_text() == "new"
    assert (tmp_path / "b.txt").read_text() == "old" and not temporary.exists()


def test_make_folder(tmp_path: Path) -> None:
    assert make_folder(tmp_path, "new") == "new"
    assert make_folder(tmp_path, "new") == "new"  # an existing folder is reused
    (tmp_path / "file").write_text("x")
    assert make_folder(tmp_path, "file") == "file (1)"
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert make_folder(tmp_path, "link") == "link (1)"  # a symlink is not reused
