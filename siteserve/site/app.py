"""The Site: request in, response out, for a folder on disk.

A static file is answered synchronously (no coroutine, no thread hop): the
resolver's answer is cached per raw path, the file's headers per file version,
and the request costs one ``os.stat``. Pages (templates) are answered by the
page handler (``siteserve.site.pages.Pages``), at once when a page has proven
cheap, else by an awaitable. The page handler, and Jinja with it, is made when
the site first needs it (a page or an error template to render, a session
store to open at start-up), so a site of static files never loads them. The
Site is the innermost app of the stack that ``assemble.build_app`` builds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from siteserve.config import Config
from siteserve.http.location import safe_location
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.site import cache_policy
from siteserve.site.errors import builtin_error, error_response
from siteserve.site.fallback_files import fallback_file
from siteserve.site.file_version import NotAFile
from siteserve.site.layouts import LayoutRules
from siteserve.site.names import error_template
from siteserve.site.resolver import Resolved, Resolver
from siteserve.site.spa import SpaFallback
from siteserve.site.static import StaticFiles

if TYPE_CHECKING:
    from siteserve.site.pages import ErrorResponder

log = logging.getLogger("siteserve.site")

READ_METHODS = ("GET", "HEAD", "OPTIONS")
# A page branches on request.method, so it takes the methods a form or a fetch() sends;
# TRACE and CONNECT stay refused (RFC 9110 sections 9.3.6 and 9.3.8).
PAGE_METHODS = ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE")


class PageHandler(Protocol):
    """What renders templates for the Site: ``siteserve.site.pages.Pages`` implements it all.

    A class that subclasses ``PageHandler`` (a test's fake) gets the defaults
    below; only ``render`` has none.
    """

    #: The abort hook: set by the Site, so a page's ``abort(404)`` answers what
    #: any other 404 would (the site's own error page included).
    error_responder: ErrorResponder | None = None

    def render(self, request: Request, resolved: Resolved) -> Awaitable[Response]:
        """Render the page ``resolved`` names (kind "page") for ``request``."""
        ...

    def render_now(
        self, request: Request, resolved: Resolved
    ) -> Response | Awaitable[Response] | None:
        """The answer without a task when it can be had at once; None means: call ``render``."""
        return None

    async def startup(self) -> None:
        """Get ready before the first request."""

    def watch(self) -> None:
        """From now on a watcher calls ``invalidate`` on every change (live reload does),
        so what was parsed and rendered may be kept without asking the disk each time."""

    def close(self) -> None:
        """The server is stopping: release threads and session stores."""

    async def shutdown(self) -> None:
        """``close``, and what only the event loop can close (a Redis client)."""
        self.close()

    def invalidate(self, paths: Iterable[Path]) -> None:
        """Files changed: forget compiled templates and data made from them."""

    def error_template(self, status: int) -> Path | None:
        """The site's template for an error status (``404.html.jinja``), if it has one."""
        return None

    async def render_error_page(self, request: Request, status: int) -> Response | None:
        """That template rendered for ``status``; None when there is none or it failed."""
        return None


class Site(App):
    """The innermost app: resolves a URL and answers the file, listing, page or error."""

    def __init__(
        self, config: Config, *, pages: PageHandler | None = None, watched: bool = False
    ) -> None:
        """``watched``: a watcher calls ``invalidate`` on every change (live reload does)."""
        self.config = config
        self.resolver = Resolver(
            config.root,
            follow_symlinks=config.follow_symlinks,
            render_globs=config.render,
            markdown=LayoutRules(config.markdown),
        )
        #: The root with every symlink resolved, as the resolver's paths are.
        self.root: Path = self.resolver.root
        #: Static files: validators, conditional requests, ranges, codings (RFC 9110 13, 14).
        self.static = StaticFiles(config)
        self._watched = watched
        #: Renders kind "page": a test's own, else made on first use (``pages``).
        self._pages: PageHandler | None = None
        if pages is not None:
            self._adopt(pages)
        #: The history fallback of single-page apps (``--spa``): off when empty.
        self.spa = SpaFallback(config.spa)

    @property
    def pages(self) -> PageHandler:
        """The page handler; made here, once, when the first page or error template is
        rendered, so Jinja, YAML and the render threads cost a static site nothing."""
        if self._pages is None:
            from siteserve.site.pages import Pages

            self._adopt(Pages(self.config))
        assert self._pages is not None
        return self._pages

    def _adopt(self, pages: PageHandler) -> None:
        pages.error_responder = self.error_awaitable
        if self._watched:
            pages.watch()
        self._pages = pages

    # -- App protocol ------------------------------------------------------------------

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        try:
            resolved = self.resolver.resolve(request.path)
            # The fast path: a static file read with GET or HEAD.
            if resolved.kind == "file" and request.method in ("GET", "HEAD"):
                assert resolved.path is not None
                try:
                    answer = self.static.respond(request, resolved.path, resolved.served_as)
                    if isinstance(answer, Response) and answer.still_valid is not None:
                        answer.still_valid = partial(
                            self._still_serves, request.path, resolved, answer.still_valid
                        )
                    return answer
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
        if self.config.sessions is not None:
            # A session store that cannot be opened or reached is a start-up error: now.
            await self.pages.startup()
        elif self._pages is not None:
            await self._pages.startup()

    async def shutdown(self) -> None:
        if self._pages is not None:
            await self._pages.shutdown()

    def body_limit(self, request: Request) -> int | None:
        """The Site reads no body larger than ``limits.max_body`` (pages check it too)."""
        return None

    def invalidate(self, paths: Iterable[Path]) -> None:
        """Files changed: forget what was resolved and cached about them."""
        paths = list(paths)
        self.resolver.invalidate()
        self.static.invalidate(paths)
        if self._pages is not None:  # none made yet: nothing compiled to forget
            self._pages.invalidate(paths)

    def reusable_answers(self) -> bool:
        """A file's answer depends on the request and the file only (``_still_serves``);
        pages, listings and error pages never say ``still_valid``, so they are made anew."""
        return True

    def _still_serves(
        self, raw_path: str, resolved: Resolved, unchanged: Callable[[], bool]
    ) -> bool:
        """Whether the URL still resolves to the same file, itself unchanged."""
        return self.resolver.resolve(raw_path) is resolved and unchanged()

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        """The methods the target of ``path`` takes: what an OPTIONS to it lists in Allow."""
        if path == "*":
            return PAGE_METHODS
        try:
            kind = self.resolver.resolve(path).kind
        except OSError:
            kind = "not_found"
        return _methods_for(kind)

    # -- pages ---------------------------------------------------------------------

    def _templated_error_page(self, request: Request, status: int) -> Awaitable[Response] | None:
        # No page handler made yet: look for the template without making one.
        pages = self._pages
        if pages is None:
            found = error_template(self.config.root, status)
        else:
            found = pages.error_template(status)
        if found is None:
            return None  # the common case stays synchronous
        return self._render_templated_error(request, status)

    async def _render_templated_error(self, request: Request, status: int) -> Response:
        response = await self.pages.render_error_page(request, status)
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

    def error(
        self, request: Request, status: int, *, headers: Iterable[tuple[str, str]] = ()
    ) -> Response | Awaitable[Response]:
        return error_response(
            status,
            root=self.root,
            follow_symlinks=self.config.follow_symlinks,
            headers=headers,
            request=request,
            custom_page_lookup=self._templated_error_page,
        )

    def _dispatch(
        self, request: Request, resolved: Resolved, *, retried: bool = False
    ) -> Response | Awaitable[Response]:
        method = request.method
        kind = resolved.kind
        if request.path == "*" and method == "OPTIONS":
            # Asterisk-form asks about the server as a whole (RFC 9110 section 9.3.7).
            return _allow(204, PAGE_METHODS)
        if kind == "not_found":
            ours = fallback_file(request.path)
            entry = self.spa.entry_for(request) if ours is None else None
            if entry is not None:
                # A route of the app: its entry page, looked up like any URL (a rewrite).
                resolved = self.resolver.resolve(entry)
                kind = resolved.kind
            elif ours is not None:
                # Our favicon or stylesheet, answered as the site's own file would be.
                resolved, kind = Resolved("file", *ours), "file"
            if kind not in ("file", "page"):
                return self.error(request, 404)
        allowed = _methods_for(kind)
        if method == "OPTIONS":
            return _allow(204, allowed)
        if method not in allowed:
            # RFC 9110 section 15.5.6: a 405 must list what the resource does allow.
            return self.error(request, 405, headers=[("Allow", ", ".join(allowed))])
        if kind == "redirect":
            return self._redirect(request, resolved)
        assert resolved.path is not None
        if kind == "file":
            made = self.static.respond(request, resolved.path, resolved.served_as)
            if isinstance(made, Response):
                # Our own favicon, an app's entry page, a second look: the URL does not
                # simply name this file, so the answer is made anew each time.
                made.still_valid = None
            return made
        if kind == "directory":
            from siteserve.site.listing import render_listing  # the first folder listed

            segments = list(resolved.path.relative_to(self.root).parts)
            return render_listing(
                resolved.path,
                segments,
                root=self.root,
                follow_symlinks=self.config.follow_symlinks,
                request=request,
                # A read-only user or share link is not shown forms it may not use.
                uploads=self.config.upload and not request.read_only,
            )
        if not os.path.isfile(resolved.path):
            # The template went away since it was resolved (and no watcher said so).
            if retried:
                return self.error(request, 404)
            self.resolver.invalidate()
            return self._dispatch(request, self.resolver.resolve(request.path), retried=True)
        answer = self.pages.render_now(request, resolved)
        if answer is not None:
            return answer
        return self.pages.render(request, resolved)

    def _redirect(self, request: Request, resolved: Resolved) -> Response:
        assert resolved.location is not None
        location = resolved.location
        if request.query:
            location += "?" + request.query
        headers = [
            ("Location", safe_location(location)),
            ("Cache-Control", cache_policy.profile(self.config)),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return Response(301, headers, b"")


def _methods_for(kind: str) -> tuple[str, ...]:
    return PAGE_METHODS if kind == "page" else READ_METHODS


def _allow(status: int, methods: tuple[str, ...]) -> Response:
    return Response(status, [("Allow", ", ".join(methods)), ("Cache-Control", "no-cache")])
