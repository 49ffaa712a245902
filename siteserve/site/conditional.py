"""Conditional requests: validators compared, preconditions evaluated (RFC 9110 section 13).

Pure functions over header values, entity-tags and modification times: nothing here
touches files or builds bodies. These are the rules for every layer that answers
conditional requests: the static files (``static.StaticFiles.respond`` asks
:func:`evaluate` before it honours a range or codes a body) and the reload client
script; ETag lists are parsed here and nowhere else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from siteserve.http.headers import Headers

# RFC 9110 section 15.4.5: the fields a 304 may carry. Date is added by the writer.
# Anything else (Content-Type, Content-Length, Accept-Ranges, X-* extras) is
# representation metadata the cache already holds and must not be told again.
NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "last-modified", "vary"}
)

# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 section 8.8.3); etagc is any
# visible character but DQUOTE, so a comma may sit inside a tag and a list can only be
# split by scanning tag by tag.
_ETAG_ITEM = re.compile(r'[ \t]*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"[ \t]*(?:,|$)')
_LIST_JUNK = re.compile(r"[ \t,]*")


def split_etag(tag: str) -> tuple[bool, str]:
    """``W/"x"`` -> (True, "x"); ``"x"`` -> (False, "x")."""
    if tag.startswith("W/"):
        return True, tag[3:-1]
    return False, tag[1:-1]


def parse_etag_list(value: str) -> list[tuple[bool, str]] | None:
    """The entity-tags of an If-Match / If-None-Match value; None for ``*``.

    Items that are not entity-tags are skipped rather than failing the whole
    field: an unquoted token can never match one of our tags anyway, and the
    rest of the list still means what it says. Empty list items are allowed
    (RFC 9110 section 5.6.1.2).
    """
    if value.strip() == "*":
        return None
    tags: list[tuple[bool, str]] = []
    position = 0
    end = len(value)
    while position < end:
        junk = _LIST_JUNK.match(value, position)
        if junk is not None:
            position = junk.end()
        if position >= end:
            break
        item = _ETAG_ITEM.match(value, position)
        if item is None:
            # Skip an invalid item up to the next comma.
            comma = value.find(",", position)
            position = end if comma < 0 else comma + 1
            continue
        tags.append((item.group(1) is not None, item.group(2)))
        position = item.end()
    return tags


def strong_match(tags: list[tuple[bool, str]], current: tuple[str, ...]) -> bool:
    """Strong comparison (RFC 9110 section 8.8.3.2): both strong and the same opaque tag."""
    for candidate in current:
        weak, opaque = split_etag(candidate)
        if weak:
            continue
        for other_weak, other in tags:
            if not other_weak and other == opaque:
                return True
    return False


def weak_match(tags: list[tuple[bool, str]], current: tuple[str, ...]) -> str | None:
    """Weak comparison (RFC 9110 section 8.8.3.2): the same opaque tag, W/ or not.

    Answers the current tag that matched, so a 304 can name the stored response
    it validates.
    """
    for candidate in current:
        opaque = split_etag(candidate)[1]
        for _, other in tags:
            if other == opaque:
                return candidate
    return None


# -- HTTP-date (RFC 9110 section 5.6.7) -----------------------------------------------

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(\d\d):(\d\d):(\d\d)"
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT")
_RFC850_DATE = re.compile(rf"{_LONG_DAY}, (\d\d)-{_MONTH}-(\d\d) {_TIME} GMT")
_ASCTIME_DATE = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})")


@lru_cache(maxsize=256)
def parse_http_date(value: str) -> int | None:
    """Seconds since the epoch for any of the three HTTP-date forms; None for anything else.

    Recipients must accept all three forms (RFC 9110 section 5.6.7); a value that
    is none of them is not an error but an absent validator (sections 13.1.3, 13.1.4).
    Cached because clients repeat the same Last-Modified they were given.
    """
    value = value.strip()
    if match := _IMF_FIXDATE.fullmatch(value):
        day, month, year, hour, minute, second = match.groups()
    elif match := _RFC850_DATE.fullmatch(value):
        day, month, short_year, hour, minute, second = match.groups()
        # A two-digit year that looks more than 50 years in the future is in the
        # past century (RFC 9110 section 5.6.7); anchoring on 2000 is that rule
        # until 2050, when no client will still send this form.
        year_number = 2000 + int(short_year)
        year = str(year_number if year_number < 2050 else year_number - 100)
    elif match := _ASCTIME_DATE.fullmatch(value):
        month, day, hour, minute, second, year = match.groups()
    else:
        return None
    import calendar  # with datetime: only once a client sends a date

    numbers = (int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second))
    if not 1 <= numbers[2] <= calendar.monthrange(numbers[0], numbers[1])[1]:
        return None
    if numbers[3] > 23 or numbers[4] > 59 or numbers[5] > 60:
        return None
    # A leap second is valid syntax; count it as the last second of the minute.
    return calendar.timegm((*numbers[:5], min(numbers[5], 59), 0, 0, 0))


# -- preconditions (RFC 9110 section 13.2.2) ------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """What the preconditions say: proceed (status None), 304 or 412.

    ``etag`` is the tag a 304 should carry: the one the client's If-None-Match
    named, which is the stored response the cache is to freshen (RFC 9110
    section 15.4.5); None means the selected representation's own tag.
    """

    status: int | None = None
    etag: str | None = None


PROCEED = Decision()
PRECONDITION_FAILED = Decision(412)
NOT_MODIFIED = Decision(304)


#: The request fields this module evaluates (RFC 9110 section 13.1), lower-case.
_PRECONDITIONS = frozenset(
    {"if-match", "if-none-match", "if-modified-since", "if-unmodified-since"}
)


def evaluate(
    method: str,
    headers: Headers,
    etag: str | None,
    last_modified: int | None,
    alternates: tuple[str, ...] = (),
) -> Decision:
    """Evaluate If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since in that order.

    ``etag`` is the selected representation's tag; ``alternates`` are the tags of
    the other representations of the same file version (the other encodings), which
    describe the same state and so satisfy If-Match and If-None-Match as well.
    ``last_modified`` is in whole seconds, the precision of an HTTP-date, so a file
    modified at 12.7 s is not "newer" than a client's 12 s.

    The caller must only ask this for a resource that exists and would otherwise
    answer 2xx (RFC 9110 section 13.2.1). If-Range is separate: :func:`if_range_holds`.
    """
    if headers.lacks(_PRECONDITIONS):
        return PROCEED  # nearly every request: nothing to evaluate
    if_match = headers.get("if-match")
    if_none_match = headers.get("if-none-match")
    current = (etag, *alternates) if etag is not None else alternates
    safe = method in ("GET", "HEAD")

    # Step 1: If-Match, strong comparison (section 13.1.1); "*" holds because the
    # representation exists.
    if if_match is not None:
        tags = parse_etag_list(if_match)
        if tags is not None and not strong_match(tags, current):
            return PRECONDITION_FAILED
    # Step 2: If-Unmodified-Since, only without If-Match (section 13.1.4).
    elif (since := headers.get("if-unmodified-since")) is not None and last_modified is not None:
        date = parse_http_date(since)
        if date is not None and last_modified > date:
            return PRECONDITION_FAILED

    # Step 3: If-None-Match, weak comparison (section 13.1.2).
    if if_none_match is not None:
        if if_none_match == etag and etag is not None:
            # The usual revalidation: the client sends back exactly the tag it was given.
            return NOT_MODIFIED if safe else PRECONDITION_FAILED
        tags = parse_etag_list(if_none_match)
        if tags is None:
            return NOT_MODIFIED if safe else PRECONDITION_FAILED
        matched = weak_match(tags, current)
        if matched is not None:
            if not safe:
                return PRECONDITION_FAILED
            return NOT_MODIFIED if matched == etag else Decision(304, matched)
        return PROCEED

    # Step 4: If-Modified-Since, GET and HEAD only, ignored when If-None-Match is
    # present (we returned above) or the date is not a valid HTTP-date (13.1.3).
    if safe and last_modified is not None:
        since = headers.get("if-modified-since")
        if since is not None:
            date = parse_http_date(since)
            if date is not None and last_modified <= date:
                return NOT_MODIFIED
    return PROCEED


def if_range_holds(value: str, etag: str | None, last_modified: int | None) -> bool:
    """Evaluate If-Range (RFC 9110 section 13.1.5): whether the Range may be honoured.

    An entity-tag must match the selected representation's tag by strong comparison;
    a date must equal its Last-Modified exactly. Anything else (a weak tag, garbage,
    a date when we have no Last-Modified) fails, which means "send the whole thing".
    """
    value = value.strip()
    if value.startswith(('"', 'W/"')):
        if etag is None or value.startswith("W/") or etag.startswith("W/"):
            return False
        return value == etag
    if last_modified is None:
        return False
    return parse_http_date(value) == last_modified


def not_modified_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The subset of a 200's headers that a 304 carries (RFC 9110 section 15.4.5)."""
    return [(name, value) for name, value in headers if name.lower() in NOT_MODIFIED_FIELDS]
