"""The answer cache (``server.answers``): what it keeps, in what shape, and its bounds."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from siteserve import bounds
from siteserve.http import Headers, Request, Response
from siteserve.http.writer import encode_response_head
from siteserve.server import answers
from siteserve.server.answers import AnswerCache
from siteserve.server.connection_state import CloseReason


def request(method: str = "GET", path: str = "/a.txt", **fields: str) -> Request:
    headers = Headers([("host", "test"), *((k.replace("_", "-"), v) for k, v in fields.items())])
    return Request(method, path, path, "", headers)


def valid() -> bool:
    return True


def response(body: bytes = b"x" * 100, status: int = 200) -> Response:
    return Response(status, [("Content-Type", "text/plain")], body, still_valid=valid)


def key(n: int) -> bytes:
    return b"GET /%d HTTP/1.1\r\nHost: test\r\n\r\n" % n


def test_its_bounds_live_in_bounds() -> None:
    assert answers.MAX_ENTRIES == bounds.ANSWERS
    assert answers.MAX_BYTES == bounds.ANSWER_BYTES
    assert answers.MAX_BODY == bounds.ANSWER_BODY
    assert answers.MAX_KEY == bounds.ANSWER_KEY


def test_an_answer_is_the_head_around_a_fresh_date_line() -> None:
    cache = AnswerCache()
    sent = response()
    cache.keep(key(1), request(), sent, None)
    answer = cache.get(key(1))
    assert answer is not None and answer.large_body is None
    head = encode_response_head(response(), method="GET", version="1.1", keep_alive=True).head
    date_end = head.index(b"\r\n", head.index(b"\r\nDate: ") + 2) + 2
    assert answer.status_line == head[: head.index(b"\r\n") + 2]
    assert answer.after_date == head[date_end:] + b"x" * 100
    assert (answer.method, answer.target, answer.status, answer.size) == ("GET", "/a.txt", 200, 100)


def test_head_keeps_no_body_and_a_large_body_stays_apart() -> None:
    cache = AnswerCache()
    cache.keep(key(1), request("HEAD"), response(), None)
    head_answer = cache.get(key(1))
    assert head_answer is not None
    assert head_answer.size == 0 and head_answer.after_date.endswith(b"\r\n\r\n")
    large = b"y" * (200 * 1024)
    cache.keep(key(2), request(), response(large), None)
    answer = cache.get(key(2))
    assert answer is not None and answer.large_body == large
    assert answer.after_date.endswith(b"Content-Length: %d\r\n\r\n" % len(large))


class Stream:
    """A streamed body that holds nothing to release."""

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        raise StopAsyncIteration


@pytest.mark.parametrize(
    ("why", "req", "resp"),
    [
        ("no way to tell it still holds", request(), Response(200, [], b"x")),
        ("not a 200", request(), response(status=404)),
        ("a write's precondition", request(if_match='"a"'), response()),
        ("a write's date precondition", request(if_unmodified_since="x"), response()),
        ("If-Range", request(if_range='"a"'), response()),
        ("a range", request(range="bytes=0-1"), response()),
        ("a body", request(content_length="3"), response()),
        ("Expect", request(expect="100-continue"), response()),
        ("too large", request(), response(b"z" * (bounds.ANSWER_BODY + 1))),
        ("streamed", request(), Response(200, [], Stream(), still_valid=valid)),
        ("closes", request(), Response(200, [], b"x", close=True, still_valid=valid)),
    ],
)
def test_what_is_never_kept(why: str, req: Request, resp: Response) -> None:
    cache = AnswerCache()
    cache.keep(key(1), req, resp, None)
    assert cache.get(key(1)) is None, why
    assert len(cache) == 0 and cache.size == 0


def test_a_revalidation_is_kept_with_its_304_or_its_200() -> None:
    cache = AnswerCache()
    cache.keep(key(1), request(if_none_match='"a"'), response(b"", status=304), None)
    not_modified = cache.get(key(1))
    assert not_modified is not None and not_modified.status == 304
    assert not_modified.after_date.endswith(b"\r\n\r\n")  # a 304 has no body
    cache.keep(key(2), request(if_modified_since="Tue, 01 Jan 2030 00:00:00 GMT"), response(), None)
    whole = cache.get(key(2))
    assert whole is not None and whole.status == 200 and whole.size == 100


def test_a_close_the_request_asked_for_is_kept_and_no_other() -> None:
    cache = AnswerCache()
    cache.keep(key(1), request(connection="close"), response(), CloseReason.CLIENT_CLOSE)
    answer = cache.get(key(1))
    assert answer is not None and answer.closes is CloseReason.CLIENT_CLOSE
    assert b"\r\nConnection: close\r\n" in answer.after_date
    for n, reason in enumerate((CloseReason.SHUTDOWN, CloseReason.PROTOCOL_ERROR), 2):
        cache.keep(key(n), request(), response(), reason)
        assert cache.get(key(n)) is None, reason


def test_a_long_request_is_not_kept() -> None:
    cache = AnswerCache()
    long_key = b"GET /" + b"a" * bounds.ANSWER_KEY + b" HTTP/1.1\r\n\r\n"
    cache.keep(long_key, request(), response(), None)
    assert len(cache) == 0


def test_a_flood_of_distinct_requests_keeps_the_entry_bound() -> None:
    cache = AnswerCache()
    for n in range(bounds.ANSWERS * 2):
        cache.keep(key(n), request(), response(), None)
    assert len(cache) == bounds.ANSWERS
    assert cache.get(key(0)) is None  # the least recently used went first
    assert cache.get(key(bounds.ANSWERS * 2 - 1)) is not None
    cache.keep(key(0), request(), response(), None)  # an evicted one is kept again
    assert cache.get(key(0)) is not None and len(cache) == bounds.ANSWERS


def test_a_flood_of_large_answers_keeps_the_byte_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(answers, "MAX_BYTES", 1024 * 1024)
    cache = AnswerCache()
    body = b"b" * (100 * 1024)
    for n in range(50):
        cache.keep(key(n), request(), response(body), None)
        assert cache.size <= 1024 * 1024
    assert 0 < len(cache) <= 10
    oldest = 50 - len(cache)
    assert cache.get(key(oldest - 1)) is None
    cache.get(key(oldest))  # used again: the next one is now the least recently used
    cache.keep(key(50), request(), response(body), None)
    assert cache.get(key(oldest)) is not None
    assert cache.get(key(oldest + 1)) is None


def test_forget_gives_back_the_bytes() -> None:
    cache = AnswerCache()
    cache.keep(key(1), request(), response(), None)
    assert cache.size > 0
    cache.forget(key(1))
    cache.forget(key(1))  # twice: nothing left to forget
    assert len(cache) == 0 and cache.size == 0
