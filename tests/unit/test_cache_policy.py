"""Cache-Control profiles and site header rules (RFC 9111 section 5.2, RFC 8246)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from siteserve.config import Config
from siteserve.site.cache_policy import (
    IMMUTABLE,
    apply_headers,
    cache_control,
    extra_headers,
    has_content_hash,
)


def config(tmp_path: Path, **options: object) -> Config:
    return replace(Config(root=tmp_path), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name",
    [
        "app.3f9a2c1b.js",
        "main-BH2k9x.css",  # the example
        "index-DhK4a9Zq.js",  # Vite
        "assets/index-C8yYpB2W.css",
        "chunk.0a1b2c3d4e5f.js",
        "vendor~main.3F9A2C1B.js",
        "3f9a2c1b.js",  # a nameless chunk
        "styles.d41d8cd98f00b204e9800998ecf8427e.css",  # a full md5
        "logo.a1b2c3d4.svg",
        "font-Ab12Cd34.woff2",
    ],
)
def test_rfc8246_names_with_a_content_hash(name: str) -> None:
    assert has_content_hash(name)


@pytest.mark.parametrize(
    "name",
    [
        "jquery-3.7.1.min.js",
        "report-2024.pdf",
        "backup-20240115.sql",  # a date, not a hash
        "photo.20240115.jpg",
        "bootstrap.bundle.min.js",
        "deadbeef.js",  # no digit
        "app.deadbeefcafe.js",
        "Vue3Demo.js",  # a stem is a chosen name
        "OpenSans-Bold700.woff2",
        "Roboto-Roboto400.woff2",
        "components-MyButton.js",
        "font-awesome-4.7.0.css",
        "index.html",
        "app.js",
        "README",
        ".3f9a2c1b",
        "video-1080p60.mp4",
        "release-v2Beta1.zip",
        "sha-1234567.txt",  # 7 digits, too short
    ],
)
def test_rfc8246_names_without_a_content_hash(name: str) -> None:
    assert not has_content_hash(name)


# Names as the build tools write them (from their documented and real outputs).
BUILD_TOOL_NAMES = [
    # Vite / Rollup: "-" and 8 characters of base64url, which may hold "-" and "_"
    ("vite", "assets/index-BeJZfuej.js"),
    ("vite", "assets/index-D64VDMd1.css"),
    ("vite", "assets/hero-CLDdwZDr.png"),
    ("vite", "assets/react-CHdo91hT.svg"),
    ("vite", "assets/index-C8yYPB2W.css"),
    ("vite", "assets/index-legacy-BeJZfuej.js"),
    ("rollup", "assets/vendor-B-x_3kLm.js"),
    ("rollup", "assets/index-Dh_9aQ-w.js"),
    # webpack: "." and hex, [contenthash] (default 20) or [contenthash:8]
    ("webpack", "static/js/main.3f2a1b4c.js"),
    ("webpack", "static/css/main.073c9b0a.css"),
    ("webpack", "main.3f2a1b4c5d6e7f809a1b.js"),
    ("webpack", "static/js/787.d9a5e6c1.chunk.js"),
    # esbuild: "-" and 8 of upper-case base32
    ("esbuild", "chunk-5ZQKC6GB.js"),
    ("esbuild", "chunk-ABCD1234.js"),
    ("esbuild", "index-QHJ5Z4OR.js"),
    # Parcel: "." and 8 hex
    ("parcel", "index.8c2a5e1f.js"),
    ("parcel", "index.975ef6c8.css"),
    # mkdocs (Material): "." and 8 hex before ".min"
    ("mkdocs", "assets/javascripts/bundle.a1b2c3d4.min.js"),
    ("mkdocs", "assets/stylesheets/main.6f8fc17f.min.css"),
    ("mkdocs", "assets/stylesheets/palette.06af60db.min.css"),
]

ORDINARY_NAMES = [
    "my-notes.txt",
    "jquery-3.7.1.min.js",
    "bootstrap.bundle.min.js",
    "font-awesome-4.7.0/css/font-awesome.min.css",
    "report-2024-final.pdf",
    "IMG_20240101.jpg",
    "photo-20240101.jpg",
    "my-long-filename.txt",  # 8 lower-case letters after "-"
    "notes-version2.md",
    "chapter-Chapter1.md",
    "file-12345678.txt",
    "data-notes_v2.csv",
    "theme-darkMode.css",
    "slide-SlideTwo.html",
    "app-iPhone15.png",
    "ACME-CONTRACT.pdf",
    "notes-README12.md",
    # Sphinx names its files plainly and puts the hash in the query (pygments.css?v=...)
    "_static/pygments.css",
    "_static/documentation_options.js",
]


@pytest.mark.parametrize(("tool", "name"), BUILD_TOOL_NAMES)
def test_rfc8246_build_tool_names_carry_a_content_hash(tool: str, name: str) -> None:
    assert has_content_hash(name), tool


@pytest.mark.parametrize("name", ORDINARY_NAMES)
def test_rfc8246_ordinary_names_never_look_hashed(name: str) -> None:
    assert not has_content_hash(name)


def test_rfc8246_upper_case_words_and_numbers_are_missed_on_purpose() -> None:
    # "WXYZ2345" (esbuild) reads like "README12": a missed hash only costs a
    # revalidation after max-age, a misread name would be stale for a year.
    assert not has_content_hash("chunk-WXYZ2345.js")


def test_rfc9111_5_2_2_4_development_profile_is_no_cache(tmp_path: Path) -> None:
    dev = config(tmp_path)
    assert cache_control(dev, "index.html") == "no-cache"
    # Even hashed names revalidate in development: the build may rewrite them in place.
    assert cache_control(dev, "app.3f9a2c1b.js") == "no-cache"


def test_rfc9111_5_2_2_1_cache_profile_sets_max_age(tmp_path: Path) -> None:
    sharing = config(tmp_path, cache_seconds=600)
    assert cache_control(sharing, "index.html") == "public, max-age=600"
    assert cache_control(sharing, "assets/app.3f9a2c1b.js") == IMMUTABLE
    assert IMMUTABLE == "public, max-age=31536000, immutable"
    assert cache_control(config(tmp_path, cache_seconds=0), "a.css") == "public, max-age=0"


def test_site_header_rules_match_names_anywhere_and_paths_from_the_root(
    tmp_path: Path,
) -> None:
    rules = (
        ("*.js", (("X-Script", "yes"),)),
        ("assets/*", (("X-Asset", "1"),)),
        ("/downloads/*.zip", (("Content-Disposition", "attachment"),)),
    )
    site = config(tmp_path, headers=rules)
    assert extra_headers(site, "app.js") == [("X-Script", "yes")]
    assert extra_headers(site, "/deep/down/app.js") == [("X-Script", "yes")]
    assert extra_headers(site, "assets/logo.png") == [("X-Asset", "1")]
    assert extra_headers(site, "assets/app.js") == [("X-Script", "yes"), ("X-Asset", "1")]
    assert extra_headers(site, "downloads/a.zip") == [("Content-Disposition", "attachment")]
    assert extra_headers(site, "other/downloads/a.zip") == []
    assert extra_headers(site, "APP.JS") == []  # case-sensitive on every OS


def test_site_header_rules_cannot_touch_framing_or_validators(tmp_path: Path) -> None:
    rules = (
        (
            "*",
            (
                ("Content-Length", "1"),
                ("Transfer-Encoding", "chunked"),
                ("ETag", '"x"'),
                ("Cache-Control", "no-store"),
            ),
        ),
    )
    assert extra_headers(config(tmp_path, headers=rules), "a.txt") == [
        ("Cache-Control", "no-store")
    ]


def test_site_header_rules_apply_on_top() -> None:
    ours = [("Cache-Control", "no-cache"), ("X-Content-Type-Options", "nosniff"), ("ETag", '"a"')]
    extra = [("cache-control", "max-age=60"), ("X-Frame-Options", "DENY"), ("Cache-Control", "x")]
    assert apply_headers(ours, extra) == [
        ("X-Content-Type-Options", "nosniff"),
        ("ETag", '"a"'),
        ("Cache-Control", "x"),
        ("X-Frame-Options", "DENY"),
    ]
    assert apply_headers(ours, [("X-Content-Type-Options", "")]) == [
        ("Cache-Control", "no-cache"),
        ("ETag", '"a"'),
    ]
    assert apply_headers(ours, []) is ours
