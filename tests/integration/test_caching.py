"""Caching and transfer semantics on a real server: validators, conditions, ranges, codings.

Each test names the RFC 9110 section (or RFC 9111 / RFC 8246) whose rule it checks.
"""

from __future__ import annotations

import email.message
import email.parser
import gzip
import os
from collections.abc import Callable, Iterator
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

import brotli
import httpx
import pytest

from tests.conftest import RunningServer

CSS = ("".join(f".rule-{i} {{ color: #{i:06x}; margin: {i}px; }}\n" for i in range(120))).encode()
BIG_JS = ("".join(f"export const value{i} = {i * 7919 % 1000};\n" for i in range(12000))).encode()
APP_JS = b"console.log('precompressed');\n" * 100
BINARY = bytes(range(256)) * 800  # 204800 bytes, larger than the in-memory file cache
SMALL = b"tiny text\n"


def make_site(root: Path) -> Path:
    (root / "style.css").write_bytes(CSS)
    (root / "big.js").write_bytes(BIG_JS)
    (root / "small.txt").write_bytes(SMALL)
    (root / "data.bin").write_bytes(BINARY)
    (root / "app.js").write_bytes(APP_JS)
    # Deliberately different settings from ours, so the bytes tell which was sent.
    (root / "app.js.br").write_bytes(brotli.compress(APP_JS, quality=11))
    (root / "app.js.gz").write_bytes(gzip.compress(APP_JS, compresslevel=9, mtime=1))
    (root / "app.3f9a2c1b.js").write_bytes(b"export {};\n")
    return root


@pytest.fixture
def site(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    return serve_site(make_site(tmp_path))


@pytest.fixture
def client(site: RunningServer) -> Iterator[httpx.Client]:
    # No Accept-Encoding unless a test asks: httpx would otherwise send its own.
    with httpx.Client(base_url=site.base_url, headers={"Accept-Encoding": "identity"}) as c:
        yield c


def raw_get(client: httpx.Client, path: str, **headers: str) -> tuple[httpx.Response, bytes]:
    """A GET whose body is returned as sent, without content decoding."""
    with client.stream("GET", path, headers=headers) as response:
        raw = b"".join(response.iter_raw())
    return response, raw


# -- validators (RFC 9110 section 8.8) --------------------------------------------------


@pytest.mark.parametrize("path", ["/style.css", "/small.txt", "/data.bin", "/big.js"])
def test_rfc9110_8_8_every_file_has_a_strong_etag_and_last_modified(
    client: httpx.Client, site: RunningServer, path: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    mtime = int(os.stat(site.config.root / path[1:]).st_mtime)
    assert parsedate_to_datetime(response.headers["last-modified"]).timestamp() == mtime
    assert response.headers["x-content-type-options"] == "nosniff"


def test_rfc9110_8_8_3_etag_changes_when_the_file_changes(
    client: httpx.Client, site: RunningServer
) -> None:
    first = client.get("/small.txt").headers["etag"]
    path = site.config.root / "small.txt"
    path.write_bytes(b"changed\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    response = client.get("/small.txt", headers={"If-None-Match": first})
    assert response.status_code == 200
    assert response.content == b"changed\n"
    assert response.headers["etag"] != first


# -- conditional requests (RFC 9110 section 13) ----------------------------------------


def test_rfc9110_13_1_2_if_none_match_gives_304_without_body(client: httpx.Client) -> None:
    etag = client.get("/style.css").headers["etag"]
    response = client.get("/style.css", headers={"If-None-Match": etag})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag


def test_rfc9110_13_1_2_if_none_match_star_list_and_weak_comparison(client: httpx.Client) -> None:
    etag = client.get("/data.bin").headers["etag"]
    for value in ("*", f'"nope", {etag}', f"W/{etag}"):
        assert client.get("/data.bin", headers={"If-None-Match": value}).status_code == 304
    assert client.get("/data.bin", headers={"If-None-Match": '"nope"'}).status_code == 200


def test_rfc9110_15_4_5_304_keeps_only_the_headers_a_304_may_carry(client: httpx.Client) -> None:
    full = client.get("/style.css")
    response = client.get("/style.css", headers={"If-None-Match": full.headers["etag"]})
    assert response.status_code == 304
    for name in ("etag", "cache-control", "vary", "date", "last-modified"):
        assert name in response.headers, name
    assert response.headers["last-modified"] == full.headers["last-modified"]
    assert response.headers["cache-control"] == full.headers["cache-control"]
    for name in ("content-type", "content-length", "accept-ranges", "content-encoding"):
        assert name not in response.headers, name


def test_rfc9110_15_4_5_304_carries_vary(client: httpx.Client) -> None:
    full = client.get("/style.css", headers={"Accept-Encoding": "gzip"})
    assert full.headers["vary"] == "Accept-Encoding"
    response = client.get(
        "/style.css",
        headers={"Accept-Encoding": "gzip", "If-None-Match": full.headers["etag"]},
    )
    assert response.status_code == 304
    assert response.headers["vary"] == "Accept-Encoding"


def test_rfc9110_13_1_3_if_modified_since(client: httpx.Client) -> None:
    last_modified = client.get("/data.bin").headers["last-modified"]
    assert client.get("/data.bin", headers={"If-Modified-Since": last_modified}).status_code == 304
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 1, usegmt=True)
    assert client.get("/data.bin", headers={"If-Modified-Since": earlier}).status_code == 200


def test_rfc9110_13_1_3_if_modified_since_garbage_date_is_ignored(client: httpx.Client) -> None:
    response = client.get("/data.bin", headers={"If-Modified-Since": "last tuesday"})
    assert response.status_code == 200
    assert response.content == BINARY


def test_rfc9110_13_2_2_if_none_match_before_if_modified_since(client: httpx.Client) -> None:
    last_modified = client.get("/data.bin").headers["last-modified"]
    response = client.get(
        "/data.bin", headers={"If-None-Match": '"stale"', "If-Modified-Since": last_modified}
    )
    assert response.status_code == 200


def test_rfc9110_13_1_1_if_match_fails_with_412(client: httpx.Client) -> None:
    etag = client.get("/data.bin").headers["etag"]
    assert client.get("/data.bin", headers={"If-Match": etag}).status_code == 200
    assert client.get("/data.bin", headers={"If-Match": "*"}).status_code == 200
    assert client.get("/data.bin", headers={"If-Match": '"other"'}).status_code == 412
    assert client.get("/data.bin", headers={"If-Match": f"W/{etag}"}).status_code == 412


def test_rfc9110_13_1_4_if_unmodified_since_fails_with_412(client: httpx.Client) -> None:
    last_modified = client.get("/data.bin").headers["last-modified"]
    earlier = formatdate(parsedate_to_datetime(last_modified).timestamp() - 60, usegmt=True)
    ok = client.get("/data.bin", headers={"If-Unmodified-Since": last_modified})
    assert ok.status_code == 200
    failed = client.get("/data.bin", headers={"If-Unmodified-Since": earlier})
    assert failed.status_code == 412
    garbage = client.get("/data.bin", headers={"If-Unmodified-Since": "soon"})
    assert garbage.status_code == 200


def test_rfc9110_13_2_2_head_is_conditional_too(client: httpx.Client) -> None:
    etag = client.head("/style.css").headers["etag"]
    assert client.head("/style.css", headers={"If-None-Match": etag}).status_code == 304


# -- ranges (RFC 9110 section 14) ------------------------------------------------------


def test_rfc9110_14_3_accept_ranges_bytes(client: httpx.Client) -> None:
    assert client.get("/data.bin").headers["accept-ranges"] == "bytes"
    assert client.get("/small.txt").headers["accept-ranges"] == "bytes"


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [("0-99", 0, 99), ("204000-", 204000, 204799), ("-500", 204300, 204799), ("10-10", 10, 10)],
)
def test_rfc9110_14_4_single_range_gives_206_with_content_range(
    client: httpx.Client, spec: str, start: int, end: int
) -> None:
    response = client.get("/data.bin", headers={"Range": f"bytes={spec}"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(BINARY)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == BINARY[start : end + 1]


def test_rfc9110_14_4_range_of_a_small_file_served_from_memory(client: httpx.Client) -> None:
    response = client.get("/small.txt", headers={"Range": "bytes=0-3"})
    assert response.status_code == 206
    assert response.content == SMALL[:4]
    assert response.headers["content-range"] == f"bytes 0-3/{len(SMALL)}"


def parse_multipart(response: httpx.Response) -> list[tuple[str, str, bytes]]:
    raw = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode() + response.content
    message = email.parser.BytesParser().parsebytes(raw)
    parts = []
    for part in message.get_payload():
        assert isinstance(part, email.message.Message)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((str(part["Content-Type"]), str(part["Content-Range"]), payload))
    return parts


@pytest.mark.parametrize("path", ["/data.bin", "/style.css"])
def test_rfc9110_14_6_multipart_byteranges_parsed_back(
    client: httpx.Client, site: RunningServer, path: str
) -> None:
    data = (site.config.root / path[1:]).read_bytes()
    response = client.get(path, headers={"Range": "bytes=0-9, 1000-1099, -20"})
    assert response.status_code == 206
    assert response.headers["content-type"].startswith("multipart/byteranges; boundary=")
    assert int(response.headers["content-length"]) == len(response.content)
    part_type = client.get(path).headers["content-type"]
    total = len(data)
    assert parse_multipart(response) == [
        (part_type, f"bytes 0-9/{total}", data[:10]),
        (part_type, f"bytes 1000-1099/{total}", data[1000:1100]),
        (part_type, f"bytes {total - 20}-{total - 1}/{total}", data[-20:]),
    ]


def test_rfc9110_14_2_overlapping_ranges_are_coalesced_not_amplified(
    client: httpx.Client,
) -> None:
    response = client.get("/data.bin", headers={"Range": "bytes=" + ", ".join(["0-"] * 12)})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 0-{len(BINARY) - 1}/{len(BINARY)}"
    assert len(response.content) == len(BINARY)


def test_rfc9110_14_2_too_many_ranges_answer_200(client: httpx.Client) -> None:
    many = ", ".join(f"{i * 1000}-{i * 1000 + 1}" for i in range(40))
    response = client.get("/data.bin", headers={"Range": f"bytes={many}"})
    assert response.status_code == 200
    assert response.content == BINARY


def test_rfc9110_15_5_17_unsatisfiable_range_gives_416(client: httpx.Client) -> None:
    response = client.get("/data.bin", headers={"Range": f"bytes={len(BINARY)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(BINARY)}"


def test_rfc9110_14_2_invalid_range_is_ignored(client: httpx.Client) -> None:
    for value in ("bytes=9-2", "lines=1-2", "bytes=x"):
        assert client.get("/data.bin", headers={"Range": value}).status_code == 200


def test_rfc9110_13_1_5_if_range_with_an_etag(client: httpx.Client) -> None:
    etag = client.get("/data.bin").headers["etag"]
    ranged = client.get("/data.bin", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert ranged.status_code == 206
    stale = client.get("/data.bin", headers={"Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200
    assert stale.content == BINARY


def test_rfc9110_13_1_5_if_range_with_a_date(client: httpx.Client) -> None:
    last_modified = client.get("/data.bin").headers["last-modified"]
    exact = client.get("/data.bin", headers={"Range": "bytes=0-9", "If-Range": last_modified})
    assert exact.status_code == 206
    later = formatdate(parsedate_to_datetime(last_modified).timestamp() + 60, usegmt=True)
    other = client.get("/data.bin", headers={"Range": "bytes=0-9", "If-Range": later})
    assert other.status_code == 200


def test_rfc9110_14_2_range_applies_to_the_identity_body(client: httpx.Client) -> None:
    response = client.get(
        "/style.css", headers={"Range": "bytes=0-9", "Accept-Encoding": "gzip, br"}
    )
    assert response.status_code == 206
    assert "content-encoding" not in response.headers
    assert response.content == CSS[:10]


# -- content codings (RFC 9110 sections 8.4, 12.5.3) -----------------------------------


@pytest.mark.parametrize(
    ("accept", "coding"),
    [("gzip", "gzip"), ("gzip, deflate, br, zstd", "br"), ("br;q=0.1, gzip;q=0.9", "gzip")],
)
def test_rfc9110_12_5_3_coding_chosen_by_accept_encoding(
    client: httpx.Client, accept: str, coding: str
) -> None:
    response, raw = raw_get(client, "/style.css", **{"Accept-Encoding": accept})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == coding
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(raw) < len(CSS)
    decoded = gzip.decompress(raw) if coding == "gzip" else brotli.decompress(raw)
    assert decoded == CSS


def test_rfc9110_12_5_3_identity_without_accept_encoding(site: RunningServer) -> None:
    with httpx.Client(base_url=site.base_url) as plain:
        request = plain.build_request("GET", "/style.css")
        del request.headers["Accept-Encoding"]
        response = plain.send(request)
    assert "content-encoding" not in response.headers
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == CSS


def test_rfc9110_12_5_5_vary_on_identity_responses_of_compressible_types(
    client: httpx.Client,
) -> None:
    assert client.get("/style.css").headers["vary"] == "Accept-Encoding"
    assert client.get("/small.txt").headers["vary"] == "Accept-Encoding"
    assert "vary" not in client.get("/data.bin").headers


def test_rfc9110_8_4_small_files_are_not_coded(client: httpx.Client) -> None:
    response = client.get("/small.txt", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in response.headers
    assert response.content == SMALL


def test_rfc9110_8_4_binary_types_are_not_coded(client: httpx.Client) -> None:
    response = client.get("/data.bin", headers={"Accept-Encoding": "gzip, br"})
    assert "content-encoding" not in response.headers


def test_rfc9110_8_8_3_distinct_etag_per_coding(client: httpx.Client) -> None:
    tags = {
        accept: client.get("/style.css", headers={"Accept-Encoding": accept}).headers["etag"]
        for accept in ("identity", "gzip", "br")
    }
    assert len(set(tags.values())) == 3
    assert tags["gzip"] == tags["identity"][:-1] + '-gz"'
    assert tags["br"] == tags["identity"][:-1] + '-br"'


def test_rfc9110_13_1_2_conditional_request_matches_the_coded_etag(client: httpx.Client) -> None:
    gz = client.get("/style.css", headers={"Accept-Encoding": "gzip"})
    again = client.get(
        "/style.css", headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.headers["etag"] == gz.headers["etag"]
    # A stored identity response is still valid for a client that now accepts br.
    identity_tag = client.get("/style.css").headers["etag"]
    other = client.get(
        "/style.css", headers={"Accept-Encoding": "br", "If-None-Match": identity_tag}
    )
    assert other.status_code == 304
    assert other.headers["etag"] == identity_tag


def test_rfc9110_8_4_large_file_coded_off_the_loop_and_cached(client: httpx.Client) -> None:
    first, raw_first = raw_get(client, "/big.js", **{"Accept-Encoding": "gzip"})
    second, raw_second = raw_get(client, "/big.js", **{"Accept-Encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip"
    assert raw_first == raw_second
    assert gzip.decompress(raw_first) == BIG_JS
    assert first.headers["etag"] == second.headers["etag"]


def test_precompressed_sibling_is_served(client: httpx.Client, site: RunningServer) -> None:
    root = site.config.root
    identity = client.get("/app.js")
    for accept, suffix in (("br", ".br"), ("gzip", ".gz")):
        response, raw = raw_get(client, "/app.js", **{"Accept-Encoding": accept})
        assert response.headers["content-encoding"] == accept
        assert raw == (root / ("app.js" + suffix)).read_bytes()
        # Its own tag, from its own stat, not the "-br" form of the original's.
        assert response.headers["etag"] not in (
            identity.headers["etag"],
            identity.headers["etag"][:-1] + ('-br"' if accept == "br" else '-gz"'),
        )
        assert response.headers["content-type"] == identity.headers["content-type"]
        assert response.headers["last-modified"] == identity.headers["last-modified"]
        revalidated = client.get(
            "/app.js",
            headers={"Accept-Encoding": accept, "If-None-Match": response.headers["etag"]},
        )
        assert revalidated.status_code == 304


def test_precompressed_sibling_older_than_the_original_is_not_served(
    client: httpx.Client, site: RunningServer
) -> None:
    root = site.config.root
    original = os.stat(root / "app.js").st_mtime
    os.utime(root / "app.js.br", (original - 100, original - 100))
    response, raw = raw_get(client, "/app.js", **{"Accept-Encoding": "br"})
    assert response.headers["content-encoding"] == "br"
    assert raw != (root / "app.js.br").read_bytes()  # coded on the fly instead
    assert brotli.decompress(raw) == APP_JS


# -- HEAD (RFC 9110 section 9.3.2) -----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/style.css", "identity"), ("/style.css", "gzip"), ("/big.js", "br"), ("/data.bin", "")],
)
def test_rfc9110_9_3_2_head_has_the_headers_of_get(
    client: httpx.Client, path: str, accept: str
) -> None:
    head = client.head(path, headers={"Accept-Encoding": accept})
    get = client.get(path, headers={"Accept-Encoding": accept})
    assert head.content == b""

    def comparable(response: httpx.Response) -> list[tuple[str, str]]:
        return sorted((k, v) for k, v in response.headers.items() if k != "date")

    assert comparable(head) == comparable(get)


# -- cache profiles (RFC 9111 section 5.2, RFC 8246) -----------------------------------


def test_rfc9111_5_2_2_4_development_profile_is_no_cache(client: httpx.Client) -> None:
    for path in ("/style.css", "/data.bin", "/app.3f9a2c1b.js"):
        assert client.get(path).headers["cache-control"] == "no-cache"


def test_rfc9111_5_2_2_1_cache_profile_and_rfc8246_immutable_hashed_names(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = serve_site(make_site(tmp_path), cache_seconds=600)
    with httpx.Client(base_url=site.base_url) as client:
        assert client.get("/style.css").headers["cache-control"] == "public, max-age=600"
        hashed = client.get("/app.3f9a2c1b.js").headers["cache-control"]
        assert hashed == "public, max-age=31536000, immutable"
        etag = client.get("/style.css").headers["etag"]
        revalidated = client.get("/style.css", headers={"If-None-Match": etag})
        assert revalidated.headers["cache-control"] == "public, max-age=600"


def test_site_header_rules_apply_on_top(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    root = make_site(tmp_path)
    (root / "siteserve.toml").write_text(
        '[headers."*.css"]\n"Cache-Control" = "max-age=5"\n"X-Frame-Options" = "DENY"\n'
    )
    site = serve_site(root)
    with httpx.Client(base_url=site.base_url) as client:
        css = client.get("/style.css")
        assert css.headers["cache-control"] == "max-age=5"
        assert css.headers["x-frame-options"] == "DENY"
        assert client.get("/data.bin").headers["cache-control"] == "no-cache"
        not_modified = client.get("/style.css", headers={"If-None-Match": css.headers["etag"]})
        assert not_modified.status_code == 304
        assert not_modified.headers["cache-control"] == "max-age=5"
