"""The ASGI 3 application: the layer stack from ``assemble.build_app`` behind ASGI's callable.

Each ``http`` scope becomes one ``Request`` for the stack and its ``Response``
goes back as ASGI messages, so every rule (files, pages, sessions, sharing,
auth, CORS) is the built-in server's own. The stack is started once: by the
lifespan protocol when the server speaks it, else by the first request (under
a lock, so concurrent first requests wait for one start). ``websocket`` scopes
are refused: the only WebSocket siteserve has is live reload's, which is off.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable

from siteserve.asgi.request import ReceivedBody, expects_body, request_from_scope
from siteserve.asgi.response import release_body, send_response
from siteserve.asgi.types import PATHSEND, HttpScope, Receive, Scope, Send
from siteserve.assemble import build_app
from siteserve.config import Config, ConfigError
from siteserve.http.errors import ProtocolError
from siteserve.http.framing import declared_length
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.http.writer import simple_response
from siteserve.layers import App

log = logging.getLogger("siteserve.asgi")


class SiteserveAsgi:
    """An ASGI 3 app serving the stack ``build`` makes of the Config ``configure`` answers.

    ``build`` is ``assemble.build_app`` (a test may give its own). ``configure``,
    ``build`` and the stack's ``startup`` run at lifespan startup (or at the
    first request without lifespan), once: a failure of any of them is the
    server's startup failure, said once and never tried again. A ``ConfigError``
    (a missing folder, Redis out of reach) is one line, the message the CLI
    would print; anything else also gets its traceback. Under lifespan the
    server is told (``lifespan.startup.failed``) and exits, as uvicorn,
    hypercorn and granian do for a Starlette app whose startup raised; without
    lifespan every request is answered 500.
    """

    def __init__(
        self, configure: Callable[[], Config], *, build: Callable[[Config], App] = build_app
    ) -> None:
        self._configure = configure
        self._build = build
        self._app: App | None = None
        self._limit = 0
        self._started = False
        self._failed: str | None = None
        self._lock: asyncio.Lock | None = None

    # -- the ASGI callable -------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if not self._started:
                await self._start_once(say_failure=True)
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        else:
            # Closing before accepting makes the server refuse the handshake (403).
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 1008})

    # -- starting and stopping ---------------------------------------------------------

    async def _start_once(self, *, say_failure: bool) -> None:
        """Configure, build and start the stack, once; a failure is kept in ``_failed``.

        Under lifespan the server prints the failure itself (``say_failure`` is
        False); without it the log says it, once.
        """
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._started or self._failed is not None:
                return
            try:
                config = self._configure()
                app = self._build(config)
                await app.startup()
            except ConfigError as error:
                self._failed = f"siteserve: {error}"
                if say_failure:
                    log.error("%s", self._failed)
                return
            except Exception as error:
                # Not the user's configuration: the traceback is what tells why.
                self._failed = f"siteserve: startup failed: {error!r}"
                if say_failure:
                    log.exception("%s", self._failed)
                else:
                    self._failed += "\n" + traceback.format_exc()
                return
            self._app = app
            self._limit = config.limits.max_body
            self._started = True

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            kind = message.get("type")
            if kind == "lifespan.startup":
                await self._start_once(say_failure=False)
                if self._failed is not None:
                    await send({"type": "lifespan.startup.failed", "message": self._failed})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif kind == "lifespan.shutdown":
                if self._app is not None:
                    await self._app.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- one request -------------------------------------------------------------------

    async def _http(self, scope: HttpScope, receive: Receive, send: Send) -> None:
        request = request_from_scope(scope)
        http1 = request.version in ("1.1", "1.0")
        app = self._app
        if app is None:
            detail = "siteserve did not start; the server log says why"
            await _refuse(send, request, http1, 500, detail)
            return
        try:
            # The front server checked HTTP/1's framing; HTTP/2's field may be anything.
            length = declared_length(request.headers.get("content-length"))
        except ProtocolError as error:
            await _refuse(send, request, http1, error.status, error.detail)
            return
        body: ReceivedBody | None = None
        if expects_body(request, length):
            # Asked once, before any of the body is read, as the built-in server asks.
            bound = app.body_limit(request)
            limit = self._limit if bound is None else bound
            if length is not None and length > limit:
                await _refuse(send, request, http1, 413, "request body too large")
                return
            body = ReceivedBody(receive, limit)
            request.body = body
        try:
            result = app.handle(request)
            response = result if isinstance(result, Response) else await result
        except Exception:
            log.exception("error handling %s %s", request.method, request.target)
            response = simple_response(500, "internal server error")
        if body is not None and body.too_large:
            # The body grew past its bound while read: that is the answer, as on our server.
            await release_body(response.body)
            response = simple_response(413, "request body too large")
        extensions = scope.get("extensions") or {}
        await send_response(
            send,
            response,
            method=request.method,
            http1=http1,
            pathsend=PATHSEND in extensions,
            receive=receive if body is None or body.finished else None,
        )


async def _refuse(send: Send, request: Request, http1: bool, status: int, detail: str) -> None:
    """Answer ``status`` without reading the body or asking the stack."""
    response = simple_response(status, detail)
    await send_response(
        send, response, method=request.method, http1=http1, pathsend=False, receive=None
    )
