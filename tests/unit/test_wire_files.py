"""Large kept answers held whole in a private in-memory file (``server/wire_files.py``)."""

from __future__ import annotations

import asyncio
import os

import pytest

from siteserve import bounds
from siteserve.http import Headers, Request, Response
from siteserve.server import wire_files
from siteserve.server.answers import Answer, AnswerCache
from tests.unit.connection_support import until

pytestmark = pytest.mark.skipif(not wire_files.AVAILABLE, reason="needs os.memfd_create")

LARGE = bytes(range(256)) * 400  # 100 KiB: above JOIN_BELOW, so kept apart from the head
DATE = b"Date: Wed, 02 Dec 2026 00:00:00 GMT\r\n"
LATER = b"Date: Wed, 02 Dec 2026 00:00:01 GMT\r\n"


def valid() -> bool:
    return True


def kept(cache: AnswerCache, n: int, body: bytes = LARGE) -> Answer:
    key = b"GET /%d HTTP/1.1\r\nHost: test\r\n\r\n" % n
    request = Request("GET", f"/{n}", f"/{n}", "", Headers([("host", "test")]))
    cache.keep(
        key, request, Response(200, [("Content-Type", "x/y")], body, still_valid=valid), None
    )
    answer = cache.get(key)
    assert answer is not None and answer.large_body == body
    return answer


def contents(wire: wire_files.WireFile) -> bytes:
    return os.pread(wire.fd, wire.length + 1, 0)


def test_its_bound_lives_in_bounds() -> None:
    assert wire_files.MAX_OPEN == bounds.ANSWER_WIRE_FILES


def test_a_wire_file_holds_the_whole_answer_with_its_date_line() -> None:
    cache = AnswerCache()
    answer = kept(cache, 1)
    wire = cache.wire(answer, DATE)
    assert wire is not None
    assert contents(wire) == answer.status_line + DATE + answer.after_date + LARGE
    assert wire.length == len(contents(wire))
    assert cache.wire(answer, DATE) is wire  # the same second: the same file


def test_a_new_date_line_gets_a_new_file_and_the_old_one_is_closed_not_rewritten() -> None:
    cache = AnswerCache()
    answer = kept(cache, 1)
    first = cache.wire(answer, DATE)
    assert first is not None
    second = cache.wire(answer, LATER)
    assert second is not None and second is not first
    assert contents(second) == answer.status_line + LATER + answer.after_date + LARGE
    assert first.fd == -1
    assert cache.wire_files == 1


def test_forgetting_or_evicting_an_answer_closes_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = AnswerCache()
    answer = kept(cache, 1)
    wire = cache.wire(answer, DATE)
    assert wire is not None and cache.wire_files == 1
    cache.forget(b"GET /1 HTTP/1.1\r\nHost: test\r\n\r\n")
    assert wire.fd == -1 and cache.wire_files == 0
    # Evicted by the entry bound: its file goes with it.
    monkeypatch.setattr("siteserve.server.answers.MAX_ENTRIES", 1)
    first = kept(cache, 2)
    evicted = cache.wire(first, DATE)
    assert evicted is not None
    kept(cache, 3)
    assert len(cache) == 1 and evicted.fd == -1 and cache.wire_files == 0


def test_open_files_are_bounded_and_files_of_an_earlier_second_make_room(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(wire_files, "MAX_OPEN", 3)
    cache = AnswerCache()
    answers = [kept(cache, n) for n in range(5)]
    made = [cache.wire(answer, DATE) for answer in answers]
    assert [wire is not None for wire in made] == [True, True, True, False, False]
    assert cache.wire_files == 3
    # A second later the files of the earlier Date line are closed for new ones.
    later = cache.wire(answers[4], LATER)
    assert later is not None and cache.wire_files == 1
    assert all(wire is not None and wire.fd == -1 for wire in made[:3])


def test_without_memfd_the_answer_has_no_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire_files, "AVAILABLE", False)
    cache = AnswerCache()
    assert cache.wire(kept(cache, 1), DATE) is None and cache.wire_files == 0


def test_a_flood_of_large_answers_keeps_the_open_files_bound() -> None:
    cache = AnswerCache()
    answers = [kept(cache, n) for n in range(bounds.ANSWER_WIRE_FILES + 8)]
    made = [cache.wire(answer, DATE) for answer in answers]
    assert cache.wire_files == bounds.ANSWER_WIRE_FILES
    assert made.count(None) == 8
    # The answers without one still answer (through the transport), and a later Date
    # line makes room for them.
    assert all(answer.large_body == LARGE for answer in answers)
    assert cache.wire(answers[-1], LATER) is not None
    assert cache.wire_files == 1


def test_a_wire_file_of_a_second_gone_by_is_closed_with_no_request_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server gone quiet after a burst of large answers holds no descriptor for them."""
    monkeypatch.setattr(wire_files, "SWEEP_SECONDS", 0.0)
    cache = AnswerCache()
    answer = kept(cache, 1)

    async def run() -> None:
        wire = cache.wire(answer, DATE)  # a Date line that is not now's
        assert wire is not None and cache.wire_files == 1
        await until(lambda: cache.wire_files == 0, "the sweep closed it")
        assert wire.fd == -1
        again = cache.wire(answer, DATE)  # asked again: made anew, never the closed one
        assert again is not None and again is not wire and again.fd >= 0

    asyncio.run(run())
    cache.forget(b"GET /1 HTTP/1.1\r\nHost: test\r\n\r\n")
    assert cache.wire_files == 0
