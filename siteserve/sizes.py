"""Byte counts for people: one rule for the request log, the listing and the banner."""

from __future__ import annotations


def human_size(size: int, *, binary: bool = False) -> str:
    """``532 B``, ``1.2 kB``, ``10.5 MB``; with ``binary``, ``1.5 KiB``, ``12 MiB``.

    Decimal units keep one decimal; binary ones drop it from 10 up, as file managers do.
    """
    step, units = (
        (1024, ("KiB", "MiB", "GiB", "TiB")) if binary else (1000, ("kB", "MB", "GB", "TB"))
    )
    if size < step:
        return f"{size} B"
    value = float(size)
    for unit in units:
        value /= step
        if binary and (value < 1024 or unit == "TiB"):
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        if not binary and (value < 999.95 or unit == "TB"):
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover
