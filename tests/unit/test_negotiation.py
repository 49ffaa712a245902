"""Weighted field lists, the one parser behind Accept and Accept-Encoding choices."""

from __future__ import annotations

from siteserve.http.negotiation import weighted


def test_names_lower_cased_q_defaults_to_one_rfc9110_12_4_2() -> None:
    assert list(weighted("GZIP, br;q=0.5 , Text/HTML; level=1; q=0")) == [
        ("gzip", 1.0),
        ("br", 0.5),
        ("text/html", 0.0),
    ]


def test_invalid_qvalues_and_empty_items_are_skipped() -> None:
    assert list(weighted("a;q=2, b;q=x, , c;q=-1, d")) == [("d", 1.0)]
