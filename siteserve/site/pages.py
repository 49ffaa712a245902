"""Jinja pages rendered per request.

The request body is read on the event loop (bounded by ``limits.max_body``);
the render itself runs in a small thread pool so a slow page never stalls
other requests. Each render records the templates and data files it used,
and the Response lists them as ``sources`` for live reload.

A ``.md`` page is rendered through its layout (``content``); a render that read
nothing of the request but its URL and query string is answered again until a
file changes (``reuse``).

A page may ``redirect()``, ``abort()`` (answered by the Site's error page,
which uses ``404.html.jinja`` and friends when present), set its status,
headers and cookies, and keep a server-side session. A template that fails
answers the template error page (``template_errors``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, Protocol, TypeVar

import jinja2

from siteserve import bounds
from siteserve.config import Config
from siteserve.http import Request, Response
from siteserve.http.request import BodyIncomplete, BodyTooLarge
from siteserve.site.cache_policy import apply_headers, extra_headers
from siteserve.site.content import Content
from siteserve.site.data_files import DataFiles, DataView
from siteserve.site.forms import FormLimits
from siteserve.site.jinja_env import build_environment, recording, undefined_class
from siteserve.site.mime import content_type
from siteserve.site.names import error_template, strip_template_suffix
from siteserve.site.page_context import (
    PageAbort,
    PageRedirect,
    PageRequest,
    PageResponse,
    page_context,
    site_globals,
)
from siteserve.site.reuse import ReusedRenders
from siteserve.site.sessions import SessionConflict, SessionProblem, Sessions, SessionStoreDown
from siteserve.site.template_errors import describe, log_problem, problem_response

#: Threads rendering pages at once; more would only contend for the GIL.
RENDER_WORKERS = 4
#: Renders whose last run took less than this many seconds run on the event loop.
#: 5 ms: a stall nobody notices on a preview server, yet a 1 ms budget sent small
#: pages back to the pool whenever the OS or the GC delayed one render.
INLINE_BUDGET = 0.005
K = TypeVar("K")
V = TypeVar("V")
#: Bound on the memo tables below (their keys are files of the site).
MEMO_LIMIT = bounds.PAGE_MEMO
#: Renders of one request when other requests of the same visitor keep writing its session.
SESSION_ATTEMPTS = 5


class PageTarget(Protocol):
    """What the resolver says about a page (``resolver.Resolved`` fits)."""

    @property
    def path(self) -> Path | None: ...

    @property
    def served_as(self) -> str: ...

    @property
    def params(self) -> Mapping[str, str]: ...


#: The Site's error response for a status, used when a page calls ``abort()``.
ErrorResponder = Callable[[Request, int], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class _Aborted:
    """A render that ended in ``abort(status)``; the cookies it set still go out."""

    status: int
    cookies: tuple[str, ...]
    sources: tuple[Path, ...]


class Pages:
    """The Site's page handler (``site.app.PageHandler``): renders templates per request."""

    def __init__(
        self, config: Config, *, workers: int = RENDER_WORKERS, inline_budget: float = INLINE_BUDGET
    ) -> None:
        self._config = config
        #: See INLINE_BUDGET; a build, which renders one page at a time, wants no thread hop.
        self._inline_budget = inline_budget
        self._root = config.root
        self._max_body = config.limits.max_body
        self._form_limits = FormLimits.of(config.limits)
        self.data = DataFiles(config.root, follow_symlinks=config.follow_symlinks)
        self.sessions = Sessions.from_config(config)
        data = DataView(self.data, undefined_class(config))
        self.environment = build_environment(config, site_globals(config, data))
        self.content = Content(config, self.environment)
        self.reuse = ReusedRenders()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="siteserve-page")
        #: Set by the Site so ``abort(404)`` answers what any other 404 would.
        self.error_responder: ErrorResponder | None = None
        # Per-render conversions done once: template path -> name, file names -> sources.
        self._names: dict[Path, str] = {}
        self._sources: dict[frozenset[str], tuple[Path, ...]] = {}
        #: The last render time per template, in seconds (see _render_where_cheapest).
        self._render_cost: dict[Path, float] = {}

    def render_now(
        self, request: Request, resolved: PageTarget
    ) -> Response | Awaitable[Response] | None:
        """The answer without a task when it can be had at once, else None.

        A request with no body for a template that has proven cheap renders
        right here (see _render_where_cheapest): no coroutine chain and no task,
        which is a third of a small page's cost. None means: call ``render``.
        """
        path = resolved.path
        body = request.body
        if path is None or self.sessions.blocking or not body.complete or body.received:
            return None
        cost = self._render_cost.get(path)
        if cost is None or cost >= self._inline_budget:
            return None
        started = time.perf_counter()
        outcome = self._render(request, path, resolved.served_as, dict(resolved.params), b"", None)
        self._note_cost(path, time.perf_counter() - started)
        if isinstance(outcome, _Aborted):
            return self._aborted(request, outcome)
        return outcome

    async def render(self, request: Request, resolved: PageTarget) -> Response:
        if resolved.path is None:
            raise ValueError("a page needs a template path")
        body = await self._read_body(request)
        if isinstance(body, int):
            return await self._error(request, body)
        outcome = await self._render_where_cheapest(
            request, resolved.path, resolved.served_as, dict(resolved.params), body
        )
        if isinstance(outcome, _Aborted):
            return await self._aborted(request, outcome)
        return outcome

    async def _aborted(self, request: Request, outcome: _Aborted) -> Response:
        response = await self._error(request, outcome.status)
        response.headers.extend(("Set-Cookie", cookie) for cookie in outcome.cookies)
        response.sources = tuple(sorted({*response.sources, *outcome.sources}))
        return response

    async def _render_where_cheapest(
        self, request: Request, path: Path, served_as: str, params: dict[str, str], body: bytes
    ) -> Response | _Aborted:
        """Render on the loop when this template has proven cheap, else in the pool.

        A hand-off to a worker thread costs about 40 us, a quarter of a small
        page's render; a slow page must still never stall other requests. So
        a template's first render (which compiles it) goes to the pool, and it
        is rendered inline only while its last render took under INLINE_BUDGET.
        """
        cost = self._render_cost.get(path)
        # A session store that waits on the network (Redis) is only ever waited for in a thread.
        if cost is not None and cost < self._inline_budget and not self.sessions.blocking:
            started = time.perf_counter()
            outcome = self._render(request, path, served_as, params, body, None)
            self._note_cost(path, time.perf_counter() - started)
            return outcome
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._timed_render, request, path, served_as, params, body
        )

    def _timed_render(
        self, request: Request, path: Path, served_as: str, params: dict[str, str], body: bytes
    ) -> Response | _Aborted:
        # In a worker the wall clock also counts waits for the GIL, which grow with
        # load and would keep a cheap page in the pool for ever; the thread's CPU
        # time is what the render would cost the loop. (A render that blocks on I/O
        # shows its wall time at its next, inline, render and comes back here.)
        started = time.thread_time()
        try:
            return self._render(request, path, served_as, params, body, None)
        finally:
            self._note_cost(path, time.thread_time() - started)

    def _note_cost(self, path: Path, seconds: float) -> None:
        # The last render decides: one slow render moves a page off the loop at once.
        _remember(self._render_cost, path, seconds)

    async def render_error_page(self, request: Request, status: int) -> Response | None:
        """``STATUS.html.jinja`` (or ``.jinja``, ``.j2``...) at the root, rendered; else None.

        The page sees ``error.status`` and ``error.reason`` besides the usual
        variables; the response keeps ``status`` whatever the template does.
        """
        path = self.error_template(status)
        if path is None:
            return None
        loop = asyncio.get_running_loop()
        served_as = strip_template_suffix(path.name) or "error.html"
        outcome = await loop.run_in_executor(
            self._pool, self._render, request, path, served_as, {}, b"", status
        )
        # An error page that itself aborts gets the built-in page instead.
        return None if isinstance(outcome, _Aborted) else outcome

    def error_template(self, status: int) -> Path | None:
        return error_template(self._root, status)

    def watch(self) -> None:
        """From now on a watcher calls ``invalidate`` on every change (live reload does):
        what was parsed and rendered is kept without asking the disk each time."""
        self.content.watch()
        self.reuse.watched = True

    def invalidate(self, paths: Iterable[Path]) -> None:
        """Forget compiled templates and parsed data made from ``paths`` (a change set)."""
        paths = list(paths)
        self.environment.forget(paths)
        self.data.forget(paths)
        self.content.forget(paths)
        self.reuse.forget(paths)

    async def startup(self) -> None:
        """Connect the session store; templates compile, and data files load, on first use."""
        await self.sessions.startup()

    def close(self) -> None:
        """Stop the render threads and close the session store (at shutdown)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.sessions.close()

    async def shutdown(self) -> None:
        """``close``, and the session store's connections (Redis) closed on the loop."""
        self.close()
        await self.sessions.shutdown()

    # -- on the event loop -------------------------------------------------------

    async def _read_body(self, request: Request) -> bytes | int:
        """The whole body, or the error status to answer instead."""
        if request.body.complete and request.body.received == 0:
            return b""  # no body (most GETs): nothing to wait for
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.body.stream():
                size += len(chunk)
                if size > self._max_body:
                    return 413
                chunks.append(chunk)
        except BodyTooLarge:
            return 413
        except BodyIncomplete:
            return 400
        return b"".join(chunks)

    async def _error(self, request: Request, status: int) -> Response:
        if self.error_responder is not None:
            return await self.error_responder(request, status)
        custom = await self.render_error_page(request, status)
        if custom is not None:
            return custom
        reason = HTTPStatus(status).phrase
        return Response(
            status=status,
            headers=[("Content-Type", "text/plain; charset=utf-8")],
            body=f"{status} {reason}\n".encode(),
        )

    # -- in a render thread ------------------------------------------------------

    def _template_name(self, path: Path) -> str:
        name = self._names.get(path)
        if name is None:
            name = Path(os.path.relpath(path, self._root)).as_posix()
            _remember(self._names, path, name)
        return name

    def _sources_of(self, loaded: set[str]) -> tuple[Path, ...]:
        key = frozenset(loaded)
        sources = self._sources.get(key)
        if sources is None:
            sources = tuple(Path(name) for name in sorted(key))
            _remember(self._sources, key, sources)
        return sources

    def _render(
        self,
        request: Request,
        path: Path,
        served_as: str,
        params: dict[str, str],
        body: bytes,
        error_status: int | None,
    ) -> Response | _Aborted:
        """The page; rendered again while another request of the visitor wrote its session
        in between (``sessions``: no lost update), and 503 while the store is unreachable."""
        for _ in range(SESSION_ATTEMPTS):
            try:
                return self._render_once(request, path, served_as, params, body, error_status)
            except SessionConflict:
                continue  # the next render reads what the other request stored
            except SessionStoreDown:
                break
        return _Aborted(503, (), ())

    def _render_once(
        self,
        request: Request,
        path: Path,
        served_as: str,
        params: dict[str, str],
        body: bytes,
        error_status: int | None,
    ) -> Response | _Aborted:
        reuse_key = None if error_status is not None else self.reuse.key(request, path, served_as)
        if reuse_key is not None:
            reused = self.reuse.get(reuse_key)
            if reused is not None:
                return reused
        generation = self.reuse.generation
        with recording() as record:
            loaded = record.files
            page_request = PageRequest(request, body, self._form_limits)
            session = self.sessions.open(page_request.session_cookies)
            page = PageResponse()
            context: dict[str, Any] = page_context(page_request, params, session, page)
            if error_status is not None:
                page.status = error_status
                context["error"] = {
                    "status": error_status,
                    "reason": HTTPStatus(error_status).phrase,
                }
            name = self._template_name(path)
            secure = request.scheme == "https"
            try:
                text = self.content.render(name, path, context)
                headers = page.header_list()
            except PageRedirect as jump:
                jump_cookies = [*page.cookies, *self.sessions.commit(session, secure=secure)]
                return Response(
                    status=jump.status,
                    headers=[
                        ("Location", jump.location),
                        ("Cache-Control", "no-store"),
                        ("X-Content-Type-Options", "nosniff"),
                    ]
                    + [("Set-Cookie", cookie) for cookie in jump_cookies],
                    sources=self._sources_of(loaded),
                    inputs=_inputs(record.inputs, session.used),
                )
            except PageAbort as stop:
                stop_cookies = (*page.cookies, *self.sessions.commit(session, secure=secure))
                return _Aborted(stop.status, stop_cookies, self._sources_of(loaded))
            except SessionProblem:
                raise  # the store's, not the template's: see _render
            except jinja2.TemplateNotFound as error:
                if error.name == name and not os.path.isfile(path):
                    # The page went away between resolving and rendering.
                    return _Aborted(404, (), ())
                return self._failed(error, path, loaded, request)
            except Exception as error:
                return self._failed(error, path, loaded, request)
            cookies = self.sessions.commit(session, secure=secure)
        if error_status is not None:
            page.status = error_status
        headers = _page_headers(served_as, headers, cookies)
        if self._config.headers:
            served = Path(name).with_name(served_as).as_posix()
            headers = apply_headers(headers, extra_headers(self._config, served))
        response = Response(
            status=page.status,
            headers=headers,
            body=text.encode("utf-8"),
            sources=self._sources_of(loaded),
            warnings=tuple(record.warnings),
            inputs=_inputs(record.inputs, session.used),
        )
        if reuse_key is not None and not (
            # (``response.headers.update(...)`` sets headers without a setter.)
            record.volatile or session.used or cookies or page.changed or page.headers
        ):
            self.reuse.keep(reuse_key, response, loaded, generation, by_query=record.by_query)
        return response

    def _failed(self, error: Exception, page: Path, loaded: set[str], request: Request) -> Response:
        problem = describe(error, self._root, page, loaded)
        log_problem(problem)
        if problem.path is not None:
            # The failing file itself, so that saving a fix reloads the error page.
            loaded.add(str(problem.path))
        return problem_response(problem, self._sources_of(loaded), client=request.client)


def _inputs(read: set[str], session_used: bool) -> frozenset[str]:
    """What of the request a render read (``Response.inputs``), the session included."""
    return frozenset(read | {"session"}) if session_used else frozenset(read)


def _remember(table: dict[K, V], key: K, value: V) -> None:
    if len(table) >= MEMO_LIMIT:
        table.clear()
    table[key] = value


def _page_headers(
    served_as: str, own: list[tuple[str, str]], cookies: list[str]
) -> list[tuple[str, str]]:
    """Content type from the served name, the page's own headers, then the session cookie.

    A page is made per request, so caches must always ask again ("no-cache");
    a response that sets cookies is never stored at all ("no-store").
    """
    named = {name.lower() for name, _ in own}
    headers = []
    if "content-type" not in named:
        headers.append(("Content-Type", content_type(served_as)))
    if "cache-control" not in named:
        sets_cookie = "set-cookie" in named or bool(cookies)
        headers.append(("Cache-Control", "no-store" if sets_cookie else "no-cache"))
    headers.append(("X-Content-Type-Options", "nosniff"))
    headers.extend(own)
    headers.extend(("Set-Cookie", cookie) for cookie in cookies)
    return headers
