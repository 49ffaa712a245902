"""Error responses: the site's own ``404.html`` when it has one, else our plain page.

Every error body is HTML with ``charset=utf-8``, ``nosniff`` and ``no-cache``:
an error is about this moment (the file may exist a second later) and must
not be remembered by a browser or a proxy.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Iterable
from http import HTTPStatus
from pathlib import Path

from siteserve import bounds
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.site import assets

#: Looks for a site-made page for a status (``404.html.jinja`` rendered by the
#: pages module, say), for the request that failed; None when the site has none.
CustomPageLookup = Callable[[Request, int], Response | Awaitable[Response] | None]

ERROR_HEADERS = (
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-cache"),
    ("X-Content-Type-Options", "nosniff"),
)

#: A site's 404 page larger than this is not read into memory for every miss.
CUSTOM_PAGE_LIMIT = 1024 * 1024

_MESSAGES = {
    400: "The request could not be understood.",
    403: "This file cannot be read.",
    404: "Nothing is served at this address.",
    405: "This address does not accept that method.",
    500: "Something went wrong on the server; the terminal says what.",
}


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def builtin_error(
    status: int, *, message: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Our own error page for ``status``; ``message`` is shown escaped."""
    text = message if message is not None else _MESSAGES.get(status, "")
    return Response(status, [*ERROR_HEADERS, *headers], _error_page(status, text))


@functools.lru_cache(maxsize=bounds.ERROR_PAGES)
def _error_page(status: int, message: str) -> bytes:
    # The same few pages again and again (a crawler's 404s): rendered once each.
    return assets.render("error.html", status=status, reason=reason(status), message=message)


def site_not_found_page(root: Path, *, follow_symlinks: bool) -> bytes | None:
    """The bytes of the site's ``404.html``, if it has a readable one."""
    path = root / "404.html"
    try:
        if not os.path.isfile(path):  # also keeps a fifo from blocking the open
            return None
        if not follow_symlinks:
            real = os.path.realpath(path)
            if not real.startswith(os.path.realpath(root).rstrip(os.sep) + os.sep):
                return None
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > CUSTOM_PAGE_LIMIT:
                return None
            return handle.read()
    except OSError:
        return None


def error_response(
    status: int,
    *,
    message: str | None = None,
    root: Path | None = None,
    follow_symlinks: bool = False,
    headers: Iterable[tuple[str, str]] = (),
    request: Request | None = None,
    custom_page_lookup: CustomPageLookup | None = None,
) -> Response | Awaitable[Response]:
    """The response for an error: a site page when one fits, else ``builtin_error``.

    The lookup order is the custom hook (templated pages, given the request),
    then for 404 a plain ``404.html`` at the site root, served with status 404.
    An error with extra ``headers`` (``Allow`` on a 405) skips the hook.
    """
    headers = tuple(headers)
    # Only bare errors go to the hook: a 405's Allow must not get lost on a site page.
    if custom_page_lookup is not None and request is not None and not headers:
        custom = custom_page_lookup(request, status)
        if custom is not None:
            return custom
    if status == 404 and root is not None:
        page = site_not_found_page(root, follow_symlinks=follow_symlinks)
        if page is not None:
            return Response(404, [*ERROR_HEADERS, *headers], page)
    return builtin_error(status, message=message, headers=headers)
