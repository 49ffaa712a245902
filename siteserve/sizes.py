"""Byte counts for people: one rule, in binary units, for the request log, the listing and
the banner.

Binary (``KiB``, ``MiB``) because that is what sizes the user types mean: ``--max-upload 1G``
is 1024**3 bytes (``config.parse_size``), and file managers and ``ls -lh`` count the same way.
"""

from __future__ import annotations

_UNITS = ("KiB", "MiB", "GiB", "TiB")


def human_size(size: int) -> str:
    """``532 B``, ``1.5 KiB``, ``12 MiB``: one decimal below 10, none from 10 up."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _UNITS:
        value /= 1024
        # 1023.6 KiB would print as "1024 KiB": that is 1.0 MiB.
        if value < 1023.5 or unit == _UNITS[-1]:
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
