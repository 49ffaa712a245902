"""The Site: request in, response out, for a folder on disk.

A static file is answered synchronously (no coroutine, no thread hop): the
resolver's answer is cached per raw path, the file's headers per file version,
and the request costs one ``os.stat``. Pages (templates) are answered by an
awaitable from the page handler.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from siteserve.config import Config
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.site.errors import CustomPageLookup, builtin_error, error_response
from siteserve.site.listing import render_listing
from siteserve.site.resolver import Resolved, Resolver
from siteserve.site.static import NotAFile, StaticFiles
from siteserve.site.transfer import Transfer

log = logging.getLogger("siteserve.site")

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# A page branches on request.method, so it takes the methods a form or a fetch() sends;
# TRACE and CONNECT stay refused (RFC 9110 sections 9.3.6 and 9.3.8).
PAGE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


RenderNow = Callable[[Request, Resolved], Response | Awaitable[Response] | None]


class PageHandler(Protocol):
    """What renders templates; ``siteserve.site.pages.Pages(config)`` provides it."""

    def render(self, request: Request, resolved: Resolved) -> Awaitable[Response]: ...


def load_page_handler(config: Config) -> PageHandler | None:
    """The pages module's handler, or None when it is not there.

    The seam for the pages module: ``siteserve/site/pages.py`` defines
    ``class Pages`` built as ``Pages(config)`` with ``async render(request,
    resolved)``. Used when present: ``invalidate(paths)``, ``close()`` (at
    shutdown), ``error_template(status)`` with ``async render_error_page(request,
    status)`` (templated error pages such as ``404.html.jinja``), and an
    ``error_responder`` attribute the Site fills so ``abort()`` answers what any
    other error would.
    """
    try:
        module = importlib.import_module("siteserve.site.pages")
    except ModuleNotFoundError as error:
        if error.name != "siteserve.site.pages":
            raise
        return None
    handler: PageHandler = module.Pages(config)
    return handler


class Site:
    def __init__(self, config: Config, *, page_handler: PageHandler | None = None) -> None:
        self.config = config
        self.resolver = Resolver(
            config.root, follow_symlinks=config.follow_symlinks, render_globs=config.render
        )
        #: The root with every symlink resolved, as the resolver's paths are.
        self.root: Path = self.resolver.root
        self.static = StaticFiles(config)
        #: Conditional requests, ranges and codings for static files (RFC 9110 13, 14).
        self.transfer = Transfer(config, self.static)
        self.transfer.install()
        #: Renders kind "page"; None answers 500 "pages not available".
        self.page_handler = page_handler if page_handler is not None else load_page_handler(config)
        #: The handler's synchronous fast path, when it has one (Pages.render_now).
        self._render_now: RenderNow | None = getattr(self.page_handler, "render_now", None)
        #: Finds a site-made error page (a ``404.html.jinja``) before ``404.html``.
        self.custom_page_lookup: CustomPageLookup | None = None
        self._connect_pages()

    # -- App protocol ------------------------------------------------------------------

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        try:
            resolved = self.resolver.resolve(request.path)
            # The fast path: a static file read with GET or HEAD.
            if resolved.kind == "file" and request.method in ("GET", "HEAD"):
                assert resolved.path is not None
                try:
                    return self.static.respond(request, resolved.path, resolved.served_as)
                except NotAFile:
                    # Deleted or replaced since it was resolved: look again, once.
                    self.resolver.invalidate()
                    resolved = self.resolver.resolve(request.path)
            return self._dispatch(request, resolved)
        except NotAFile:
            return self.error(request, 404)  # gone again between two looks
        except PermissionError:
            return self.error(request, 403)
        except Exception:
            log.exception("error while answering %s %s", request.method, request.target)
            return builtin_error(500)

    async def startup(self) -> None:
        for message in self.resolver.route_conflicts():
            log.warning("route conflict: %s", message)
        start = getattr(self.page_handler, "startup", None)
        if start is not None:
            await start()

    async def shutdown(self) -> None:
        close = getattr(self.page_handler, "close", None)
        if close is not None:
            close()

    # -- pages ---------------------------------------------------------------------

    def _connect_pages(self) -> None:
        handler: Any = self.page_handler
        if handler is None:
            return
        if hasattr(handler, "error_template") and hasattr(handler, "render_error_page"):
            self.custom_page_lookup = self._templated_error_page
        if hasattr(handler, "error_responder"):
            handler.error_responder = self.error_awaitable

    def _templated_error_page(self, request: Request, status: int) -> Awaitable[Response] | None:
        handler: Any = self.page_handler
        if handler.error_template(status) is None:
            return None  # the common case stays synchronous
        return self._render_templated_error(request, status)

    async def _render_templated_error(self, request: Request, status: int) -> Response:
        handler: Any = self.page_handler
        response: Response | None = await handler.render_error_page(request, status)
        if response is not None:
            return response
        # The template failed or aborted: the plain answers, without the hook.
        fallback = error_response(
            status, root=self.root, follow_symlinks=self.config.follow_symlinks
        )
        assert isinstance(fallback, Response)
        return fallback

    async def error_awaitable(self, request: Request, status: int) -> Response:
        """The Site's error response as a coroutine (for pages that ``abort()``)."""
        result = self.error(request, status)
        if isinstance(result, Response):
            return result
        return await result

    # -- the rest --------------------------------------------------------------------

    def invalidate(self, paths: Iterable[Path]) -> None:
        """Files changed: forget what was resolved and cached about them."""
        paths = list(paths)
        self.resolver.invalidate()
        self.static.invalidate(paths)
        forget = getattr(self.page_handler, "invalidate", None)
        if forget is not None:
            forget(paths)

    def error(
        self, request: Request, status: int, *, headers: Iterable[tuple[str, str]] = ()
    ) -> Response | Awaitable[Response]:
        return error_response(
            status,
            root=self.root,
            follow_symlinks=self.config.follow_symlinks,
            headers=headers,
            request=request,
            custom_page_lookup=self.custom_page_lookup,
        )

    def _dispatch(
        self, request: Request, resolved: Resolved, *, retried: bool = False
    ) -> Response | Awaitable[Response]:
        method = request.method
        kind = resolved.kind
        if request.path == "*" and method == "OPTIONS":
            # Asterisk-form asks about the server as a whole (RFC 9110 section 9.3.7).
            methods = PAGE_METHODS if self.page_handler is not None else READ_METHODS
            return _allow(204, methods)
        if kind == "not_found":
            return self.error(request, 404)
        allowed = PAGE_METHODS if kind == "page" else READ_METHODS
        if method == "OPTIONS":
            return _allow(204, allowed)
        if method not in allowed:
            # RFC 9110 section 15.5.6: a 405 must list what the resource does allow.
            return self.error(request, 405, headers=[("Allow", ", ".join(allowed))])
        if kind == "redirect":
            return self._redirect(request, resolved)
        assert resolved.path is not None
        if kind == "file":
            return self.static.respond(request, resolved.path, resolved.served_as)
        if kind == "directory":
            segments = list(resolved.path.relative_to(self.root).parts)
            return render_listing(
                resolved.path,
                segments,
                root=self.root,
                follow_symlinks=self.config.follow_symlinks,
                request=request,
                uploads=self.config.upload,
            )
        if self.page_handler is None:
            return builtin_error(500, message="pages not available")
        if not os.path.isfile(resolved.path):
            # The template went away since it was resolved (and no watcher said so).
            if retried:
                return self.error(request, 404)
            self.resolver.invalidate()
            return self._dispatch(request, self.resolver.resolve(request.path), retried=True)
        if self._render_now is not None:
            answer = self._render_now(request, resolved)
            if answer is not None:
                return answer
        return self.page_handler.render(request, resolved)

    def _redirect(self, request: Request, resolved: Resolved) -> Response:
        assert resolved.location is not None
        location = resolved.location
        if request.query:
            location += "?" + request.query
        headers = [
            ("Location", location),
            ("Cache-Control", self.static.cache_control),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return Response(301, headers, b"")


def _allow(status: int, methods: tuple[str, ...]) -> Response:
    return Response(status, [("Allow", ", ".join(methods)), ("Cache-Control", "no-cache")])
