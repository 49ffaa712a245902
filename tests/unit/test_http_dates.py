"""The Date and Last-Modified values: IMF-fixdate, as email.utils writes it for HTTP."""

from __future__ import annotations

from email.utils import formatdate

import pytest

from siteserve.http.dates import http_date


def test_the_rfc_example() -> None:
    # RFC 9110 section 5.6.7's own example.
    assert http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    "seconds",
    [0, 1, 59.999, 951782400, 951868799.5, 1709164800, 2147483647, 4102444800, 253402300799],
)
def test_the_same_text_as_email_utils(seconds: float) -> None:
    # Epoch, a fraction dropped, leap days (2000-02-29, 2024-02-29), 2038, 2100, year 9999.
    assert http_date(seconds) == formatdate(seconds, usegmt=True)


def test_every_day_and_month_name_matches() -> None:
    day = 86400
    for n in range(0, 800):
        assert http_date(n * day + 3723) == formatdate(n * day + 3723, usegmt=True)
