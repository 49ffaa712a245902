"""Property: fed mutated requests, the parser never reads more than RFC 9112 allows.

Each case is a mutated request followed by a valid second one, cut into reads at
random places (tests/request_fuzz.py). A strict reading of RFC 9112 written apart
from siteserve (tests/strict_http.py) says which requests a server may act on.
The parser must act on no more of them, see the same heads and bodies where it
does, raise nothing but ProtocolError, and read both requests of every unmutated
case.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

from siteserve.http.errors import ProtocolError
from siteserve.http.limits import ParserLimits
from siteserve.http.parser import RequestHead, RequestParser
from tests.request_fuzz import Case, cases
from tests.strict_http import Read, read_requests

SEED = 9112
COUNT = 4000


@dataclass
class Acted:
    """The parser's events, and which heads the connection would hand to the app."""

    heads: list[RequestHead] = field(default_factory=list)
    bodies: list[bytearray] = field(default_factory=list)
    ends: int = 0
    #: Heads handed over: the connection dispatches only after a read has been parsed,
    #: so a head whose body broke in the same read is answered by the refusal alone.
    dispatched: int = 0

    def on_request_head(self, head: RequestHead) -> None:
        self.heads.append(head)
        self.bodies.append(bytearray())

    def on_request_body(self, data: bytes) -> None:
        self.bodies[-1] += data

    def on_request_end(self) -> None:
        self.ends += 1

    def answered(self) -> int:
        """How many requests the app answers: up to the first that does not persist."""
        for index, head in enumerate(self.heads[: self.dispatched]):
            if not head.keep_alive or head.upgrade:
                return index + 1
        return self.dispatched


def parse_case(case: Case) -> tuple[Acted, ProtocolError | None]:
    acted = Acted()
    parser = RequestParser(acted, ParserLimits(max_body=case.max_body))
    bounds = [0, *case.cuts, len(case.data)]
    try:
        for start, end in itertools.pairwise(bounds):
            parser.feed(case.data[start:end])
            acted.dispatched = len(acted.heads)
            if parser.upgrade_offset is not None:
                break  # the connection belongs to another protocol from here on
    except ProtocolError as error:
        # Complete requests before the refused one are still answered (server/protocol.py).
        acted.dispatched = max(acted.dispatched, acted.ends)
        return acted, error
    return acted, None


def disagreement(case: Case) -> str | None:
    strict = read_requests(case.data, case.max_body)
    acted, _ = parse_case(case)  # any exception but ProtocolError fails the test here
    count = acted.answered()
    if count > len(strict):
        return f"answers {count} requests, a strict server at most {len(strict)}"
    for index in range(count):
        head, allowed = acted.heads[index], strict[index]
        if (head.method, head.target) != (allowed.method, allowed.target):
            return f"request {index} read as {head.method} {head.target}, not {allowed}"
        if index < acted.ends and bytes(acted.bodies[index]) != _body(allowed):
            return f"request {index} body {bytes(acted.bodies[index])!r}, not {allowed.body!r}"
    if case.pristine and (count, acted.ends) != (2, 2):
        return f"a valid pair read as {count} answered requests, {acted.ends} complete"
    return None


def _body(read: Read) -> bytes | None:
    return read.body


@functools.cache
def _cases() -> list[Case]:
    return cases(SEED, COUNT)


def test_mutated_requests_never_read_past_what_rfc9112_allows() -> None:
    failures = []
    for number, case in enumerate(_cases()):
        problem = disagreement(case)
        if problem is not None:
            failures.append(f"case {number}: {problem}\n    {case.data!r} max_body={case.max_body}")
    assert not failures, f"{len(failures)} of {COUNT}:\n" + "\n".join(failures[:15])


def test_the_generator_reaches_every_outcome() -> None:
    # A property that holds only because every case is refused at once proves nothing.
    outcomes: dict[str, int] = {}
    for case in _cases():
        acted, error = parse_case(case)
        key = f"{acted.answered()}:{error.status if error else 'ok'}"
        outcomes[key] = outcomes.get(key, 0) + 1
    assert outcomes.get("2:ok", 0) > COUNT // 10
    for status in (400, 413, 501, 505):
        assert any(key.endswith(f":{status}") for key in outcomes), (status, outcomes)
    assert any(key.startswith("1:") for key in outcomes)
    assert sum(n for key, n in outcomes.items() if key.startswith("0:")) > COUNT // 10
