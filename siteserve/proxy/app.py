"""``Proxy``: requests under a configured prefix go to a backend server, the rest to the site.

The backend side is httpcore, the transport under httpx: one connection pool
for every backend (keep-alive connections reused), request and response bodies
streamed with back-pressure (a chunk is read from one side only once the other
side took the previous one), timeouts per route, and upgrades handed over as a
raw socket. httpx's client on top would add a cookie jar shared by every
browser, redirect following and environment proxies, all of which a reverse
proxy must switch off, and a few hundred microseconds per request; httpcore has
none of them.

A ``/`` route serves the site's files first: a GET or HEAD for a path the site
has no file or page for (or only a folder it would list), or that it answers
404, goes to the backend, so a backend that renders
HTML (Django, Flask, Rails) is behind the site's CSS and scripts. The reload
layer is outside this one, so a proxied HTML page gets the reload script on its
way out like any page made for one request, and a change in the site folder
reloads its tabs.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from siteserve.config import ProxyRoute
from siteserve.http.request import Request
from siteserve.http.response import Channel, Response
from siteserve.layers import App, Layer
from siteserve.proxy import headers
from siteserve.proxy.errors import BackendHealth, error_page
from siteserve.proxy.tunnel import BackendStream, Tunnel

if TYPE_CHECKING:
    import httpcore

#: Our own URLs are never the backend's.
_RESERVED = "/__siteserve/"
#: A proxied body's size is the backend's business (``Layer.body_limit``).
_NO_LIMIT = 1 << 62
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
        #: Ask the backend for uncompressed HTML (live reload puts its script into pages).
        self.plain_html = plain_html
        self.health = BackendHealth()
        self._pool: httpcore.AsyncConnectionPool | None = None

    # -- App protocol --------------------------------------------------------------

    async def startup(self) -> None:
        import httpcore

        self._pool = httpcore.AsyncConnectionPool(
            max_connections=256, max_keepalive_connections=64, keepalive_expiry=30.0
        )
        await self.inner.startup()

    async def shutdown(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
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
        import httpcore

        assert self._pool is not None, "Proxy.startup was not awaited"
        backend = route.url
        upgrade = _upgrade(request)
        fields = headers.request_headers(route, request, plain_html=self.plain_html)
        if upgrade:
            fields += [("connection", "upgrade"), ("upgrade", request.headers["upgrade"])]
        has_body = any(name in ("content-length", "transfer-encoding") for name, _ in fields)
        scheme, host, port = _host_port(backend)
        timeout = {
            "connect": route.connect_timeout,
            "pool": route.connect_timeout,
            "read": route.read_timeout,
            "write": route.read_timeout,
        }
        outgoing = httpcore.Request(
            request.method,
            httpcore.URL(
                scheme=scheme.encode(),
                host=host.encode(),
                port=port,
                target=headers.backend_target(route, request).encode("latin-1"),
            ),
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in fields],
            content=_request_body(request) if has_body else b"",
            extensions={"timeout": timeout},
        )
        try:
            answer = await self._pool.handle_async_request(outgoing)
        except httpcore.TimeoutException as error:
            return self._failed(504, backend, request, "did not answer in time", error)
        except (httpcore.NetworkError, httpcore.ProtocolError) as error:
            return self._failed(502, backend, request, "could not be reached", error)
        self.health.answered(backend)
        status = answer.status
        backend_fields = [
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers
        ]
        if status == 101 and upgrade:
            stream: BackendStream = answer.extensions["network_stream"]
            switched = [(n, v) for n, v in backend_fields if n.lower() in _UPGRADE_FIELDS]
            return Response(
                101,
                [("Connection", "Upgrade"), *switched],
                upgrade=lambda channel: _tunnel(channel, stream),
            )
        out_fields = headers.response_headers(route, request, backend_fields)
        length = _length(backend_fields, status)
        return Response(status, out_fields, _BackendBody(answer), length)

    def _failed(
        self, status: int, backend: str, request: Request, problem: str, error: Exception
    ) -> Response:
        text = str(error) or type(error).__name__
        self.health.failed(backend, request.method, request.target, text)
        return error_page(status, backend, problem, text)


def _tunnel(channel: Channel, stream: BackendStream) -> Tunnel:
    return Tunnel(channel, stream)


def _upgrade(request: Request) -> bool:
    connection = (request.headers.get("connection") or "").lower()
    return "upgrade" in connection and "upgrade" in request.headers


def _host_port(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname or "", parts.port or default


def _length(fields: list[tuple[str, str]], status: int) -> int | None:
    """The backend's Content-Length, which stays true because the body is passed on raw
    (for a HEAD, the length a GET would have: RFC 9110 section 9.3.2)."""
    if status in (204, 304) or status < 200:
        return None
    for name, value in fields:
        if name.lower() == "content-length" and value.isdigit():
            return int(value)
    return None


async def _request_body(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.body.stream():
        yield chunk


class _BackendBody:
    """The backend's body, passed on raw as the browser's connection takes it.

    A class rather than a generator: the server closes a body it never sends (the
    answer to a HEAD, a 304) without starting it, and the backend's connection must
    go back to the pool then too.
    """

    __slots__ = ("_answer",)

    def __init__(self, answer: httpcore.Response) -> None:
        self._answer = answer

    async def __aiter__(self) -> AsyncIterator[bytes]:
        import httpcore

        stream = self._answer.stream
        assert isinstance(stream, AsyncIterable)
        try:
            async for chunk in stream:
                yield chunk
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.TimeoutException) as error:
            # Cut off mid-answer (the backend died): the browser's connection ends too, so
            # it sees a short answer, never a complete-looking one.
            raise ConnectionError(f"backend stopped mid-answer: {error}") from error
        finally:
            await self._answer.aclose()

    async def aclose(self) -> None:
        await self._answer.aclose()
