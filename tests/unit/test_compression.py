"""Content codings (RFC 9110 sections 8.4, 8.8.3, 12.5.3), without sockets."""

from __future__ import annotations

import asyncio
import gzip
import os
import threading
from pathlib import Path

import brotli
import pytest

from siteserve.site.compression import (
    NOT_SMALLER,
    CompressionCache,
    choose_coding,
    coded_etag,
    compress,
    find_sibling,
    is_compressible,
)

TEXT = b"body { color: red; }\n" * 200


# -- negotiation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip, deflate, br, zstd", "br"),  # Chromium
        ("gzip, deflate, br", "br"),
        ("gzip, deflate", "gzip"),
        ("br;q=0.5, gzip;q=0.8", "gzip"),  # unnamed identity is only the fallback
        ("br;q=1.0, gzip;q=1.0", "br"),  # a tie goes to br
        ("x-gzip", "gzip"),  # section 8.4.1.3
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("identity", "identity"),
        ("gzip;q=0.5, identity", "identity"),  # identity preferred by q
        ("gzip;q=0.5, identity;q=0.5", "gzip"),  # a tie goes to the coding
        ("compress, deflate", "identity"),
        ("", "identity"),  # an empty field asks for no coding
        ("gzip;q=0", "identity"),
        ("br;q=abc, gzip", "gzip"),  # an unreadable weight drops the item
        ("br;q=2, gzip", "gzip"),  # q above 1 is no weight at all
        ("GZIP", "gzip"),  # coding names are case-insensitive
    ],
)
def test_rfc9110_12_5_3_accept_encoding_with_q_values(accept: str, expected: str) -> None:
    assert choose_coding(accept) == expected


def test_rfc9110_12_5_3_no_accept_encoding_gets_identity() -> None:
    assert choose_coding(None) == "identity"


def test_rfc9110_12_5_3_identity_refused_and_nothing_else_acceptable_is_disregarded() -> None:
    assert choose_coding("identity;q=0") == "identity"
    assert choose_coding("*;q=0") == "identity"
    assert choose_coding("identity;q=0, gzip") == "gzip"


def test_rfc9110_12_5_3_only_available_codings_are_chosen() -> None:
    assert choose_coding("br, gzip", ("gzip",)) == "gzip"
    assert choose_coding("br", ("gzip",)) == "identity"
    assert choose_coding("br, gzip", ()) == "identity"


# -- what gets compressed -------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html; charset=utf-8",
        "text/css; charset=utf-8",
        "text/javascript; charset=utf-8",
        "application/json",
        "application/manifest+json; charset=utf-8",
        "image/svg+xml",
        "application/xml",
        "application/atom+xml",
        "application/wasm",
    ],
)
def test_compressible_types(content_type: str) -> None:
    assert is_compressible(content_type)


@pytest.mark.parametrize(
    "content_type",
    ["image/png", "image/jpeg", "video/mp4", "font/woff2", "application/zip", "application/gzip"],
)
def test_already_compressed_types_are_not_compressible(content_type: str) -> None:
    assert not is_compressible(content_type)


# -- validators -----------------------------------------------------------------------


def test_rfc9110_8_8_3_each_coding_has_its_own_etag() -> None:
    assert coded_etag('"abc"', "br") == '"abc-br"'
    assert coded_etag('"abc"', "gzip") == '"abc-gz"'
    assert coded_etag('"abc"', "identity") == '"abc"'
    assert coded_etag('W/"abc"', "gzip") == 'W/"abc-gz"'


def test_rfc9110_8_8_3_strong_etag_needs_deterministic_bytes() -> None:
    # The coded tag is derived from the file's, so the same input must give the same
    # output every time (no timestamp in the gzip header).
    assert compress(TEXT, "gzip") == compress(TEXT, "gzip")
    assert compress(TEXT, "br") == compress(TEXT, "br")
    assert gzip.decompress(compress(TEXT, "gzip")) == TEXT
    assert brotli.decompress(compress(TEXT, "br")) == TEXT
    assert compress(TEXT, "identity") is TEXT


# -- the cache ------------------------------------------------------------------------


def test_rfc9110_8_4_cache_compresses_a_version_once() -> None:
    cache = CompressionCache()
    calls = 0

    def read() -> bytes:
        nonlocal calls
        calls += 1
        return TEXT

    async def twice() -> tuple[bytes, bytes]:
        return await cache.compressed('"v1"', "br", read), await cache.compressed(
            '"v1"', "br", read
        )

    first, second = asyncio.run(twice())
    assert first == second and brotli.decompress(first) == TEXT
    assert calls == 1
    assert cache.get('"v1"', "br") == first
    assert cache.get('"v2"', "br") is None  # a new version is a new key


def test_rfc9110_8_4_concurrent_requests_share_one_compression() -> None:
    cache = CompressionCache()
    calls = 0
    gate = threading.Event()

    def read() -> bytes:
        nonlocal calls
        calls += 1
        gate.wait(5)
        return TEXT

    async def many() -> list[bytes]:
        tasks = [asyncio.ensure_future(cache.compressed('"v"', "gzip", read)) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        return await asyncio.gather(*tasks)

    bodies = asyncio.run(many())
    assert calls == 1
    assert all(gzip.decompress(body) == TEXT for body in bodies)


def test_cache_failure_is_not_cached() -> None:
    cache = CompressionCache()

    def broken() -> bytes:
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        asyncio.run(cache.compressed('"v"', "gzip", broken))
    assert cache.get('"v"', "gzip") is None
    assert asyncio.run(cache.compressed('"v"', "gzip", lambda: TEXT)) != NOT_SMALLER


def test_cache_is_bounded_and_evicts_least_recently_used() -> None:
    cache = CompressionCache(max_bytes=1000)
    cache.put('"a"', "br", b"a" * 200)
    cache.put('"b"', "br", b"b" * 200)
    cache.put('"c"', "br", b"c" * 200)
    assert cache.get('"a"', "br") is not None  # "a" is now the most recent
    cache.put('"d"', "br", b"d" * 200)
    cache.put('"e"', "br", b"e" * 200)
    cache.put('"f"', "br", b"f" * 200)
    assert cache.size <= 1000
    assert cache.get('"b"', "br") is None
    assert cache.get('"a"', "br") is not None
    cache.put('"huge"', "br", b"h" * 300)  # over a quarter of the budget: not kept
    assert cache.get('"huge"', "br") is None


def test_cache_remembers_bodies_that_do_not_shrink() -> None:
    cache = CompressionCache()
    noise = os.urandom(2000)
    assert cache.compress_now('"n"', "gzip", noise) == NOT_SMALLER
    assert cache.get('"n"', "gzip") == NOT_SMALLER
    assert gzip.decompress(cache.compress_now('"t"', "gzip", TEXT)) == TEXT


# -- precompressed siblings -----------------------------------------------------------


def test_precompressed_sibling_found_when_not_older(tmp_path: Path) -> None:
    original = tmp_path / "app.js"
    original.write_bytes(TEXT)
    sibling = tmp_path / "app.js.br"
    sibling.write_bytes(brotli.compress(TEXT))
    mtime = original.stat().st_mtime_ns
    os.utime(sibling, ns=(mtime, mtime))
    info = find_sibling(original, "br", mtime)
    assert info is not None and info.st_size == sibling.stat().st_size
    assert find_sibling(original, "gzip", mtime) is None
    assert find_sibling(original, "identity", mtime) is None


def test_precompressed_sibling_older_than_original_is_ignored(tmp_path: Path) -> None:
    original = tmp_path / "app.js"
    original.write_bytes(TEXT)
    sibling = tmp_path / "app.js.gz"
    sibling.write_bytes(gzip.compress(TEXT))
    mtime = original.stat().st_mtime_ns
    os.utime(sibling, ns=(mtime - 10**9, mtime - 10**9))
    assert find_sibling(original, "gzip", mtime) is None


def test_precompressed_sibling_must_be_a_file(tmp_path: Path) -> None:
    original = tmp_path / "app.js"
    original.write_bytes(TEXT)
    (tmp_path / "app.js.gz").mkdir()
    assert find_sibling(original, "gzip", 0) is None
