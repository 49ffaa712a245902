"""Byte counts for people (siteserve.sizes): one unit system, binary, for the request log,
the listing, the upload limit and the banner."""

from __future__ import annotations

import pytest

from siteserve.sizes import human_size


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1234, "1.2 KiB"),
        (1536, "1.5 KiB"),
        (10 * 1024, "10 KiB"),
        (1024**2 - 1, "1.0 MiB"),  # never "1024 KiB"
        (5 * 1024 * 1024, "5.0 MiB"),
        (10_500_000, "10 MiB"),
        (3 * 1024**3, "3.0 GiB"),
        (2000 * 1024**4, "2000 TiB"),
    ],
)
def test_binary_units_everywhere(size: int, text: str) -> None:
    assert human_size(size) == text
