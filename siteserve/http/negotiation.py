"""Weighted lists in request fields: ``Accept``, ``Accept-Encoding`` (RFC 9110 section 12.4.2)."""

from __future__ import annotations

from collections.abc import Iterator


def weighted(field: str) -> Iterator[tuple[str, float]]:
    """Each ``(name, q)`` of a field such as ``gzip;q=0.8, br``, names lower-cased.

    A missing q is 1; an item whose q does not parse or lies outside 0..1 is not a
    valid qvalue (section 12.4.2) and is skipped, as are empty items.
    """
    for item in field.split(","):
        name, *params = item.split(";")
        name = name.strip().lower()
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = -1.0
        if 0.0 <= q <= 1.0:
            yield name, q
