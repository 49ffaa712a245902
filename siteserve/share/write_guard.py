"""Writes come from this server's own pages: a cross-origin POST, PUT, PATCH or DELETE is 403.

Any web page can submit a form or ``fetch`` a POST to 127.0.0.1 or to a LAN
address (cross-site request forgery): the browser sends it, with the login it
has cached for ``--auth``, and only the *answer* is kept from the page. So
every request with an unsafe method (RFC 9110 section 9.2.1: all but GET,
HEAD, OPTIONS and TRACE) is refused when it comes from a page of another
origin (``siteserve.origins`` says how that is told). That covers uploads and
new folders under ``--upload`` and a page's own form handling.

``--cors`` opens reading, not writing: this layer sits outside the CORS one,
so a refused write gets no CORS headers and the other page cannot even read
the refusal. A site whose pages are an API for other origins names those
paths in ``cross_origin_writes`` (globs, ``["/api/*"]``); a listed folder is
never opened that way, so uploads and new folders always come from our pages.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase

from siteserve.hosts import AllowedHosts
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.http.writer import text_response
from siteserve.layers import App, Layer
from siteserve.origins import foreign_page

#: RFC 9110 section 9.2.1: methods that ask for nothing to change.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class WriteGuard(Layer[App]):
    """Refuses unsafe methods from pages of other origins, outside ``open_paths``."""

    def __init__(
        self,
        inner: App,
        hosts: AllowedHosts,
        *,
        open_paths: tuple[str, ...] = (),
        is_upload_folder: Callable[[str], bool] = lambda path: False,
    ) -> None:
        """``open_paths``: globs of paths whose pages take writes from anywhere.
        ``is_upload_folder``: whether a path is a folder that takes uploads (never open)."""
        super().__init__(inner)
        self.hosts = hosts
        self.open_paths = open_paths
        self.is_upload_folder = is_upload_folder

    def reusable_answers(self) -> bool:
        # What it decides depends on the request's method and headers only.
        return self.inner.reusable_answers()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.method in SAFE_METHODS:
            return self.inner.handle(request)
        foreign = foreign_page(request, self.hosts)
        if foreign is None or self._open(request.path):
            return self.inner.handle(request)
        message = (
            f"a page of another origin may not change anything here ({foreign})."
            " A site whose pages take writes from other sites lists their paths in"
            " cross_origin_writes in the [server] table of siteserve.toml."
        )
        # A body still on its way (an upload) is not read only to be dropped.
        return text_response(403, message, close=not request.body.complete)

    def _open(self, path: str) -> bool:
        if not any(fnmatchcase(path, glob) for glob in self.open_paths):
            return False
        return not self.is_upload_folder(path)
