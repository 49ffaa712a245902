"""The sharing layer just around the Site: health, downloads, folder zips, uploads.

It answers only what it recognises (the health path, a ``download`` query on
a file or folder, a POST to a listed folder when uploads are on) and passes
everything else to the Site untouched, so the static fast path costs two
string comparisons more. Live reload wraps this layer, the password check and
CORS wrap that (see ``assemble.build_app``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from siteserve.config import Config
from siteserve.http.parser import RequestHead
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.share.archive import content_disposition, zip_response
from siteserve.share.health import HEALTH_PATH, health_response
from siteserve.share.uploads import UPLOAD_SLACK, Uploads
from siteserve.site.app import Site
from siteserve.site.errors import builtin_error
from siteserve.site.resolver import split_path

UPLOAD_METHODS = "GET, HEAD, OPTIONS, POST"


class ShareApp:
    def __init__(self, site: Site, config: Config) -> None:
        self.site = site
        self.config = config
        self.root = site.root
        self.uploads = (
            Uploads(config, site.root, site.resolver.is_page_file) if config.upload else None
        )

    # -- App protocol ------------------------------------------------------------------

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
        return self.site.handle(request)

    def body_limit(self, head: RequestHead) -> int | None:
        """Uploads to a listed folder may be as large as --max-upload; the rest keep max_body."""
        if self.uploads is None or head.method != "POST":
            return None
        if self._listed_folder(head.path) is None:
            return None
        return self.config.max_upload + UPLOAD_SLACK

    async def startup(self) -> None:
        await self.site.startup()

    async def shutdown(self) -> None:
        await self.site.shutdown()

    def invalidate(self, paths: Iterable[Path]) -> None:
        self.site.invalidate(paths)

    def __getattr__(self, name: str) -> Any:
        # Anything else (page_handler, resolver, ...) is the Site's: this layer adds, never hides.
        return getattr(self.site, name)

    # -- downloads ---------------------------------------------------------------------

    def _listed_folder(self, path: str) -> Path | None:
        resolved = self.site.resolver.resolve(path)
        return resolved.path if resolved.kind == "directory" else None

    def _download(self, request: Request) -> Response | Awaitable[Response] | None:
        try:
            params = dict(parse_qsl(request.query, keep_blank_values=True, max_num_fields=20))
        except ValueError:
            return None
        wanted = params.get("download")
        if wanted is None:
            return None
        if request.path.endswith("/"):
            folder = self._folder(request.path)
            if folder is None:
                return None  # the Site answers (404)
            if wanted not in ("", "zip"):
                return builtin_error(400, message="Only ?download=zip is offered for folders.")
            return zip_response(
                folder,
                root=self.root,
                follow_symlinks=self.config.follow_symlinks,
                is_page=self.site.resolver.is_page_file,
            )
        resolved = self.site.resolver.resolve(request.path)
        if resolved.kind not in ("file", "page") or resolved.path is None:
            return None
        name = resolved.served_as or resolved.path.name
        result = self.site.handle(request)
        if inspect.isawaitable(result):
            return _attach_later(result, name)
        return _attach(result, name)

    def _folder(self, path: str) -> Path | None:
        """The folder a ``/a/b/`` URL names, when the site serves it (listing or index page)."""
        split = split_path(path)
        if split is None:
            return None
        folder = self.root.joinpath(*split[0])
        resolved = self.site.resolver.resolve(path)
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
    headers = [(k, v) for k, v in response.headers if k.lower() != "content-disposition"]
    headers.append(("Content-Disposition", content_disposition(name)))
    return replace(response, headers=headers)


async def _attach_later(pending: Awaitable[Response], name: str) -> Response:
    return _attach(await pending, name)
