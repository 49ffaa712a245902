"""What the server runs: the ``App`` protocol, and ``Layer``, the base of every app around another.

The server runs one app: the Site, wrapped by layers that each add one concern
(sharing, live reload, the password check, CORS). ``assemble.build_app``
stacks them. Every capability an app can have is declared on ``App``, with its
meaning and a default, and the server and the layers call each one directly:
nothing is looked up by name. ``Layer`` forwards every capability to the app it
wraps, so a layer overrides only what it changes, and a new layer that forgets
a capability still passes it through (it cannot, say, silently cap uploads at
``limits.max_body`` by not knowing that ``body_limit`` exists). The one exception is
``reusable_answers``, which a layer must claim itself: forgetting it costs speed, never
a wrong answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from siteserve.http.request import Request
from siteserve.http.response import Response


class App(Protocol):
    """An app the server can run. A class that subclasses ``App`` gets the defaults below."""

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        """Answer one request.

        At once when the answer is ready at once (a static file costs no
        coroutine), else with an awaitable (a page rendered off the event loop).
        An exception becomes a 500; the response never goes through ``handle`` twice.
        """
        ...

    async def startup(self) -> None:
        """Get ready before the first request is read (check routes, start watchers)."""

    async def shutdown(self) -> None:
        """The server is stopping: close what ``startup`` opened and say goodbye to clients."""

    def body_limit(self, request: Request) -> int | None:
        """The largest body, in bytes, this request may send; None means ``limits.max_body``.

        Asked once per request, as soon as its head is complete and before any
        of its body is read (``request.body`` holds nothing yet): the route and
        the headers decide (an upload to a listed folder may be larger, but only
        with valid credentials). A body over the bound is answered 413.
        """
        return None

    def invalidate(self, paths: Iterable[Path]) -> None:
        """Files changed on disk (one settled change set): forget what was cached about them.

        Live reload calls it before it tells any browser, so the first request
        after a change never sees old content.
        """

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        """The methods the target of the URL ``path`` takes (what an OPTIONS to it would
        list in ``Allow``), for a CORS preflight to tell; None when this app cannot say."""
        return None

    def reusable_answers(self) -> bool:
        """Whether the server may give an answer of this app again, without asking it, to a
        request that repeats an earlier one byte for byte, while the answer's own
        ``Response.still_valid`` holds.

        True only for an app whose answers to a request depend on nothing but the
        request's bytes and the files they were made from: no client address, no clock,
        no per-request bookkeeping (live reload's page graph, a login's failure count),
        no state that changes while the server runs without a change to those files.
        False by default, and a ``Layer`` that does not say so itself is False too: a
        new layer must choose to allow it.
        """
        return False


InnerT = TypeVar("InnerT", bound=App)


class Layer(App, Generic[InnerT]):
    """An app around another one, ``inner``: every capability goes to ``inner`` unless overridden.

    ``inner`` is typed by the subclass (``Layer[Site]`` when a layer needs the
    Site itself, ``Layer[App]`` for any app), so mypy sees the whole chain.
    """

    def __init__(self, inner: InnerT) -> None:
        self.inner = inner

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        return self.inner.handle(request)

    async def startup(self) -> None:
        await self.inner.startup()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    def body_limit(self, request: Request) -> int | None:
        return self.inner.body_limit(request)

    def invalidate(self, paths: Iterable[Path]) -> None:
        self.inner.invalidate(paths)

    def allowed_methods(self, path: str) -> tuple[str, ...] | None:
        return self.inner.allowed_methods(path)

    def reusable_answers(self) -> bool:
        # Not forwarded: a layer allows reuse only by saying so (see ``App``).
        return False


def innermost(app: App) -> App:
    """The app at the bottom of a stack of layers (the Site, for a stack from ``build_app``)."""
    while isinstance(app, Layer):
        layer: Layer[App] = app
        app = layer.inner
    return app
