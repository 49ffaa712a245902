"""Response heads and framing decisions, as bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from siteserve.http.response import FileBody, Response
from siteserve.http.writer import encode_chunk, encode_fields, encode_response_head, status_line


async def _stream() -> AsyncIterator[bytes]:
    yield b"x"


def head_lines(framing_head: bytes) -> list[str]:
    return framing_head.decode("latin-1").split("\r\n")


def test_bytes_body_gets_content_length_date_and_server() -> None:
    framing = encode_response_head(
        Response(200, [("Content-Type", "text/plain")], b"hello"),
        method="GET",
        version="1.1",
        keep_alive=True,
    )
    lines = head_lines(framing.head)
    assert lines[0] == "HTTP/1.1 200 OK"
    assert "Content-Length: 5" in lines
    assert any(line.startswith("Date: ") and line.endswith(" GMT") for line in lines)
    assert any(line.startswith("Server: siteserve/") for line in lines)
    assert framing.head.endswith(b"\r\n\r\n")
    assert framing.send_body and framing.keep_alive and not framing.chunked


def test_head_keeps_length_but_sends_no_body_rfc9110_9_3_2() -> None:
    framing = encode_response_head(
        Response(200, [], b"hello"), method="HEAD", version="1.1", keep_alive=True
    )
    assert "Content-Length: 5" in head_lines(framing.head)
    assert not framing.send_body


def test_file_body_length() -> None:
    body = FileBody(Path("/nonexistent"), 10, 1234)
    framing = encode_response_head(
        Response(206, [], body), method="GET", version="1.1", keep_alive=True
    )
    assert "Content-Length: 1234" in head_lines(framing.head)


def test_stream_without_length_is_chunked_in_http11() -> None:
    framing = encode_response_head(
        Response(200, [], _stream()), method="GET", version="1.1", keep_alive=True
    )
    assert "Transfer-Encoding: chunked" in head_lines(framing.head)
    assert framing.chunked and framing.keep_alive


def test_stream_without_length_closes_in_http10_rfc9112_6_3() -> None:
    framing = encode_response_head(
        Response(200, [], _stream()), method="GET", version="1.0", keep_alive=True
    )
    assert not framing.chunked and not framing.keep_alive
    assert "Connection: close" in head_lines(framing.head)


def test_stream_with_known_length() -> None:
    framing = encode_response_head(
        Response(200, [], _stream(), length=1), method="GET", version="1.1", keep_alive=True
    )
    assert "Content-Length: 1" in head_lines(framing.head)


def test_304_and_204_carry_no_length_and_no_body_rfc9110_8_6() -> None:
    for status in (204, 304):
        framing = encode_response_head(
            Response(status, [], b""), method="GET", version="1.1", keep_alive=True
        )
        assert not any(line.startswith("Content-Length") for line in head_lines(framing.head))
        assert not framing.send_body


def test_http10_keep_alive_is_announced() -> None:
    framing = encode_response_head(
        Response(200, [], b""), method="GET", version="1.0", keep_alive=True
    )
    assert "Connection: keep-alive" in head_lines(framing.head)


def test_close_is_announced() -> None:
    framing = encode_response_head(
        Response(200, [], b""), method="GET", version="1.1", keep_alive=False
    )
    assert "Connection: close" in head_lines(framing.head)
    framing = encode_response_head(
        Response(200, [], b"", close=True), method="GET", version="1.1", keep_alive=True
    )
    assert not framing.keep_alive


def test_status_line_for_unknown_code() -> None:
    assert status_line(299) == b"HTTP/1.1 299 Unknown\r\n"
    assert status_line(404) == b"HTTP/1.1 404 Not Found\r\n"


def test_chunk_encoding_rfc9112_7_1() -> None:
    assert encode_chunk(b"hello world, hi!") == b"10\r\nhello world, hi!\r\n"


# -- header lines encoded once (a file version's) ----------------------------------------


def _head(response: Response) -> bytes:
    return encode_response_head(response, method="GET", version="1.1", keep_alive=True).head


def test_encoded_fields_give_the_same_head_as_encoding_afresh() -> None:
    fields = (("Content-Type", "text/plain"), ("ETag", '"1-2-3"'))
    encoded = encode_fields(fields)
    kept = _head(Response(200, list(fields), b"hello", encoded=encoded))
    fresh = _head(Response(200, list(fields), b"hello"))
    assert kept == fresh
    assert b'\r\nETag: "1-2-3"\r\n' in kept


def test_encoded_fields_are_not_used_once_a_layer_changed_the_headers() -> None:
    # A layer outside the Site may add, drop or replace fields of a kept response:
    # the writer must then send the headers as they are now, never the kept lines.
    fields = (("Content-Type", "text/plain"), ("Cache-Control", "no-cache"))
    encoded = encode_fields(fields)
    added = Response(200, list(fields), b"x", encoded=encoded)
    added.headers.append(("Access-Control-Allow-Origin", "*"))
    assert b"Access-Control-Allow-Origin: *\r\n" in _head(added)
    replaced = Response(200, list(fields), b"x", encoded=encoded)
    replaced.headers[1] = ("Cache-Control", "no-store")
    head = _head(replaced)
    assert b"Cache-Control: no-store\r\n" in head and b"no-cache" not in head
    dropped = Response(200, list(fields[:1]), b"x", encoded=encoded)
    assert b"Cache-Control" not in _head(dropped)
