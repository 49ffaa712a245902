"""http.response_parser: a backend's answers, as bytes in, heads, bodies and ends out."""

from __future__ import annotations

import pytest

from siteserve.http.response_parser import (
    MAX_HEAD_BYTES,
    ResponseHead,
    ResponseParseError,
    ResponseParser,
)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def on_response_head(self, head: ResponseHead) -> None:
        self.events.append(("head", (head.status, head.headers, head.keep_alive)))

    def on_response_body(self, data: bytes) -> None:
        self.events.append(("body", data))

    def on_response_end(self) -> None:
        self.events.append(("end", None))


def _parse(*pieces: bytes, head_only: bool = False) -> tuple[list[tuple[str, object]], int | None]:
    recorder = Recorder()
    parser = ResponseParser(recorder)
    if head_only:
        parser.expect_head_only()
    offset = None
    for piece in pieces:
        offset = parser.feed(piece)
    return recorder.events, offset


def _body(events: list[tuple[str, object]]) -> bytes:
    return b"".join(data for kind, data in events if kind == "body" and isinstance(data, bytes))


def test_an_answer_with_a_length_split_anywhere() -> None:
    wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    for cut in range(1, len(wire)):
        events, _ = _parse(wire[:cut], wire[cut:])
        assert events[0] == (
            "head",
            (200, [("Content-Type", "text/plain"), ("Content-Length", "5")], True),
        )
        assert _body(events) == b"hello" and events[-1] == ("end", None)


def test_chunked_and_then_the_next_answer_on_the_same_connection() -> None:
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    wire += b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    events, _ = _parse(wire)
    heads = [data for kind, data in events if kind == "head"]
    assert [head[0] for head in heads] == [200, 404]  # type: ignore[index]
    assert _body(events) == b"abcde"
    assert [kind for kind, _ in events].count("end") == 2


def test_close_delimited_and_http_1_0_answers_are_not_kept_alive() -> None:
    events, _ = _parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert events[0][1][2] is False  # type: ignore[index]
    events, _ = _parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert events[0][1][2] is False  # type: ignore[index]


def test_interim_answers_are_skipped() -> None:
    events, _ = _parse(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    assert [kind for kind, _ in events] == ["head", "body", "end"]
    assert events[0][1][0] == 201  # type: ignore[index]


def test_the_answer_to_a_head_ends_with_its_head() -> None:
    events, _ = _parse(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", head_only=True)
    assert events == [("head", (200, [("Content-Length", "1000")], False)), ("end", None)]


def test_after_101_the_offset_of_the_new_protocol() -> None:
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    events, offset = _parse(head + b"\x81\x02hi")
    assert events[0][1][0] == 101  # type: ignore[index]
    assert offset == len(head)


@pytest.mark.parametrize(
    "wire",
    [
        b"SSH-2.0-OpenSSH\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"a" * (MAX_HEAD_BYTES + 1),
    ],
)
def test_not_http_or_a_head_too_large(wire: bytes) -> None:
    with pytest.raises(ResponseParseError):
        _parse(wire)
