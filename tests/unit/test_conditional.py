"""Preconditions and validators (RFC 9110 sections 8.8, 13 and 15.4.5), without sockets."""

from __future__ import annotations

import calendar

import pytest

from siteserve.http.headers import Headers
from siteserve.site.conditional import (
    Decision,
    evaluate,
    if_range_holds,
    not_modified_headers,
    parse_etag_list,
    parse_http_date,
)

ETAG = '"abc123"'
# Sun, 06 Nov 1994 08:49:37 GMT
MODIFIED = calendar.timegm((1994, 11, 6, 8, 49, 37, 0, 0, 0))
DATE = "Sun, 06 Nov 1994 08:49:37 GMT"
EARLIER = "Sun, 06 Nov 1994 08:49:36 GMT"
LATER = "Sun, 06 Nov 1994 08:49:38 GMT"


def decide(method: str = "GET", alternates: tuple[str, ...] = (), **fields: str) -> Decision:
    headers = Headers([(name.replace("_", "-"), value) for name, value in fields.items()])
    return evaluate(method, headers, ETAG, MODIFIED, alternates)


# -- HTTP-date ------------------------------------------------------------------------


def test_rfc9110_5_6_7_all_three_date_forms_parse_to_the_same_instant() -> None:
    assert parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == MODIFIED
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == MODIFIED
    assert parse_http_date("Sun Nov  6 08:49:37 1994") == MODIFIED


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "Sun, 06 Nov 1994 08:49:37",  # no GMT
        "Sun, 06 Nov 1994 08:49:37 UTC",
        "Sun, 31 Feb 1994 08:49:37 GMT",  # no such day
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "Sun, 06 Foo 1994 08:49:37 GMT",
        "1994-11-06T08:49:37Z",
        "Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT",  # two members
        "-1",
    ],
)
def test_rfc9110_5_6_7_invalid_dates_parse_to_none(value: str) -> None:
    assert parse_http_date(value) is None


def test_rfc9110_5_6_7_rfc850_two_digit_years_fall_in_the_past_century_when_far_ahead() -> None:
    assert parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == MODIFIED
    in_2030 = parse_http_date("Wednesday, 06-Nov-30 08:49:37 GMT")
    assert in_2030 == calendar.timegm((2030, 11, 6, 8, 49, 37, 0, 0, 0))


# -- entity-tags ----------------------------------------------------------------------


def test_rfc9110_8_8_3_etag_lists_keep_commas_inside_tags_and_skip_junk() -> None:
    assert parse_etag_list('"a,b", W/"c" ,, "d"') == [(False, "a,b"), (True, "c"), (False, "d")]
    assert parse_etag_list('bogus, "x"') == [(False, "x")]
    assert parse_etag_list(" * ") is None
    assert parse_etag_list("") == []


# -- step 1: If-Match -----------------------------------------------------------------


def test_rfc9110_13_1_1_if_match_strong_comparison() -> None:
    assert decide(if_match=ETAG) == Decision()
    assert decide(if_match=f'"other", {ETAG}') == Decision()
    assert decide(if_match='"other"').status == 412
    # A weak tag never matches strongly, even with the same opaque value.
    assert decide(if_match=f"W/{ETAG}").status == 412


def test_rfc9110_13_1_1_if_match_star_holds_for_an_existing_file() -> None:
    assert decide(if_match="*") == Decision()


def test_rfc9110_13_1_1_if_match_accepts_the_tag_of_another_encoding() -> None:
    assert decide(if_match='"abc123-br"', alternates=('"abc123-br"',)) == Decision()


# -- step 2: If-Unmodified-Since ------------------------------------------------------


def test_rfc9110_13_1_4_if_unmodified_since() -> None:
    assert decide(if_unmodified_since=DATE) == Decision()
    assert decide(if_unmodified_since=LATER) == Decision()
    assert decide(if_unmodified_since=EARLIER).status == 412


def test_rfc9110_13_1_4_if_unmodified_since_garbage_is_ignored() -> None:
    assert decide(if_unmodified_since="not a date") == Decision()


def test_rfc9110_13_2_2_if_unmodified_since_ignored_when_if_match_present() -> None:
    assert decide(if_match=ETAG, if_unmodified_since=EARLIER) == Decision()


def test_rfc9110_13_2_2_if_match_failure_wins_over_if_none_match() -> None:
    assert decide(if_match='"other"', if_none_match=ETAG).status == 412


# -- step 3: If-None-Match ------------------------------------------------------------


def test_rfc9110_13_1_2_if_none_match_weak_comparison() -> None:
    assert decide(if_none_match=ETAG).status == 304
    assert decide(if_none_match=f"W/{ETAG}").status == 304
    assert decide(if_none_match=f'"x", "y", {ETAG}').status == 304
    assert decide(if_none_match='"x", "y"') == Decision()


def test_rfc9110_13_1_2_if_none_match_star() -> None:
    assert decide(if_none_match="*").status == 304
    assert decide("PUT", if_none_match="*").status == 412


def test_rfc9110_13_1_2_if_none_match_unsafe_method_gets_412() -> None:
    assert decide("POST", if_none_match=ETAG).status == 412
    assert decide("HEAD", if_none_match=ETAG).status == 304


def test_rfc9110_13_1_2_if_none_match_names_the_matched_encoding_tag() -> None:
    # The client holds the gzip variant; we would now choose br: the stored gzip
    # response is still valid, and the 304 says which one.
    decision = decide(if_none_match='"abc123-gz"', alternates=('"abc123-gz"', '"abc123-br"'))
    assert decision == Decision(304, '"abc123-gz"')
    # Matching the selected tag itself needs no override.
    assert decide(if_none_match=ETAG, alternates=('"abc123-gz"',)) == Decision(304)


def test_rfc9110_13_1_2_if_none_match_malformed_is_no_match() -> None:
    assert decide(if_none_match="abc123") == Decision()


# -- step 4: If-Modified-Since --------------------------------------------------------


def test_rfc9110_13_1_3_if_modified_since() -> None:
    assert decide(if_modified_since=DATE).status == 304
    assert decide(if_modified_since=LATER).status == 304
    assert decide(if_modified_since=EARLIER) == Decision()


def test_rfc9110_13_1_3_if_modified_since_garbage_date_is_ignored() -> None:
    assert decide(if_modified_since="garbage") == Decision()
    assert decide(if_modified_since="Sun, 06 Nov 1994 08:49:37 GMT, x") == Decision()


def test_rfc9110_13_1_3_if_modified_since_only_for_get_and_head() -> None:
    assert decide("HEAD", if_modified_since=DATE).status == 304
    assert decide("POST", if_modified_since=DATE) == Decision()


def test_rfc9110_13_2_2_if_none_match_before_if_modified_since() -> None:
    # A changed tag means a changed file, whatever the date says.
    assert decide(if_none_match='"old"', if_modified_since=LATER) == Decision()
    # And a matching tag gives 304 even with an old date.
    assert decide(if_none_match=ETAG, if_modified_since=EARLIER).status == 304


def test_rfc9110_13_2_2_no_modification_date_means_date_conditions_are_ignored() -> None:
    headers = Headers([("if-modified-since", DATE), ("if-unmodified-since", EARLIER)])
    assert evaluate("GET", headers, ETAG, None) == Decision()


def test_rfc9110_13_1_3_dates_compare_at_one_second_granularity() -> None:
    # The caller passes whole seconds; a file touched 0.7 s after the second it
    # reported is the same second, not newer.
    headers = Headers([("if-modified-since", DATE)])
    assert evaluate("GET", headers, ETAG, int(MODIFIED + 0.7)).status == 304


# -- If-Range -------------------------------------------------------------------------


def test_rfc9110_13_1_5_if_range_with_a_strong_etag() -> None:
    assert if_range_holds(ETAG, ETAG, MODIFIED)
    assert not if_range_holds('"other"', ETAG, MODIFIED)
    assert not if_range_holds(f"W/{ETAG}", ETAG, MODIFIED)
    assert not if_range_holds('W/"x"', 'W/"x"', MODIFIED)


def test_rfc9110_13_1_5_if_range_with_a_date_needs_an_exact_match() -> None:
    assert if_range_holds(DATE, ETAG, MODIFIED)
    assert not if_range_holds(LATER, ETAG, MODIFIED)
    assert not if_range_holds(EARLIER, ETAG, MODIFIED)
    assert not if_range_holds("garbage", ETAG, MODIFIED)
    assert not if_range_holds(DATE, ETAG, None)


# -- 304 headers ----------------------------------------------------------------------


def test_rfc9110_15_4_5_not_modified_keeps_only_cache_relevant_fields() -> None:
    headers = [
        ("Content-Type", "text/css; charset=utf-8"),
        ("ETag", ETAG),
        ("Last-Modified", DATE),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept-Encoding"),
        ("Accept-Ranges", "bytes"),
        ("Content-Encoding", "br"),
        ("X-Content-Type-Options", "nosniff"),
        ("Expires", DATE),
        ("Content-Location", "/a.css"),
    ]
    assert not_modified_headers(headers) == [
        ("ETag", ETAG),
        ("Last-Modified", DATE),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept-Encoding"),
        ("Expires", DATE),
        ("Content-Location", "/a.css"),
    ]
