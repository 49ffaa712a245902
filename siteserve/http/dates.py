"""The HTTP-date a server sends: IMF-fixdate (RFC 9110 section 5.6.7).

Written from ``time.gmtime`` with English names, as the RFC fixes them (not the
locale's), so answering a request needs neither ``email.utils`` nor the modules
it brings (``email``, ``calendar``, ``datetime``, ``socket``...).
"""

from __future__ import annotations

import time

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def http_date(seconds: float) -> str:
    """``seconds`` since the epoch as ``Sun, 06 Nov 1994 08:49:37 GMT`` (fraction dropped)."""
    t = time.gmtime(seconds)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )
