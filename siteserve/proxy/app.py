"""``Proxy``: requests under a configured prefix go to a backend server, the rest to the site.

The backend side is ``proxy.client``: keep-alive connections pooled per
backend, request and response bodies streamed with back-pressure (a chunk is
read from one side only once the other side took the previous one), timeouts
per route, and the raw socket handed over after a 101 (``proxy.tunnel``).

A ``/`` route serves the site's files first: a GET or HEAD for a path the site
has no file or page for (or only a folder it would list), or that it answers
404, goes to the backend, so a backend that renders HTML (Django, Flask,
Rails) is behind the site's CSS and scripts. The reload
layer is outside this one, so a proxied HTML page gets the reload script on its
way out like any page made for one request, and a change in the site folder
reloads its tabs.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

from siteserve.config import ProxyRoute
from siteserve.http.errors import ProtocolError
from siteserve.http.framing import declared_length
from siteserve.http.request import BodyIncomplete, Request
from siteserve.http.response import Channel, Response
from siteserve.layers import App, Layer
from siteserve.proxy import headers, validators
from siteserve.proxy.client import BackendConnection, BackendError, BackendPool, BackendTimeout
from siteserve.proxy.errors import BackendHealth, error_page
from siteserve.proxy.tunnel import FlowChannel, Tunnel

#: Our own URLs are never the backend's.
_RESERVED = "/__siteserve/"
#: A proxied body's size is the backend's business (``Layer.body_limit``).
_NO_LIMIT = 1 << 62
#: RFC 9110 section 9.2.2: the methods a proxy may send again by itself when the
#: connection it sent one on failed (the backend may have acted on any other).
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
#: Fields of the backend's 101 the browser needs to finish its handshake.
_UPGRADE_FIELDS = frozenset(
    {"upgrade", "sec-websocket-accept", "sec-websocket-protocol", "sec-websocket-extensions"}
)


class Proxy(Layer[App]):
    """Requests under a route's prefix to its backend; everything else to ``inner``."""

    def __init__(
        self,
        inner: App,
        routes: tuple[ProxyRoute, ...],
        *,
        plain_html: bool = False,
        site_has: Callable[[str], bool] = lambda path: True,
    ) -> None:
        super().__init__(inner)
        #: Whether the site has a file or page for a URL path (not a folder listing),
        #: asked before a ``/`` route sends a GET to the backend.
        self.site_has = site_has
        # Longest prefix first, so /api/v2 wins over /api and both over /.
        self.routes = tuple(sorted(routes, key=lambda route: len(route.prefix), reverse=True))
        #: Live reload puts its script into proxied pages: ask the backend for them
        #: uncompressed, and map their validators (``proxy.validators``).
        self.plain_html = plain_html
        self.health = BackendHealth()
        self._pool: BackendPool | None = None

    # -- App protocol --------------------------------------------------------------

    async def startup(self) -> None:
        self._pool = BackendPool()
        await self.inner.startup()

    async def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        await self.inner.shutdown()

    def body_limit(self, request: Request) -> int | None:
        route = self.route_for(request.path)
        if route is None or (route.prefix == "/" and request.method in ("GET", "HEAD")):
            return self.inner.body_limit(request)
        return _NO_LIMIT

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        route = self.route_for(request.path)
        if route is None:
            return self.inner.handle(request)
        if route.prefix == "/" and request.method in ("GET", "HEAD") and not _upgrade(request):
            return self._site_first(route, request)
        return self.forward(route, request)

    def route_for(self, path: str) -> ProxyRoute | None:
        if path.startswith(_RESERVED):
            return None
        for route in self.routes:
            prefix = route.prefix
            if prefix == "/" or path == prefix or path.startswith(prefix + "/"):
                return route
        return None

    # -- forwarding ------------------------------------------------------------------

    async def _site_first(self, route: ProxyRoute, request: Request) -> Response:
        if not self.site_has(request.path):
            # Nothing there, or only a folder the site would list: the backend's page.
            return await self.forward(route, request)
        result = self.inner.handle(request)
        response = await result if inspect.isawaitable(result) else result
        if response.status == 404:
            return await self.forward(route, request)
        return response

    async def forward(self, route: ProxyRoute, request: Request) -> Response:
        assert self._pool is not None, "Proxy.startup was not awaited"
        backend = route.url
        upgrade = _upgrade(request)
        fields = headers.request_headers(route, request, plain_html=self.plain_html)
        injected: frozenset[str] = frozenset()
        if self.plain_html and "if-none-match" in request.headers:
            # The browser's stored copy may be a page the reload script went into.
            asked, injected = validators.backend_if_none_match(request.headers["if-none-match"])
            if injected:
                fields = [field for field in fields if field[0] != "if-none-match"]
                fields.append(("if-none-match", asked))
        if upgrade:
            fields += [("connection", "upgrade"), ("upgrade", request.headers["upgrade"])]
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        # The framing ``headers.request_headers`` gave the backend's hop: Content-Length
        # when the browser sent one, else chunked. Said here, never read back from the
        # head, where any field's value may spell "transfer-encoding: chunked".
        chunked = has_body and "content-length" not in request.headers
        target = headers.backend_target(route, request)
        lines = [f"{request.method} {target} HTTP/1.1\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in fields]
        head = ("".join(lines) + "\r\n").encode("latin-1")
        where = headers.backend_url(backend)
        host, port = where.host, where.port
        try:
            connection = await self._exchange(route, host, port, head, request, has_body, chunked)
        except BackendTimeout as error:
            return self._failed(504, backend, request, "did not answer in time", error)
        except BackendError as error:
            return self._failed(502, backend, request, "could not be reached", error)
        except BodyIncomplete:
            # The browser left before its body was whole: nobody is left to answer.
            return Response(400, [("Content-Type", "text/plain; charset=utf-8")], close=True)
        status = connection.status
        if status == 101 and not upgrade:
            # RFC 9110 section 15.2.2: a switch only to what the request's Upgrade named;
            # the browser asked for none, and its connection must stay HTTP.
            connection.close()
            problem = "switched protocols though the request asked for none"
            return self._failed(502, backend, request, problem, BackendError("101"))
        self.health.answered(backend)
        if status == 101:
            switched = [(n, v) for n, v in connection.headers if n.lower() in _UPGRADE_FIELDS]
            return Response(
                101,
                [("Connection", "Upgrade"), *switched],
                upgrade=lambda channel: Tunnel(_with_flow(channel), connection),
            )
        out_fields = headers.response_headers(route, request, connection.headers)
        if status == 304 and injected:
            out_fields = validators.browser_not_modified(out_fields, injected)
        length = _length(connection.headers, status)
        # All of a small answer came with its head (a HEAD's answer is framed by the
        # backend's length, not by a body): the connection is free at once, and the
        # browser gets head and body in one write.
        whole = None if request.method == "HEAD" else connection.whole_body()
        if whole is not None:
            self._pool.release(connection)
            return Response(status, out_fields, whole)
        body = _BackendBody(self._pool, connection, route.read_timeout)
        return Response(status, out_fields, body, length)

    async def _exchange(
        self,
        route: ProxyRoute,
        host: str,
        port: int,
        head: bytes,
        request: Request,
        has_body: bool,
        chunked: bool,
    ) -> BackendConnection:
        assert self._pool is not None
        while True:
            connection, reused = await self._pool.connect(host, port, route.connect_timeout)
            if request.method == "HEAD":
                connection.expect_head_only()
            try:
                await connection.send(
                    head,
                    _request_body(request) if has_body else None,
                    route.read_timeout,
                    chunked=chunked,
                )
            except BackendTimeout:
                raise
            except BackendError:
                if reused and not has_body and request.method in _IDEMPOTENT:
                    continue  # the backend had closed the idle connection: once more, fresh
                raise
            except BaseException:
                # The browser left mid-upload (BodyIncomplete), or we were cancelled: the
                # backend has half a request, so its connection can only be closed.
                await connection.aclose()
                raise
            return connection

    def _failed(
        self, status: int, backend: str, request: Request, problem: str, error: Exception
    ) -> Response:
        text = str(error) or type(error).__name__
        self.health.failed(backend, request.method, request.target, text)
        return error_page(status, backend, problem, text)


def _with_flow(channel: Channel) -> FlowChannel:
    # The server hands an upgrade the connection's own transport, which has flow control.
    return cast(FlowChannel, channel)


def _upgrade(request: Request) -> bool:
    connection = (request.headers.get("connection") or "").lower()
    return "upgrade" in connection and "upgrade" in request.headers


def _length(fields: list[tuple[str, str]], status: int) -> int | None:
    """The backend's Content-Length, which stays true because the body is passed on raw
    (for a HEAD, the length a GET would have: RFC 9110 section 9.3.2)."""
    if status in (204, 304) or status < 200:
        return None
    values = [value for name, value in fields if name.lower() == "content-length"]
    if not values:
        return None
    try:
        return declared_length(", ".join(values))
    except ProtocolError:
        return None  # llhttp framed the body without it; the browser's hop frames its own


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.body.stream():
        yield chunk


class _BackendBody:
    """The backend's body, passed on as the browser's connection takes it.

    A class rather than a generator: the server closes a body it never sends (the
    answer to a HEAD, a 304) without starting it, and the backend's connection must
    go back to the pool (or be closed) then too.
    """

    __slots__ = ("_connection", "_pool", "_released", "_timeout")

    def __init__(self, pool: BackendPool, connection: BackendConnection, timeout: float) -> None:
        self._pool = pool
        self._connection = connection
        self._timeout = timeout
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._connection.body(self._timeout):
                yield chunk
        except BackendError as error:
            # Cut off mid-answer (the backend died): the browser's connection ends too, so
            # it sees a short answer, never a complete-looking one.
            raise ConnectionError(f"backend stopped mid-answer: {error}") from error
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if not self._released:
            self._released = True
            self._pool.release(self._connection)
