"""One worker process of ``--workers``: what it is told, and how it serves and reports.

The supervisor (``server.workers``) starts ``python -c`` with
:func:`worker_main` and one end of a socketpair, and sends a pickled
:class:`WorkerSpec` over it. The worker builds the app as one process does,
binds the port with SO_REUSEPORT or takes the inherited listening socket, and
serves with ``runner.run``. Over the socketpair it says when it listens, sends
its access records in batches (one message per event-loop iteration) and a
start-up error in its own words. The socketpair closing means the supervisor
is gone: the worker then stops as if sent SIGTERM.

Live reload: what this worker's page graph learns goes up the socketpair too
(batched like the access records), and the supervisor hands it to every other
worker, whose graph learns it (``reload.graph.GraphNote``): a tab whose socket
lands on another worker than the one that served its page is then told exactly
what one process would tell it. The watcher's warnings go up as well, and the
supervisor prints each once (every worker watches the same folder).
"""

from __future__ import annotations

import asyncio
import contextlib
import copyreg
import io
import logging
import pickle
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn

from siteserve.config import Config, ConfigError
from siteserve.server.runner import ServerInfo, bind_socket
from siteserve.server.state import AccessRecord

if TYPE_CHECKING:
    from siteserve.assemble import RunSecrets
    from siteserve.layers import App
    from siteserve.reload.app import ReloadApp
    from siteserve.reload.graph import GraphNote

#: One access record on the wire: method, path, status, size, duration_ms, client.
AccessFields = tuple[str, str, int, int, float, str]


@dataclass(frozen=True, slots=True)
class WorkerSpec:
    """What a worker process is told at start."""

    config: Config
    #: 1 to N, for the log; a restarted worker keeps the number of the one it replaces.
    number: int
    port: int
    #: The listening socket's descriptor when it is inherited, None when the worker binds.
    inherited_fd: int | None
    log_requests: bool
    #: The run's share link and reload token: the same in every worker.
    shared: RunSecrets | None = None
    #: What the other workers' page graphs learned before this one started, oldest first.
    graph_notes: tuple[GraphNote, ...] = ()


def read_only(table: dict[str, object]) -> MappingProxyType[str, object]:
    return MappingProxyType(table)


def _reduce_mapping_proxy(
    proxy: MappingProxyType[str, object],
) -> tuple[Callable[[dict[str, object]], MappingProxyType[str, object]], tuple[dict[str, object]]]:
    # The type itself cannot be pickled by name (it is not in builtins): rebuild it by ours.
    return read_only, (dict(proxy),)


def dumps(spec: WorkerSpec) -> bytes:
    """``spec`` pickled; Config's read-only ``site`` table goes as the dict it wraps."""
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_mapping_proxy}
    pickler.dump(spec)
    return buffer.getvalue()


def worker_main() -> NoReturn:
    """The worker's entry point: ``python -c`` with the socketpair's descriptor."""
    control = Connection(int(sys.argv[1]))
    spec: WorkerSpec = pickle.loads(control.recv_bytes())
    sys.exit(serve_worker(spec, control))


#: The logger whose records (the watcher's) the supervisor prints once for all workers.
WATCHER_LOGGER = "siteserve.reload.watcher"


class ParentChannel:
    """The worker's side of the socketpair: ready, access records and graph notes in
    batches, the watcher's warnings, failures; from the supervisor, other workers' notes."""

    def __init__(self, control: Connection) -> None:
        self._control = control
        self._records: list[AccessFields] = []
        self._notes: list[GraphNote] = []
        self._flush_pending = False
        #: The reload layer whose graph learns the other workers' notes (None: no reload).
        self.reload: ReloadApp | None = None

    def attach(self, app: App) -> None:
        """Share ``app``'s live-reload graph with the other workers (if it has one)."""
        from siteserve.layers import Layer
        from siteserve.reload.app import ReloadApp

        layer: App = app
        while isinstance(layer, Layer):
            if isinstance(layer, ReloadApp):
                self.reload = layer
                layer.share_note = self.note
                logging.getLogger(WATCHER_LOGGER).addHandler(_ToParent(self))
                logging.getLogger(WATCHER_LOGGER).propagate = False
                return
            layer = layer.inner

    def learn(self, notes: Iterable[GraphNote]) -> None:
        """Teach this worker's page graph what the other workers' graphs learned."""
        if self.reload is not None:
            for note in notes:
                self.reload.graph.learn(note)

    def note(self, note: GraphNote) -> None:
        self._notes.append(note)
        self._soon()

    def ready(self, info: ServerInfo) -> None:
        # Anything from the supervisor, or its end closing (it was killed), means: stop.
        asyncio.get_running_loop().add_reader(self._control.fileno(), self._from_parent)
        self._send(("ready",))

    def access(self, record: AccessRecord) -> None:
        r = record
        self._records.append((r.method, r.path, r.status, r.size, r.duration_ms, r.client))
        self._soon()

    def _soon(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_pending = False
        if self._records:
            records, self._records = self._records, []
            self._send(("log", records))
        if self._notes:
            notes, self._notes = self._notes, []
            self._send(("graph", notes))

    def warning(self, level: int, text: str, key: str) -> None:
        """A watcher's warning, for the supervisor to print once (``key``: its kind)."""
        self._send(("warn", level, text, key))

    def failed(self, message: str) -> None:
        self._send(("failed", message))

    def _from_parent(self) -> None:
        try:
            while self._control.poll():
                message = self._control.recv()
                if message[0] == "graph":
                    self.learn(message[1])
        except (EOFError, OSError):
            # The supervisor is gone (killed): stop as if sent SIGTERM.
            asyncio.get_running_loop().remove_reader(self._control.fileno())
            signal.raise_signal(signal.SIGTERM)  # the runner's handler stops gracefully

    def _send(self, message: tuple[object, ...]) -> None:
        with contextlib.suppress(OSError):  # the supervisor is gone: we stop on its EOF
            self._control.send(message)


class _ToParent(logging.Handler):
    """Sends the watcher's records to the supervisor instead of this worker's stderr."""

    def __init__(self, channel: ParentChannel) -> None:
        super().__init__(logging.INFO)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        self._channel.warning(record.levelno, record.getMessage(), str(record.msg))


def serve_worker(spec: WorkerSpec, control: Connection) -> int:
    """Serve as one of the workers until SIGTERM; the exit status (2: could not start)."""
    from siteserve.assemble import build_app
    from siteserve.server.runner import run

    config = spec.config
    channel = ParentChannel(control)
    try:
        app = build_app(config, shared=spec.shared)
        channel.attach(app)
        channel.learn(spec.graph_notes)  # before it listens: its first tab is told right
        ssl_context = None
        if config.tls:
            from siteserve.share.tls import setup_tls  # the certificate the supervisor made

            tls = setup_tls(config)
            ssl_context = None if tls is None else tls.context
        if spec.inherited_fd is not None:
            sock = socket.socket(fileno=spec.inherited_fd)
            sock.setblocking(False)
        else:
            sock = bind_socket(config.host, spec.port, strict=True, reuse_port=True)
        run(
            config,
            app,
            on_ready=channel.ready,
            access_log=channel.access if spec.log_requests else None,
            ssl_context=ssl_context,
            sock=sock,
        )
    except ConfigError as error:
        channel.failed(str(error))
        return 2
    finally:
        channel.flush()
    return 0
