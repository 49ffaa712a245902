"""Live reload around the Site: the same App, plus a script in every page and a WebSocket.

``ReloadApp`` answers two reserved URLs itself (the client script and its
WebSocket) and passes everything else to the Site, once and unchanged. The
script goes into HTML files inside the Site's pipeline (the injector is its
HTML transform, see ``assemble.build_app``), so their 304s and codings come
from there; answers made for one request (pages, listings, error pages) get it
on the way out. Each answer records which files the page was made from. On
each change set it first invalidates the Site's caches, so the first request
after a change never sees old content, then tells each open tab what to do:
reload, swap stylesheets, refresh images, or nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from siteserve.config import Config
from siteserve.hosts import AllowedHosts
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.http.writer import text_response
from siteserve.layers import App, Layer
from siteserve.reload import inject
from siteserve.reload.changes import (
    REBUILD_MAX_WAIT_SECONDS,
    ChangeSet,
    Debouncer,
    IgnoreRules,
)
from siteserve.reload.graph import GraphNote, PageGraph, Repeat, kind_of
from siteserve.reload.hold import HoldRule
from siteserve.reload.repeats import PageRepeats
from siteserve.reload.watcher import Watcher
from siteserve.reload.websocket import WebSocket, accept
from siteserve.reload.ws_token import socket_token_response
from siteserve.server.background import at_loop_priority
from siteserve.site import assets, conditional
from siteserve.site.errors import builtin_error

log = logging.getLogger("siteserve.reload")

PREFIX = "/__siteserve/"
SCRIPT_PATH = inject.RELOAD_SCRIPT_PATH
#: The in-place update of an HTML change, imported by the client script when first needed.
MORPH_PATH = "/__siteserve/morph.js"
SOCKET_PATH = "/__siteserve/ws"
#: Where a page of ours asks for the socket's token (see ``reload.ws_token``).
TOKEN_PATH = "/__siteserve/ws-token"
#: A request that arrives mid-burst waits this long at most for the burst to settle.
SETTLE_TIMEOUT = REBUILD_MAX_WAIT_SECONDS + 0.5


class _Burst:
    """Who was told what during one burst of changes, so nobody is told twice."""

    __slots__ = ("clients", "reloaded", "started", "updated")

    def __init__(self, clients: set[Client]) -> None:
        self.clients = clients
        self.started = time.monotonic()
        self.reloaded = 0
        self.updated: dict[Client, set[str]] = {}


class Client:
    """One open tab: its socket, the page it shows and the scripts it runs."""

    __slots__ = ("caught_up", "page", "reloading", "scripts", "socket")

    def __init__(self, socket: WebSocket) -> None:
        self.socket = socket
        self.reloading = False
        self.page: str | None = None
        self.scripts: tuple[str, ...] = ()
        #: The last change set (its number) this tab was told of on saying hello.
        self.caught_up = 0


class ReloadApp(Layer[App]):
    """Live reload around ``inner`` (the sharing layer, around the Site)."""

    def __init__(
        self,
        inner: App,
        config: Config,
        *,
        poll: bool | None = None,
        hosts: AllowedHosts | None = None,
        token: str | None = None,
    ) -> None:
        super().__init__(inner)
        self.config = config
        #: The server's names (the socket's Origin must be one); None: from the config.
        self.hosts = (
            hosts if hosts is not None else AllowedHosts.for_bind(config.host, config.allowed_hosts)
        )
        #: Every socket must carry this; a restarted server has a new one. Given: the one
        #: all workers of the run share (``assemble.RunSecrets``).
        self.token = token if token is not None else secrets.token_urlsafe(32)
        #: With ``--workers``, what this worker's graph learns goes to ``share_note`` (the
        #: worker sends it to the others, which ``graph.learn`` it): a tab's socket may land
        #: on a worker that did not serve its page.
        self.graph = PageGraph(config.root, shared=config.workers > 1)
        self.share_note: Callable[[GraphNote], None] | None = None
        #: Which requests a burst in progress holds back (those it can affect).
        self.hold = HoldRule(config.root, self.graph)
        #: Requests waiting for a burst to settle now (tests wait for it, never for a time).
        self.held = 0
        #: Held requests start one per turn of the loop (``_after_settling``).
        self._released = asyncio.Lock()
        self.injector = inject.Injector()
        #: What was sent for renders the Site answers again (``reload.repeats``).
        self.repeats = PageRepeats()
        self.clients: set[Client] = set()
        self._poll = config.poll if poll is None else poll
        ignored = [config.root / config.sessions] if config.sessions else []
        ignored += [path.with_name(path.name + tail) for path in ignored for tail in _SQLITE]
        self.ignore = IgnoreRules(config.root, config.ignore, ignored)
        self.debouncer: Debouncer | None = None
        self.watcher: Watcher | None = None
        self._burst: _Burst | None = None
        #: The last change sets (number, when their burst began, files), for tabs that
        #: connect late.
        self._recent: deque[tuple[int, float, frozenset[Path]]] = deque(maxlen=64)
        self._change_sets = 0
        #: Called after each change set has been handled (the console, tests).
        self.listeners: list[Callable[[ChangeSet], None]] = []
        #: The client's modules: URL -> (bytes, ETag).
        self._scripts = {
            url: (script, '"' + hashlib.sha256(script).hexdigest()[:20] + '"')
            for url, script in (
                (SCRIPT_PATH, assets.read_bytes("reload.js")),
                (MORPH_PATH, assets.read_bytes("morph.js")),
            )
        }

    # -- App protocol: body_limit is the inner app's ---------------------------------

    async def startup(self) -> None:
        await self.inner.startup()
        loop = asyncio.get_running_loop()
        self.debouncer = Debouncer(self.apply, self.ignore, on_progress=self.progress)
        self.watcher = Watcher(
            self.config.root, self.debouncer.add, loop=loop, ignore=self.ignore, poll=self._poll
        )
        # Adding inotify watches walks the whole tree: keep the loop free meanwhile. Not
        # from the background pool: the observers' threads would inherit its lower priority.
        await at_loop_priority(self.watcher.start)
        self.debouncer.track_close = self.watcher.reports_close

    async def shutdown(self) -> None:
        if self.watcher is not None:
            await asyncio.to_thread(self.watcher.stop)
            self.watcher = None
        if self.debouncer is not None:
            self.debouncer.close()
        for client in list(self.clients):
            # 1001 "going away": the tab keeps trying and reloads when we are back.
            client.socket.close(1001, "server stopping")
        self.clients.clear()
        await self.inner.shutdown()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.path.startswith(PREFIX):
            if request.path in self._scripts:
                return self._script_response(request)
            if request.path == SOCKET_PATH:
                return accept(request, self._connected, token=self.token, hosts=self.hosts)
            if request.path == TOKEN_PATH:
                return socket_token_response(request, self.token, self.hosts)
        debouncer = self.debouncer
        if (
            debouncer is not None
            and debouncer.settling
            and self.hold.holds(request.path, debouncer.pending())
        ):
            return self._after_settling(request)
        return self._handle(request)

    # -- pages -----------------------------------------------------------------------

    async def _after_settling(self, request: Request) -> Response:
        debouncer = self.debouncer
        assert debouncer is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        self.held += 1
        try:
            # Also the next burst that can affect it, when one began before this request's
            # turn came (a writer still going): answered between two bursts, the tab would
            # be told again by the second, and show the change twice.
            while debouncer.settling and self.hold.holds(request.path, debouncer.pending()):
                left = deadline - loop.time()
                if left <= 0 or not await debouncer.wait_settled(left):
                    break
        finally:
            self.held -= 1
        # A settled burst frees every request it held at once; made one after the other
        # they were a run of tens of milliseconds in which no other socket was read. One
        # starts per turn of the loop, so the sockets are polled between two of them.
        async with self._released:
            await asyncio.sleep(0)
        return await _resolved(self._handle(request))

    def _handle(self, request: Request) -> Response | Awaitable[Response]:
        # The Site is asked once, with the request as it came: an HTML file gets the
        # script inside the Site's pipeline (``Injector`` is its HtmlTransform), before
        # validators, conditions, ranges and codings, so its 304s and gzip come from there.
        result = self.inner.handle(request)
        # ``isinstance`` first: a file's answer is a Response, and inspect.isawaitable
        # (an ABC check) was a good part of what reload added to a file request.
        if not isinstance(result, Response) or _streamed_html(result):
            return self._handle_async(request, result)
        return self._respond(request, result)

    async def _handle_async(
        self, request: Request, result: Response | Awaitable[Response]
    ) -> Response:
        response = await _resolved(result)
        if _streamed_html(response):
            response = await inject.collect(response)
        return self._respond(request, response)

    def _respond(self, request: Request, response: Response) -> Response:
        if response.still_valid is None and request.method in ("GET", "HEAD"):
            # A render the Site answers again (``site.reuse``): what was made of it last.
            again = self.repeats.get(request, response, self.graph.epoch)
            if again is not None:
                self.graph.served_again(request.path)
                return again
        page = inject.shows_page(response)
        note = self.graph.record(request, response, page=page)
        if note is not None and self.share_note is not None:
            self.share_note(note)
        still_valid = response.still_valid
        if still_valid is not None:
            # A page's every serving is noted with its time (a tab's catch-up compares it
            # with the last change set): made anew each time. A file's answer may be given
            # again, noted as this one was (``_kept_check``).
            response.still_valid = (
                None if page else self._kept_check(Repeat.of(request, response), still_valid)
            )
        if page and inject.needs_script(response):
            # A page, listing or error page, made for this request: it has no validators,
            # coding or range to keep in step, so the script goes in on the way out.
            if request.method not in ("GET", "HEAD"):
                return self.injector.apply(response, after_post=True)
            epoch = self.graph.epoch
            answer = self.injector.apply(response)
            self.repeats.keep(request, response, answer, epoch)
            return answer
        return response

    def _kept_check(self, repeat: Repeat, still_valid: Callable[[], bool]) -> Callable[[], bool]:
        """Whether a kept answer of a file may go out again (``server.answers``): see
        ``_KeptFile``."""
        debouncer = self.debouncer
        # Made mid-burst: asked again at once, as the burst may still reach it.
        settling = debouncer is not None and debouncer.settling
        return _KeptFile(self, repeat, still_valid, -1 if settling else self.graph.epoch).check

    def reusable_answers(self) -> bool:
        # A file's answer depends on its bytes and the file; what live reload adds per
        # request (the page graph's note, the hold during a burst) ``_kept_check`` does.
        return self.inner.reusable_answers()

    # -- WebSocket clients -----------------------------------------------------------

    def _connected(self, socket: WebSocket) -> None:
        client = Client(socket)
        self.clients.add(client)
        socket.on_message = lambda text: self._hello(client, text)
        socket.on_close = lambda: self.clients.discard(client)

    def _hello(self, client: Client, text: str) -> None:
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "hello":
            return
        page = message.get("page")
        scripts = message.get("scripts", [])
        if isinstance(page, str) and page.startswith("/"):
            client.page = page
        # Hello again on the same socket: the tab showed a change in place (no new page,
        # no new socket) and shows its page as it is now; later changes concern it again.
        client.reloading = False
        if isinstance(scripts, list):
            client.scripts = tuple(s for s in scripts[:256] if isinstance(s, str))
        if client.page is not None:
            self._catch_up(client)
            warnings = self.graph.warnings_for(client.page)
            if warnings:
                client.socket.send(json.dumps({"type": "warnings", "messages": list(warnings)}))

    def _catch_up(self, client: Client) -> None:
        """Tell a tab that just connected about changes since its page was served.

        A save can land between the page's response and its WebSocket's hello
        (a formatter saving twice, a quick second edit); nobody was listening then.
        """
        assert client.page is not None
        served = self.graph.served_at(client.page)
        if served is None:
            return
        # A change set is caught up on once per socket. With --workers, the page a tab
        # shows in place may come from another worker, answered again from its render
        # (no note reaches this worker): the tab's next hello would be told of the same
        # change set again, and again, for as long as its fetches went there.
        missed = [
            (number, paths)
            for number, at, paths in self._recent
            if at >= served and number > client.caught_up
        ]
        if missed:
            client.caught_up = missed[-1][0]
            self._notify(frozenset().union(*(paths for _, paths in missed)), _Burst({client}))

    # -- change sets -----------------------------------------------------------------

    def progress(self, fresh: ChangeSet) -> None:
        """Files joined the burst in progress: tell affected tabs now.

        Their requests arrive while the burst settles and wait for it (see
        ``handle``), so they get the final content after ``apply`` invalidated
        the caches, while the browser's own reload time overlaps the wait.
        """
        if self._burst is None:
            self._burst = _Burst(set(self.clients))
        # Kept answers go out again only once the burst has settled (``_kept_check``).
        self.graph.renote()
        self._notify(fresh.paths, self._burst)

    def apply(self, changes: ChangeSet) -> None:
        """The burst settled: invalidate first, then tell the tabs not told yet."""
        paths = changes.paths
        try:
            self.inner.invalidate(paths)
        except Exception:
            log.exception("invalidating caches after a change failed")
        self.injector.forget(paths)
        self.repeats.clear()
        self.graph.changed()
        burst, self._burst = self._burst, None
        if burst is None:
            burst = _Burst(set(self.clients))
        # Dated from the burst's first event, not from now: with --workers, a tab's
        # page may come from a worker that settled the same burst a little earlier,
        # its render held there until then. A render after the burst began waited
        # for it (``handle``), so it shows the change; dated from now, the tab's
        # second hello (after showing the change in place) would be told of it again,
        # and again, for as long as its fetches went to that other worker.
        self._change_sets += 1
        self._recent.append((self._change_sets, burst.started, paths))
        # Tabs that said hello during the burst but loaded their page before it began.
        for client in self.clients:
            served = self.graph.served_at(client.page) if client.page else None
            if served is not None and served <= burst.started:
                burst.clients.add(client)
        self._notify(paths, burst)
        names = ", ".join(sorted(_short(path, self.config.root) for path in paths)[:5])
        log.info(
            "changed: %s -> %d tab(s) reloaded, %d updated",
            names,
            burst.reloaded,
            len(burst.updated),
        )
        for listener in self.listeners:
            listener(changes)

    def _notify(self, paths: frozenset[Path], burst: _Burst) -> None:
        css = {url for path in paths if kind_of(path) == "css" for url in self._urls(path)}
        images = {url for path in paths if kind_of(path) == "image" for url in self._urls(path)}
        # The root itself: events were lost, every tab reloads (see changes.ChangeSet).
        everything = self.config.root in paths
        # Only tabs open when the burst began: a tab that connects later loaded its
        # page after the burst settled (its request waited), so it is up to date.
        for client in burst.clients:
            if client.socket.closed or client.reloading:
                continue
            if client.page is not None and (
                everything or self.graph.affects(client.page, client.scripts, paths)
            ):
                # Told once: the tab loads its page again (a new client), or shows it in
                # place and says hello again once it has (``_hello``). Only its HTML
                # changed: it may show it in place (it reloads when that is not safe).
                in_place = not everything and self.graph.only_page_changed(
                    client.page, client.scripts, paths
                )
                client.reloading = client.socket.send(_RELOAD if in_place else _RELOAD_FULL)
                burst.reloaded += client.reloading
                continue
            sent = burst.updated.get(client, set())
            new_css, new_images = sorted(css - sent), sorted(images - sent)
            if new_css or new_images:
                burst.updated[client] = sent | css | images
                client.socket.send(
                    json.dumps({"type": "update", "css": new_css, "images": new_images})
                )

    def _urls(self, path: Path) -> list[str]:
        return self.graph.urls_for(path)

    # -- the client's scripts -----------------------------------------------------------

    def _script_response(self, request: Request) -> Response:
        script, etag = self._scripts[request.path]
        headers = [
            ("Content-Type", "text/javascript; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            ("ETag", etag),
            ("X-Content-Type-Options", "nosniff"),
        ]
        if request.method not in ("GET", "HEAD"):
            return text_response(405, "GET only", headers=[("Allow", "GET, HEAD")])
        decision = conditional.evaluate(request.method, request.headers, etag, None)
        if decision.status == 304:
            return Response(304, conditional.not_modified_headers(headers))
        if decision.status == 412:
            return builtin_error(412, message="A precondition of the request does not hold.")
        return Response(200, headers, script)


class _KeptFile:
    """The check of a file's kept answer with live reload on.

    The answer is noted in the page graph as the normal path noted it. While a burst
    settles, it is not given for a URL the burst can affect (``HoldRule``): that request
    takes the normal path, which holds it back. Every other URL keeps its kept answer,
    as the normal path would answer it at once: in the soak, an editor saving every
    0.2 s otherwise sent all 40 clients down the normal path for most of each second,
    and the loop's queue grew the probe's p99 past 50 ms. Both are asked only when the
    graph's epoch moved since the answer was last noted outside a burst: a burst's start
    moves it (``ReloadApp.progress``), and so does anything that may have dropped or
    replaced what the noting put in the graph. Between two moves, giving the answer
    again costs the Site's own check and nothing else. (One object with slots, not a
    closure: the answer cache holds thousands, and each closure was eight objects for
    the collector.)
    """

    __slots__ = ("app", "noted", "repeat", "still_valid")

    def __init__(
        self, app: ReloadApp, repeat: Repeat, still_valid: Callable[[], bool], noted: int
    ) -> None:
        self.app = app
        self.repeat = repeat
        self.still_valid = still_valid
        #: The graph's epoch when the answer was last noted (-1: never yet).
        self.noted = noted

    def check(self) -> bool:
        app = self.app
        graph = app.graph
        if self.noted == graph.epoch:
            return self.still_valid()
        debouncer = app.debouncer
        settling = debouncer is not None and debouncer.settling
        if (
            settling
            and debouncer is not None
            and app.hold.holds(self.repeat.key, debouncer.pending())
        ):
            return False
        if not self.still_valid():
            return False
        note = graph.record_again(self.repeat)
        if note is not None and app.share_note is not None:
            app.share_note(note)
        if not settling:  # (a burst may yet grow to reach it: asked each time till then)
            self.noted = graph.epoch
        return True


_SQLITE = ("-journal", "-wal", "-shm")
_RELOAD = json.dumps({"type": "reload"})
#: A script, module or fetched file changed (or what the page uses is not known): the tab
#: loads its page again, never in place.
_RELOAD_FULL = json.dumps({"type": "reload", "full": True})


async def _resolved(result: Response | Awaitable[Response]) -> Response:
    return result if isinstance(result, Response) else await result


def _streamed_html(response: Response) -> bool:
    return not isinstance(response.body, (bytes, FileBody)) and inject.injectable(response)


def _short(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
