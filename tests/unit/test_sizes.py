"""Byte counts for people (siteserve.sizes): the request log's decimal units, the binary
units of the listing, the upload limit and the banner."""

from __future__ import annotations

import pytest

from siteserve.sizes import human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1234, "1.2 kB"),
        (999_949, "999.9 kB"),
        (999_999, "1.0 MB"),
        (10_500_000, "10.5 MB"),
        (3 * 10**9, "3.0 GB"),
        (5 * 10**15, "5000.0 TB"),
    ],
)
def test_decimal_units_as_in_the_request_log(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10 * 1024, "10 KiB"),
        (5 * 1024 * 1024, "5.0 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2000 * 1024**4, "2000 TiB"),
    ],
)
def test_binary_units_as_in_a_listing(size: int, text: str) -> None:
    assert human_size(size, binary=True) == text
