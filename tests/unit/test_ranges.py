"""Byte ranges (RFC 9110 section 14), without sockets."""

from __future__ import annotations

import asyncio
import email.message
import email.parser
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from siteserve.http.headers import Headers
from siteserve.http.response import FileBody
from siteserve.site.ranges import (
    COALESCE_GAP,
    FULL,
    MAX_RANGES,
    UNSATISFIABLE,
    ByteRange,
    RangePlan,
    TooManyRanges,
    coalesce,
    multipart,
    parse_range,
    plan,
    single_body,
    unsatisfiable_headers,
)

ETAG = '"v1"'
MODIFIED = 784111777  # Sun, 06 Nov 1994 08:49:37 GMT
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"


def plan_for(value: str, total: int = 1000, method: str = "GET", **extra: str) -> RangePlan:
    fields = [("range", value)] + [(k.replace("_", "-"), v) for k, v in extra.items()]
    return plan(method, Headers(fields), total, ETAG, MODIFIED)


async def collect(body: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


# -- parsing (section 14.1.2) ----------------------------------------------------------


def test_rfc9110_14_1_2_range_specs_parse() -> None:
    assert parse_range("bytes=0-499") == [(0, 499)]
    assert parse_range("bytes=500-") == [(500, None)]
    assert parse_range("bytes=-200") == [(None, 200)]
    assert parse_range("bytes=0-0, -1 ,, 10-20") == [(0, 0), (None, 1), (10, 20)]
    assert parse_range("BYTES=1-2") == [(1, 2)]  # range units are case-insensitive


@pytest.mark.parametrize(
    "value",
    ["items=0-1", "bytes", "bytes=", "bytes=-", "bytes=a-b", "bytes=5-2", "bytes=1-2-3", "0-1"],
)
def test_rfc9110_14_2_invalid_or_foreign_range_is_ignored(value: str) -> None:
    assert parse_range(value) is None
    assert plan_for(value) == FULL


def test_rfc9110_14_1_2_huge_positions_do_not_overflow_or_raise() -> None:
    assert plan_for("bytes=0-" + "9" * 5000) == RangePlan(206, (ByteRange(0, 999),))
    assert plan_for("bytes=" + "9" * 5000 + "-") == UNSATISFIABLE


# -- satisfiable ranges (section 14.1.1) -----------------------------------------------


def test_rfc9110_14_1_1_int_range_suffix_range_and_open_range() -> None:
    assert plan_for("bytes=0-99") == RangePlan(206, (ByteRange(0, 99),))
    assert plan_for("bytes=900-") == RangePlan(206, (ByteRange(900, 999),))
    assert plan_for("bytes=-100") == RangePlan(206, (ByteRange(900, 999),))
    # A last-pos past the end is clamped; a suffix longer than the file is the file.
    assert plan_for("bytes=990-5000") == RangePlan(206, (ByteRange(990, 999),))
    assert plan_for("bytes=-5000") == RangePlan(206, (ByteRange(0, 999),))


def test_rfc9110_14_1_1_unsatisfiable_ranges_give_416() -> None:
    assert plan_for("bytes=1000-") == UNSATISFIABLE
    assert plan_for("bytes=-0") == UNSATISFIABLE
    assert plan_for("bytes=2000-3000, 1000-") == UNSATISFIABLE
    assert plan_for("bytes=0-", total=0) == UNSATISFIABLE


def test_rfc9110_15_5_17_416_names_the_current_length() -> None:
    assert unsatisfiable_headers(1234) == [("Content-Range", "bytes */1234")]


def test_rfc9110_14_1_1_unsatisfiable_members_are_dropped_from_a_set() -> None:
    assert plan_for("bytes=5000-6000, 0-9") == RangePlan(206, (ByteRange(0, 9),))


def test_rfc9110_14_1_1_suffix_of_an_empty_file_is_the_whole_empty_file() -> None:
    assert plan_for("bytes=-10", total=0) == FULL


# -- when Range applies (section 14.2, 13.2.2 step 5) ----------------------------------


def test_rfc9110_14_2_range_is_ignored_for_methods_other_than_get() -> None:
    assert plan_for("bytes=0-1", method="HEAD") == FULL
    assert plan_for("bytes=0-1", method="POST") == FULL


def test_rfc9110_13_1_5_if_range_etag_match_allows_the_range() -> None:
    assert plan_for("bytes=0-9", if_range=ETAG).status == 206
    assert plan_for("bytes=0-9", if_range='"v0"') == FULL
    assert plan_for("bytes=0-9", if_range='W/"v1"') == FULL


def test_rfc9110_13_1_5_if_range_date_must_equal_last_modified() -> None:
    assert plan_for("bytes=0-9", if_range=DATE).status == 206
    assert plan_for("bytes=0-9", if_range="Sun, 06 Nov 1994 08:49:38 GMT") == FULL
    assert plan_for("bytes=0-9", if_range="junk") == FULL


def test_rfc9110_13_1_5_if_range_failure_gives_200_not_416() -> None:
    # Even an unsatisfiable range is not evaluated when If-Range fails.
    assert plan_for("bytes=5000-", if_range='"v0"') == FULL


# -- amplification (section 14.2, 14.6, 17.15) -----------------------------------------


def test_rfc9110_14_2_too_many_ranges_answer_200() -> None:
    many = ",".join(f"{i * 10}-{i * 10}" for i in range(MAX_RANGES + 1))
    with pytest.raises(TooManyRanges):
        parse_range("bytes=" + many)
    assert plan_for("bytes=" + many) == FULL
    exactly = ",".join(f"{i * 200}-{i * 200}" for i in range(MAX_RANGES))
    assert len(plan_for("bytes=" + exactly, total=10_000).ranges) == MAX_RANGES


def test_rfc9110_14_6_overlapping_ranges_are_coalesced() -> None:
    # Ten copies of the whole file would be ten times the file; merged, it is one.
    result = plan_for("bytes=" + ",".join(["0-"] * 10))
    assert result == RangePlan(206, (ByteRange(0, 999),))
    assert plan_for("bytes=500-599, 0-99, 550-700").ranges == (
        ByteRange(0, 99),
        ByteRange(500, 700),
    )


def test_rfc9110_14_6_nearby_ranges_are_coalesced_distant_ones_keep_request_order() -> None:
    assert coalesce([ByteRange(0, 9), ByteRange(10 + COALESCE_GAP, 200)]) == [ByteRange(0, 200)]
    far = [ByteRange(800, 899), ByteRange(0, 9)]
    assert coalesce(far) == far


def test_rfc9110_17_15_coalesced_response_never_exceeds_the_file_plus_part_headers() -> None:
    result = plan_for("bytes=" + ",".join(f"{i}-{i + 500}" for i in range(MAX_RANGES)))
    assert sum(r.length for r in result.ranges) <= 1000


# -- bodies (section 14.4, 14.6) -------------------------------------------------------


def test_rfc9110_14_4_single_part_body_is_a_slice(tmp_path: Path) -> None:
    assert single_body(b"0123456789", ByteRange(2, 4)) == b"234"
    path = tmp_path / "f.bin"
    assert single_body(path, ByteRange(2, 4)) == FileBody(path, 2, 3)
    assert ByteRange(2, 4).content_range(10) == "bytes 2-4/10"


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str, bytes]]:
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + body
    message = email.parser.BytesParser().parsebytes(raw)
    parts = []
    for part in message.get_payload():
        assert isinstance(part, email.message.Message)
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts.append((str(part["Content-Type"]), str(part["Content-Range"]), payload))
    return parts


@pytest.mark.parametrize("from_file", [False, True])
def test_rfc9110_14_6_multipart_byteranges_round_trips(tmp_path: Path, from_file: bool) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes, every byte value
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    ranges = (ByteRange(0, 99), ByteRange(5000, 5099), ByteRange(10200, 10239))
    result = multipart(path if from_file else data, ranges, len(data), "application/x-test")
    assert result.content_type.startswith("multipart/byteranges; boundary=")
    body = asyncio.run(collect(result.body))
    assert len(body) == result.length
    parts = parse_multipart(result.content_type, body)
    assert parts == [
        ("application/x-test", f"bytes {r.start}-{r.end}/{len(data)}", data[r.start : r.end + 1])
        for r in ranges
    ]


def test_rfc9110_14_6_multipart_streams_a_large_file_in_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    size = 3 * 1024 * 1024
    with path.open("wb") as handle:
        handle.truncate(size)
    ranges = (ByteRange(0, size // 2 - 1), ByteRange(size // 2 + 1000, size - 1))
    result = multipart(path, ranges, size, "application/octet-stream", boundary="B")

    async def largest_chunk() -> tuple[int, int]:
        biggest = total = 0
        async for chunk in result.body:
            biggest = max(biggest, len(chunk))
            total += len(chunk)
        return biggest, total

    biggest, total = asyncio.run(largest_chunk())
    assert total == result.length
    assert biggest <= 64 * 1024


def test_rfc9110_14_6_multipart_from_a_file_that_shrank_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100)
    result = multipart(path, (ByteRange(0, 9), ByteRange(200, 299)), 300, "text/plain")
    with pytest.raises(OSError, match="changed"):
        asyncio.run(collect(result.body))
