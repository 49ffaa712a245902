"""Listening, the timeout sweeper, signals and graceful shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from siteserve.config import Config, ConfigError
from siteserve.layers import App
from siteserve.server import memory
from siteserve.server.answers import AnswerCache
from siteserve.server.background import background_executor, favour_the_loop
from siteserve.server.protocol import HttpConnection
from siteserve.server.state import AccessLog, AccessRecord, ServerState
from siteserve.server.tls_sniff import Listener, listen_tls

__all__ = ["AccessRecord", "Server", "ServerInfo", "run"]

#: How many ports above a taken one are tried before giving up.
PORT_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class ServerInfo:
    host: str
    port: int
    requested_port: int
    scheme: str


def _bind(host: str, port: int, *, listen: bool, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            # Worker processes each listen on the port; the kernel spreads connections.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6 and host == "::":
            # "::" means every address, IPv4 ones included.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind((host, port))
        if listen:
            sock.listen(1024)
            sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_socket(
    host: str, port: int, *, strict: bool, listen: bool = True, reuse_port: bool = False
) -> socket.socket:
    """Bind ``port``, or the next free one unless ``strict``; errors are ConfigError.

    ``listen=False`` only reserves the port (``--workers`` picks it so);
    ``reuse_port`` lets the listening sockets of worker processes share it.
    """
    last = port if port == 0 else min(port + PORT_ATTEMPTS, 65536)
    candidate = port
    while True:
        try:
            return _bind(host, candidate, listen=listen, reuse_port=reuse_port)
        except OSError as error:
            if error.errno == errno.EADDRINUSE and not strict and candidate + 1 < last:
                candidate += 1
                continue
            if error.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} is already in use") from None
            if error.errno == errno.EADDRNOTAVAIL or isinstance(error, socket.gaierror):
                raise ConfigError(f"cannot listen on {host}: no such local address") from None
            if error.errno == errno.EACCES:
                raise ConfigError(f"no permission to listen on port {candidate}") from None
            raise ConfigError(f"cannot listen on {host}:{candidate}: {error.strerror}") from None


class Server:
    """A running siteserve: one listening socket, its connections, a sweeper."""

    def __init__(
        self,
        config: Config,
        app: App,
        *,
        access_log: AccessLog | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = config
        self.app = app
        self.access_log = access_log
        self.ssl_context = ssl_context
        self._server: Listener | None = None
        self._state: ServerState | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self.info: ServerInfo | None = None

    async def start(self, sock: socket.socket | None = None) -> ServerInfo:
        loop = asyncio.get_running_loop()
        config = self.config
        if sock is None:
            sock = bind_socket(config.host, config.port, strict=config.strict_port)
        scheme = "https" if self.ssl_context is not None else "http"
        state = ServerState(
            app=self.app, limits=config.limits, loop=loop, scheme=scheme, access_log=self.access_log
        )
        self._state = state
        await self.app.startup()
        if self.ssl_context is None:
            self._server = await loop.create_server(
                lambda: HttpConnection(state), sock=sock, backlog=1024
            )
        else:
            # Also answers a plain http:// request sent to the port (see tls_sniff).
            self._server = await listen_tls(
                loop,
                lambda: HttpConnection(state),
                sock,
                self.ssl_context,
                header_timeout=config.limits.header_timeout,
                max_pending=config.limits.max_connections,
            )
        self._sweeper = loop.create_task(self._sweep(state))
        port = int(sock.getsockname()[1])
        self.info = ServerInfo(
            host=config.host, port=port, requested_port=config.port, scheme=scheme
        )
        return self.info

    @property
    def disconnects(self) -> int:
        """Answers cut short since the start because the client went away."""
        return 0 if self._state is None else self._state.disconnects

    @property
    def answers(self) -> AnswerCache | None:
        """The whole answers kept for repeated requests (None: the app allows no reuse)."""
        return None if self._state is None else self._state.answers

    async def _sweep(self, state: ServerState) -> None:
        limits = state.limits
        interval = max(0.02, min(0.5, limits.header_timeout / 4, limits.keepalive_timeout / 4))
        while True:
            await asyncio.sleep(interval)
            now = state.loop.time()
            for connection in list(state.connections):
                connection.check_deadline(now)

    async def stop(self) -> None:
        """Stop accepting, let answers in flight finish (bounded), then close everything."""
        state = self._state
        if state is None or self._server is None:
            return
        state.shutting_down = True
        self._server.close()
        for connection in list(state.connections):
            connection.shutdown()
        if state.connections:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.shield(state.drained), self.config.limits.shutdown_timeout
                )
        for connection in list(state.connections):
            connection.abort()
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), timeout=1.0)
        await self.app.shutdown()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it installs (less per-request overhead), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def run(
    config: Config,
    app: App,
    *,
    on_ready: Callable[[ServerInfo], None] | None = None,
    access_log: AccessLog | None = None,
    ssl_context: ssl.SSLContext | None = None,
    sock: socket.socket | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then shut down gracefully and return.

    Binding happens before the loop starts, so a taken port is a ConfigError
    raised straight to the CLI. ``sock``: a listening socket bound already (a worker's).
    """
    if sock is None:
        sock = bind_socket(config.host, config.port, strict=config.strict_port)
    memory.tune()  # before the thread pool's threads exist (see server.memory)
    loop = new_event_loop()
    try:
        loop.run_until_complete(
            _serve(
                config, app, sock, on_ready=on_ready, access_log=access_log, ssl_context=ssl_context
            )
        )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _serve(
    config: Config,
    app: App,
    sock: socket.socket,
    *,
    on_ready: Callable[[ServerInfo], None] | None,
    access_log: AccessLog | None,
    ssl_context: ssl.SSLContext | None,
) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
                installed.append(signum)
    # Background work (zips, coding large bodies, uploads) yields the core to the loop.
    loop.set_default_executor(background_executor())
    favour_the_loop()
    server = Server(config, app, access_log=access_log, ssl_context=ssl_context)
    info = await server.start(sock)
    memory.freeze_startup()
    trimmer = memory.Trimmer()
    trimmer.start()
    try:
        if on_ready is not None:
            on_ready(info)
        await stop.wait()
    finally:
        await trimmer.stop()
        await server.stop()
        for signum in installed:
            loop.remove_signal_handler(signum)
