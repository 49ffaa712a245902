"""The answer when the backend cannot be reached or is too slow: a 502 or 504 page.

The page names the backend and the error, and asks again every second until
the backend answers, then reloads itself (with live reload on it also gets the
reload script, like any page made for one request). The terminal gets one line
when a backend stops answering and one when it is back, not one per request.
"""

from __future__ import annotations

import logging

from siteserve.http.response import Response
from siteserve.site import assets
from siteserve.site.errors import ERROR_HEADERS, reason

log = logging.getLogger("siteserve.proxy")


def error_page(status: int, backend: str, problem: str, error: str) -> Response:
    """502 Bad Gateway (refused, reset, not HTTP: RFC 9110 section 15.6.3) or
    504 Gateway Timeout (section 15.6.5)."""
    body = assets.render(
        "proxy_error.html",
        status=status,
        reason=reason(status),
        backend=backend,
        problem=problem,
        error=error,
    )
    # no-store: the next try must reach the backend, never a stored error page.
    headers = [
        (name, "no-store" if name == "Cache-Control" else value) for name, value in ERROR_HEADERS
    ]
    return Response(status, headers, body)


class BackendHealth:
    """Whether each backend answered last time, so that a failure is told once."""

    __slots__ = ("_down",)

    def __init__(self) -> None:
        self._down: set[str] = set()

    def failed(self, backend: str, method: str, target: str, error: str) -> None:
        if backend not in self._down:
            self._down.add(backend)
            log.warning("proxy: %s %s -> %s failed: %s", method, target, backend, error)

    def answered(self, backend: str) -> None:
        if backend in self._down:
            self._down.discard(backend)
            log.warning("proxy: %s answers again", backend)
