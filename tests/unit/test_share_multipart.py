"""The streaming multipart parser: any split of the bytes gives the same parts."""

from __future__ import annotations

import random

import pytest

from siteserve.share.multipart import (
    MAX_PART_HEADER,
    MultipartError,
    MultipartParser,
    PartData,
    PartEnd,
    PartStart,
    boundary_of,
)
from siteserve.site.forms import parse_multipart

BOUNDARY = b"----WebKitFormBoundary7MA4YWxkTrZu0gW"
FILE = bytes(range(256)) * 50 + b"\r\n--almost-a-boundary\r\n" + b"\r\n------WebKitForm"


def body(*parts: bytes, preamble: bytes = b"", epilogue: bytes = b"") -> bytes:
    out = preamble
    for part in parts:
        out += b"--" + BOUNDARY + b"\r\n" + part + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n" + epilogue


SAMPLE = body(
    b'Content-Disposition: form-data; name="mkdir"\r\n\r\nnew folder',
    b'Content-Disposition: form-data; name="file"; filename="a b.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n" + FILE,
    b'Content-Disposition: form-data; name="file"; filename="caf\xc3\xa9.txt"\r\n\r\n',
    preamble=b"ignored preamble\r\n",
    epilogue=b"ignored epilogue",
)


def parse(chunks: list[bytes]) -> list[tuple[str | None, str | None, bytes]]:
    parser = MultipartParser(BOUNDARY)
    parts: list[tuple[str | None, str | None, bytes]] = []
    current: list[bytes] = []
    start: PartStart | None = None
    for chunk in chunks:
        for event in parser.feed(chunk):
            if isinstance(event, PartStart):
                start, current = event, []
            elif isinstance(event, PartData):
                assert event.data
                current.append(event.data)
            elif isinstance(event, PartEnd):
                assert start is not None
                parts.append((start.name, start.filename, b"".join(current)))
    parser.finish()
    return parts


EXPECTED = [
    ("mkdir", None, b"new folder"),
    ("file", "a b.bin", FILE),
    ("file", "café.txt", b""),
]


def test_whole_body() -> None:
    assert parse([SAMPLE]) == EXPECTED


def test_byte_by_byte() -> None:
    assert parse([SAMPLE[i : i + 1] for i in range(len(SAMPLE))]) == EXPECTED


@pytest.mark.parametrize("seed", range(20))
def test_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    chunks, position = [], 0
    while position < len(SAMPLE):
        size = rng.randint(1, 200)
        chunks.append(SAMPLE[position : position + size])
        position += size
    assert parse(chunks) == EXPECTED


def test_agrees_with_the_whole_body_parser() -> None:
    fields, files = parse_multipart(SAMPLE, BOUNDARY)
    assert fields["mkdir"] == "new folder"
    assert [f.filename for f in files.getlist("file")] == ["a b.bin", "café.txt"]
    assert files.getlist("file")[0].size == len(FILE)


def test_transport_padding_and_parts_without_headers() -> None:
    raw = (
        b"--" + BOUNDARY + b"  \t\r\n\r\nno headers\r\n--" + BOUNDARY + b"--"
    )  # no CRLF after the close
    assert parse([raw]) == [(None, None, b"no headers")]


def test_browser_escapes_in_file_names_are_undone() -> None:
    raw = body(b'Content-Disposition: form-data; name="f"; filename="a%22b%0Ac%07.txt"\r\n\r\nx')
    assert parse([raw]) == [("f", 'a"b\nc\x07.txt', b"x")]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"--" + BOUNDARY + b"\r\n\r\ncut short",
        b"--" + BOUNDARY + b"\r\nContent-Disposition: form-data",
        b"--" + BOUNDARY + b"junk\r\n\r\nx\r\n--" + BOUNDARY + b"--",
    ],
)
def test_broken_bodies(raw: bytes) -> None:
    parser = MultipartParser(BOUNDARY)
    with pytest.raises(MultipartError):
        parser.feed(raw)
        parser.finish()


def test_limits() -> None:
    parser = MultipartParser(BOUNDARY)
    with pytest.raises(MultipartError, match="headers too large"):
        parser.feed(b"--" + BOUNDARY + b"\r\nX-Long: " + b"a" * (MAX_PART_HEADER + 10))
    many = b"".join(b"--" + BOUNDARY + b"\r\n\r\nx\r\n" for _ in range(1001))
    with pytest.raises(MultipartError, match="too many parts"):
        MultipartParser(BOUNDARY).feed(many)


def test_data_is_handed_on_as_it_comes() -> None:
    parser = MultipartParser(BOUNDARY)
    parser.feed(b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="f"\r\n\r\n')
    events = parser.feed(b"x" * 100_000)
    handed = sum(len(e.data) for e in events if isinstance(e, PartData))
    # All but a delimiter's length is passed on at once: nothing piles up in the parser.
    assert handed >= 100_000 - len(BOUNDARY) - 4


@pytest.mark.parametrize(
    ("header", "boundary"),
    [
        ("multipart/form-data; boundary=abc", b"abc"),
        ('multipart/form-data; boundary="a b:c"', b"a b:c"),
    ],
)
def test_boundary_of(header: str, boundary: bytes) -> None:
    assert boundary_of(header) == boundary


@pytest.mark.parametrize(
    "header", [None, "multipart/form-data", "multipart/form-data; boundary=" + "x" * 71]
)
def test_bad_boundaries(header: str | None) -> None:
    with pytest.raises(MultipartError):
        boundary_of(header)
