"""Byte ranges (RFC 9110 section 14): parse Range, decide 200 / 206 / 416, build the bodies.

Ranges apply to the identity body of a file only: the static handler never combines a
Range with on-the-fly compression, so offsets always mean bytes of the file on disk.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from siteserve.http.headers import Headers
from siteserve.http.response import BodyChanged, FileBody
from siteserve.site.conditional import if_range_holds

#: More range-specs than this and we send the whole file (RFC 9110 section 14.2 lets a
#: server ignore a Range that looks like a denial-of-service attempt). Media players
#: and download managers ask for one range; PDF viewers for a handful.
MAX_RANGES = 16
#: Ranges closer than this are sent as one part: a part header costs about this much,
#: so a smaller gap is cheaper to send than to skip (RFC 9110 section 14.6).
COALESCE_GAP = 80
#: Read size for multipart bodies streamed from disk.
CHUNK = 64 * 1024

# range-spec = int-range / suffix-range (section 14.1.1); numbers are capped below so
# a 5000-digit position cannot make int() work hard or raise.
_SPEC = re.compile(r"(\d*)-(\d*)")
_HUGE = 10**18


@dataclass(frozen=True, slots=True)
class ByteRange:
    """First and last byte positions, both inclusive, as in Content-Range."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, total: int) -> str:
        return f"bytes {self.start}-{self.end}/{total}"


@dataclass(frozen=True, slots=True)
class RangePlan:
    """200 (ignore Range: ``ranges`` empty), 206 (one or more ranges), or 416."""

    status: int
    ranges: tuple[ByteRange, ...] = ()


FULL = RangePlan(200)
UNSATISFIABLE = RangePlan(416)


class TooManyRanges(Exception):
    """More range-specs than :data:`MAX_RANGES`."""


def _number(digits: str) -> int:
    return _HUGE if len(digits) > 18 else int(digits)


def parse_range(value: str) -> list[tuple[int | None, int | None]] | None:
    """The range-specs of a ``bytes`` Range value, or None when it must be ignored.

    Each spec is (first, last) for ``first-last`` and ``first-`` (last None), or
    (None, n) for the suffix ``-n``. None answers an unknown range unit (which a
    server must ignore, section 14.2) and a syntactically invalid set, including a
    last-pos below its first-pos (section 14.1.1). Raises TooManyRanges.
    """
    unit, equals, range_set = value.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    specs: list[tuple[int | None, int | None]] = []
    # range-set = 1#range-spec: empty list elements are allowed (section 5.6.1.2).
    for item in range_set.split(","):
        item = item.strip(" \t")
        if not item:
            continue
        match = _SPEC.fullmatch(item)
        if match is None:
            return None
        first, last = match.groups()
        if first:
            first_pos = _number(first)
            last_pos = _number(last) if last else None
            if last_pos is not None and last_pos < first_pos:
                return None
            specs.append((first_pos, last_pos))
        elif last:
            specs.append((None, _number(last)))
        else:
            return None  # a lone "-"
        if len(specs) > MAX_RANGES:
            raise TooManyRanges
    return specs or None


def resolve(specs: list[tuple[int | None, int | None]], total: int) -> list[ByteRange]:
    """The satisfiable specs as concrete ranges, in request order (section 14.1.1).

    An int-range is satisfiable when it starts inside the file; a suffix-range when
    it asks for at least one byte (and the file has one to give).
    """
    ranges: list[ByteRange] = []
    for first, last in specs:
        if first is not None:
            if first >= total:
                continue
            end = total - 1 if last is None else min(last, total - 1)
            ranges.append(ByteRange(first, end))
        elif last and total:
            ranges.append(ByteRange(max(0, total - last), total - 1))
    return ranges


def coalesce(ranges: list[ByteRange]) -> list[ByteRange]:
    """Merge overlapping and nearly adjacent ranges, so no byte is sent twice.

    Overlapping ranges are how a Range header amplifies a small file into a large
    response (section 14.2, 17.15); merged, a response is never much larger than the
    file. Parts keep the request's order unless something was merged, in which case
    they come in ascending order (section 14.6 allows that for coalesced ranges).
    """
    ordered = sorted(ranges, key=lambda r: r.start)
    merged: list[ByteRange] = [ordered[0]]
    for current in ordered[1:]:
        previous = merged[-1]
        if current.start <= previous.end + 1 + COALESCE_GAP:
            merged[-1] = ByteRange(previous.start, max(previous.end, current.end))
        else:
            merged.append(current)
    return ranges if len(merged) == len(ranges) else merged


def plan(
    method: str,
    headers: Headers,
    total: int,
    etag: str | None,
    last_modified: int | None,
) -> RangePlan:
    """What to do with the request's Range header for a file of ``total`` bytes.

    This is step 5 of RFC 9110 section 13.2.2, run after the other preconditions.
    """
    value = headers.get("range")
    # Range is defined for GET only; a server must ignore it otherwise (section 14.2).
    if value is None or method != "GET":
        return FULL
    if_range = headers.get("if-range")
    if if_range is not None and not if_range_holds(if_range, etag, last_modified):
        return FULL
    try:
        specs = parse_range(value)
    except TooManyRanges:
        return FULL
    if specs is None:
        return FULL
    ranges = resolve(specs, total)
    if not ranges:
        if total == 0 and any(first is None for first, _ in specs):
            # "-n" of an empty file is satisfiable yet selects nothing, and no
            # Content-Range can describe zero bytes: the whole (empty) file is the answer.
            return FULL
        return UNSATISFIABLE
    return RangePlan(206, tuple(coalesce(ranges)))


def unsatisfiable_headers(total: int) -> list[tuple[str, str]]:
    """A 416 names the current length (RFC 9110 section 15.5.17)."""
    return [("Content-Range", f"bytes */{total}")]


#: Where a range body's bytes come from: bytes in memory, a whole file's body (an open
#: file, read as it is: its version is the one its headers were made from), or a path.
RangeSource = bytes | FileBody | Path


def single_body(source: RangeSource, byte_range: ByteRange) -> bytes | FileBody:
    """The body of a single-part 206: a slice of the cached bytes or of the file."""
    if isinstance(source, bytes):
        return source[byte_range.start : byte_range.end + 1]
    if isinstance(source, FileBody):
        # The same open file (and its ownership), cut to the range.
        start = source.offset + byte_range.start
        return replace(source, offset=start, length=byte_range.length)
    return FileBody(source, byte_range.start, byte_range.length)


@dataclass(frozen=True, slots=True)
class Multipart:
    """A ``multipart/byteranges`` body (RFC 9110 section 14.6) with its exact length."""

    content_type: str
    length: int
    body: AsyncIterator[bytes]


def multipart(
    source: RangeSource,
    ranges: tuple[ByteRange, ...],
    total: int,
    part_type: str,
    boundary: str | None = None,
) -> Multipart:
    """Build the multipart body; a file is read range by range as the body is sent.

    The length is known in advance (the part headers are ours, the ranges fixed), so
    the writer can send Content-Length instead of chunking.
    """
    if not boundary:
        import secrets  # the first multi-range answer (hmac and hashlib come with it)

        boundary = secrets.token_hex(12)
    heads: list[bytes] = []
    for index, byte_range in enumerate(ranges):
        heads.append(
            (
                ("\r\n" if index else "")
                + f"--{boundary}\r\n"
                + f"Content-Type: {part_type}\r\n"
                + f"Content-Range: {byte_range.content_range(total)}\r\n\r\n"
            ).encode("latin-1")
        )
    tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
    length = sum(map(len, heads)) + sum(r.length for r in ranges) + len(tail)
    return Multipart(
        content_type=f"multipart/byteranges; boundary={boundary}",
        length=length,
        body=_parts(source, ranges, heads, tail),
    )


async def _parts(
    source: RangeSource, ranges: tuple[ByteRange, ...], heads: list[bytes], tail: bytes
) -> AsyncIterator[bytes]:
    if isinstance(source, bytes):
        for head, byte_range in zip(heads, ranges, strict=True):
            yield head + source[byte_range.start : byte_range.end + 1]
        yield tail
        return
    pieces = _FileParts(source, ranges, heads, tail)
    try:
        # Reads are synchronous: CHUNK-sized reads of a file that was just stat'ed come
        # from the page cache in microseconds, less than a thread hop for each would cost.
        for piece in pieces:
            yield piece
    finally:
        pieces.close()


class _FileParts:
    """The pieces of a multipart body read from one open file, each checked before it goes.

    A file truncated or rewritten in place after its headers were made raises
    BodyChanged: the connection must then close, short of the promised length,
    rather than send parts of two versions.
    """

    def __init__(
        self,
        source: FileBody | Path,
        ranges: tuple[ByteRange, ...],
        heads: list[bytes],
        tail: bytes,
    ) -> None:
        self._source = source
        self._ranges = ranges
        self._heads = heads
        self._tail = tail
        if isinstance(source, FileBody):
            self._path = source.path
            self._file = source.file if source.file is not None else io.FileIO(source.path)
            stamp = source.stamp
        else:
            self._path = source
            self._file = io.FileIO(source)
            stamp = None
        if stamp is None:
            info = os.fstat(self._file.fileno())
            stamp = (info.st_size, info.st_mtime_ns)
        self._stamp = stamp

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        fd = self._file.fileno()
        for head, byte_range in zip(self._heads, self._ranges, strict=True):
            yield head
            offset = byte_range.start
            remaining = byte_range.length
            while remaining:
                chunk = os.pread(fd, min(CHUNK, remaining), offset)
                info = os.fstat(fd)
                if not chunk or (info.st_size, info.st_mtime_ns) != self._stamp:
                    raise BodyChanged(f"{self._path} changed while it was being sent")
                offset += len(chunk)
                remaining -= len(chunk)
                yield chunk
        yield self._tail
