"""The sharing layer just around the Site: health, downloads, folder zips, uploads.

It answers only what it recognises (the health path, a ``download`` query on
a file or folder, a POST to a listed folder when uploads are on) and passes
everything else to the Site untouched, so the static fast path costs two
string comparisons more. Live reload wraps this layer, the password check and
CORS wrap that (see ``assemble.build_app``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from siteserve.config import Config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import Layer
from siteserve.share.download_query import download_wanted
from siteserve.share.health import HEALTH_PATH, health_response
from siteserve.site.app import Site
from siteserve.site.errors import builtin_error
from siteserve.site.resolver import split_path

if TYPE_CHECKING:
    from siteserve.share.uploads import Uploads

UPLOAD_METHOD_LIST = ("GET", "HEAD", "OPTIONS", "POST")
UPLOAD_METHODS = ", ".join(UPLOAD_METHOD_LIST)


class ShareApp(Layer[Site]):
    """The layer right around the Site (``inner``), which it asks for routes and pages."""

    def __init__(self, site: Site, config: Config) -> None:
        super().__init__(site)
        self.config = config
        self.root = site.root
        self.uploads: Uploads | None = None
        #: The body bound of a POST to a listed folder (set with uploads on).
        self._upload_limit = 0
        if config.upload:
            # Multipart parsing and the upload writer load only for --upload.
            from siteserve.share.uploads import UPLOAD_SLACK, Uploads

            self.uploads = Uploads(config, site.root, site.resolver.is_page_file)
            self._upload_limit = config.max_upload + UPLOAD_SLACK

    # -- App protocol: handle and body_limit (the rest is the Site's) ------------------

    def reusable_answers(self) -> bool:
        # Its own answers (health, downloads, uploads) never say ``still_valid``.
        return self.inner.reusable_answers()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.path == HEALTH_PATH:
            return health_response(request)
        method = request.method
        if self.uploads is not None and method in ("POST", "OPTIONS"):
            folder = self._listed_folder(request.path)
            if folder is not None:
                if method == "OPTIONS":
                    return Response(204, [("Allow", UPLOAD_METHODS), ("Cache-Control", "no-cache")])
                return self.uploads.handle(request, folder)
        elif "download" in request.query and method in ("GET", "HEAD"):
            answer = self._download(request)
            if answer is not None:
                return answer
        return self.inner.handle(request)

    def body_limit(self, request: Request) -> int | None:
        """Uploads to a listed folder may be as large as --max-upload; the rest is the Site's."""
        uploading = self.uploads is not None and request.method == "POST"
        if uploading and self._listed_folder(request.path) is not None:
            return self._upload_limit
        return self.inner.body_limit(request)

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        """What ``path`` takes: a folder that takes uploads adds POST to the Site's answer."""
        if self.uploads is not None and self._listed_folder(path) is not None:
            return UPLOAD_METHOD_LIST
        return self.inner.allowed_methods(path)

    # -- downloads ---------------------------------------------------------------------

    def _listed_folder(self, path: str) -> Path | None:
        resolved = self.inner.resolver.resolve(path)
        return resolved.path if resolved.kind == "directory" else None

    def _download(self, request: Request) -> Response | Awaitable[Response] | None:
        wanted = download_wanted(request.query)
        if wanted is None:
            return None
        if request.path.endswith("/"):
            folder = self._folder(request.path)
            if folder is None:
                return None  # the Site answers (404)
            if wanted not in ("", "zip"):
                return builtin_error(400, message="Only ?download=zip is offered for folders.")
            from siteserve.share.archive import zip_response  # a folder's first zip

            return zip_response(
                folder,
                root=self.root,
                follow_symlinks=self.config.follow_symlinks,
                is_page=self.inner.resolver.is_page_file,
            )
        resolved = self.inner.resolver.resolve(request.path)
        if resolved.kind not in ("file", "page") or resolved.path is None:
            return None
        name = resolved.served_as or resolved.path.name
        result = self.inner.handle(request)
        if inspect.isawaitable(result):
            return _attach_later(result, name)
        return _attach(result, name)

    def _folder(self, path: str) -> Path | None:
        """The folder a ``/a/b/`` URL names, when the site serves it (listing or index page)."""
        split = split_path(path)
        if split is None:
            return None
        folder = self.root.joinpath(*split[0])
        resolved = self.inner.resolver.resolve(path)
        if resolved.kind == "directory":
            return resolved.path
        # A folder with an index page: the zip is of the folder itself.
        index = resolved.kind in ("file", "page") and resolved.path is not None
        if index and resolved.path is not None and resolved.path.parent == folder:
            return folder
        return None


def _attach(response: Response, name: str) -> Response:
    if response.status not in (200, 206):
        return response
    from siteserve.share.archive import content_disposition  # the first download

    headers = [(k, v) for k, v in response.headers if k.lower() != "content-disposition"]
    headers.append(("Content-Disposition", content_disposition(name)))
    return replace(response, headers=headers)


async def _attach_later(pending: Awaitable[Response], name: str) -> Response:
    return _attach(await pending, name)
