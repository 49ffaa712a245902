"""``--cors``: let pages on other origins read what we serve (Fetch standard, CORS protocol).

Any origin may read (``Access-Control-Allow-Origin: *``), without credentials:
a wildcard never lets a browser attach cookies or cached passwords, so turning
CORS on does not let other sites read a password-protected share with the
visitor's login. A script that knows the password can still send it itself in
an ``Authorization`` header, which the preflight allows by name (a wildcard in
``Access-Control-Allow-Headers`` does not cover ``Authorization``).

This wrapper sits outside the password check: browsers send preflights
without credentials, always, so a preflight answered 401 would break every
cross-origin request. A preflight reveals nothing but these headers; the
methods it lists are the ones its target takes (``App.allowed_methods``: GET, HEAD and
OPTIONS for a file, a missing one included; a page's methods; POST for a
folder taking uploads), so a script is not told to try a PUT that gets 405.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable
from dataclasses import replace

from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer

#: Headers a cross-origin script may read beyond the CORS-safelisted ones.
EXPOSED = "Content-Length, Content-Range, Content-Disposition, ETag, Last-Modified, Accept-Ranges"
#: How long a browser may reuse a preflight answer, in seconds.
MAX_AGE = "600"
_TOKEN_LIST = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*,\s*[!#$%&'*+.^_`|~0-9A-Za-z-]+)*")


def is_preflight(request: Request) -> bool:
    headers = request.headers
    return (
        request.method == "OPTIONS"
        and "origin" in headers
        and "access-control-request-method" in headers
    )


#: What a preflight is told when nothing says what its target takes.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class CorsApp(Layer[App]):
    """Answers preflights itself and adds the CORS headers to what ``inner`` answers."""

    def __init__(self, inner: App, *, methods: tuple[str, ...] = METHODS) -> None:
        super().__init__(inner)
        self.methods = ", ".join(methods)

    def reusable_answers(self) -> bool:
        # The headers it adds depend on the request's headers only.
        return self.inner.reusable_answers()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if is_preflight(request):
            return self._preflight(request)
        result = self.inner.handle(request)
        if "origin" not in request.headers:
            return result  # not a CORS request: nothing to add
        if inspect.isawaitable(result):
            return self._later(result)
        return _with_headers(result)

    async def _later(self, pending: Awaitable[Response]) -> Response:
        return _with_headers(await pending)

    def _preflight(self, request: Request) -> Response:
        headers = [
            ("Access-Control-Allow-Origin", "*"),
            ("Access-Control-Allow-Methods", self._methods(request.path)),
            ("Access-Control-Max-Age", MAX_AGE),
            ("Cache-Control", "no-cache"),
        ]
        asked = (request.headers.get("access-control-request-headers") or "").strip()
        if asked and _TOKEN_LIST.fullmatch(asked):
            headers.append(("Access-Control-Allow-Headers", asked))
        if request.headers.get("access-control-request-private-network") == "true":
            # Chrome's Private Network Access: a public page asking for a LAN server.
            headers.append(("Access-Control-Allow-Private-Network", "true"))
        return Response(204, headers)

    def _methods(self, path: str) -> str:
        """What the target takes, as the app inside says (a file: GET, HEAD, OPTIONS)."""
        allowed = self.inner.allowed_methods(path)
        return self.methods if allowed is None else ", ".join(allowed)


def _with_headers(response: Response) -> Response:
    # A new header list: responses (and their lists) may be cached and shared by the Site.
    headers = [*response.headers, *_ADDED]
    return replace(response, headers=headers)


_ADDED = (("Access-Control-Allow-Origin", "*"), ("Access-Control-Expose-Headers", EXPOSED))
