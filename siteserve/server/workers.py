"""``--workers N``: N processes serve one port; the process the user started supervises them.

Sharing the port. On Linux each worker listens on a socket of its own bound
with SO_REUSEPORT, and the kernel spreads new connections over them evenly (a
hash of the addresses), with no thundering herd and no worker taking more than
its share. The supervisor only holds the port: a plain bind picks it (taken
ports are skipped as with one process, so a second siteserve never joins this
one's port), and then that socket allows reuse by the workers, which the kernel
grants to the same user only. Elsewhere (macOS and the BSDs have SO_REUSEPORT,
but it does not spread connections: the newest socket gets them all) the
supervisor listens once and every worker accepts on the socket it inherits.

A worker is a new interpreter (``python -c``), not a fork: nothing of the
supervisor's state, threads or event loop is copied. It gets its Config over a
socketpair, builds the layer stack as one process does (``assemble.build_app``,
its own file watcher included) and serves with ``runner.run`` (``server.worker``). Over the same
socketpair it says when it listens, sends its access records in batches (one
message per event-loop iteration) and reports a start-up error in its own words.
The supervisor prints the one banner once every worker listens, and the one
request log; a start-up error of the first workers is the command's (one line,
status 2).

Live reload. Each worker runs its own watcher, rather than the supervisor
watching and sending change sets to the workers: each worker must invalidate
its own caches on every change anyway, and every worker sees the same file
events, so a tab hears of a change from whichever worker holds its WebSocket.
The cost is N times the inotify watches (one per folder and worker; the
default limit is 8192 on older kernels and far more on newer ones), and a
worker refused a watch polls that folder (``reload.watcher``). What one
worker's page graph learns (which files a page was made from, what it pulled
in) is relayed by the supervisor to the others, so a tab whose WebSocket lands
on another worker than the one that served its page is told what one process
would tell it; the supervisor keeps the latest notes (``bounds.WORKER_GRAPH_NOTES``)
for a worker that starts later, a restarted one, which learns them before it
listens. The watcher's warnings reach the terminal once, not once per worker:
the workers send them here, and one of a kind within ``WARNING_REPEAT_SECONDS``
is printed.

Stopping. Ctrl-C reaches the supervisor only (each worker has a process group of
its own, so a terminal's SIGINT does not hit them half-started); Ctrl-C and
SIGTERM make it send SIGTERM to every worker, which finishes the responses in
flight (up to ``limits.shutdown_timeout``) as one process does; a second Ctrl-C
kills them. A worker whose supervisor was killed sees the socketpair close and
stops as if sent SIGTERM. A worker that dies is started again, with one line in
the log; one that keeps dying at start waits longer each time, up to 30 s.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from types import FrameType
from typing import TYPE_CHECKING

from rich.text import Text

from siteserve import bounds
from siteserve.config import Config, ConfigError
from siteserve.options import is_redis_url
from siteserve.server.runner import ServerInfo, bind_socket
from siteserve.server.state import AccessLog, AccessRecord
from siteserve.server.worker import AccessFields, WorkerSpec, dumps

if TYPE_CHECKING:
    from siteserve.assemble import RunSecrets
    from siteserve.reload.graph import GraphNote

log = logging.getLogger("siteserve.server")

#: The same watcher warning from several workers within this time is printed once.
WARNING_REPEAT_SECONDS = 5.0

#: Whether each worker binds the port itself (Linux) or accepts on the supervisor's socket.
REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
#: A worker that dies this soon after it started is restarted after a growing delay.
HEALTHY_AFTER = 10.0
FIRST_RESTART_DELAY = 0.5
MAX_RESTART_DELAY = 30.0
#: Beyond ``shutdown_timeout``: what a stopping worker gets before it is killed.
KILL_GRACE = 5.0

_WORKER_CODE = "from siteserve.server.worker import worker_main; worker_main()"


def banner_note(config: Config) -> Text:
    """The banner's line about the workers and where they keep sessions."""
    sessions = config.sessions or ""
    where = "Redis" if is_redis_url(sessions) else f"SQLite ({sessions})"
    return Text.assemble(("  Workers  ", "dim"), f"{config.workers} processes, sessions in {where}")


def run_workers(
    config: Config,
    *,
    on_ready: Callable[[ServerInfo], None] | None = None,
    access_log: AccessLog | None = None,
    shared: RunSecrets | None = None,
) -> None:
    """Serve with ``config.workers`` processes until SIGINT or SIGTERM, then stop them all.

    ``shared``: the run's share link and reload token (``assemble.new_run_secrets``),
    the same in every worker; made here when not given.
    """
    if sys.platform == "win32":
        raise ConfigError("--workers needs Linux or macOS; on Windows, serve one process")
    supervisor = Supervisor(config, access_log=access_log, shared=shared)
    with _stop_on_signals(supervisor):
        try:
            info = supervisor.start()
            if info is not None:
                if on_ready is not None:
                    on_ready(info)
                supervisor.serve()
        finally:
            supervisor.stop()


@contextlib.contextmanager
def _stop_on_signals(supervisor: Supervisor) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        supervisor.request_stop()

    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


def describe_exit(status: int) -> str:
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        return f"was killed by {name}"
    return f"exited with status {status}"


def restart_delay(ran_for: float, quick_deaths: int) -> float:
    """How long to wait before starting a worker again: at once, unless it died young."""
    if ran_for >= HEALTHY_AFTER:
        return 0.0
    return min(MAX_RESTART_DELAY, FIRST_RESTART_DELAY * float(2**quick_deaths))


# -- the supervisor ------------------------------------------------------------------------


@dataclass(eq=False, slots=True)
class _Worker:
    number: int
    process: subprocess.Popen[bytes]
    control: Connection
    started: float
    ready: bool = False
    failure: str | None = None
    #: Graph notes the others made after its spec was sent and before it listened.
    missed: deque[GraphNote] = field(
        default_factory=lambda: deque(maxlen=bounds.WORKER_GRAPH_NOTES)
    )


class Supervisor:
    """Starts the workers, relays what they say, restarts the ones that die, stops them all."""

    def __init__(
        self,
        config: Config,
        *,
        access_log: AccessLog | None = None,
        shared: RunSecrets | None = None,
    ) -> None:
        from siteserve.assemble import new_run_secrets

        self.config = config
        self.access_log = access_log
        self.shared = new_run_secrets(config) if shared is None else shared
        self.port = 0
        self._listener: socket.socket | None = None
        self._workers: dict[int, _Worker] = {}
        self._restarts: dict[int, float] = {}
        self._quick_deaths: dict[int, int] = {}
        self._starting = True
        self._start_failure: str | None = None
        self._stopping = False
        self._kill_now = False
        #: What the workers' page graphs learned, for a worker that starts later.
        self._graph_notes: deque[GraphNote] = deque(maxlen=bounds.WORKER_GRAPH_NOTES)
        #: The watcher's warnings printed lately (their kind -> when), see ``_warn``.
        self._warned: dict[str, float] = {}
        self._wake_read, self._wake_write = socket.socketpair()
        self._wake_write.setblocking(False)

    @property
    def pids(self) -> list[int]:
        return [worker.process.pid for worker in self._workers.values()]

    def request_stop(self) -> None:
        """Stop gracefully; asked again while stopping, kill the workers (a second Ctrl-C)."""
        if self._stopping:
            self._kill_now = True
        self._stopping = True
        with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
            self._wake_write.send(b"\0")

    def start(self) -> ServerInfo | None:
        """Hold the port, start every worker and wait until each listens.

        None when a stop was asked meanwhile; a ConfigError with the first
        worker's own message when one could not start.
        """
        config = self.config
        self._listener = _hold_port(config)
        self.port = int(self._listener.getsockname()[1])
        for number in range(1, config.workers + 1):
            self._spawn(number)
        while not self._stopping:
            if self._start_failure is not None:
                raise ConfigError(self._start_failure)
            if len(self._workers) == config.workers and all(
                worker.ready for worker in self._workers.values()
            ):
                self._starting = False
                scheme = "https" if config.tls else "http"
                return ServerInfo(config.host, self.port, config.port, scheme)
            self._pump(None)
        return None

    def serve(self) -> None:
        """Relay logs and restart dead workers until a stop is asked."""
        while not self._stopping:
            now = time.monotonic()
            for number, due in sorted(self._restarts.items()):
                if due <= now:
                    del self._restarts[number]
                    self._restart(number)
            waits = [due - now for due in self._restarts.values()]
            self._pump(max(0.0, min(waits)) if waits else None)

    def stop(self) -> None:
        """SIGTERM to every worker, their last log lines relayed, then kill what is left."""
        self._stopping = True
        for worker in self._workers.values():
            with contextlib.suppress(OSError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.config.limits.shutdown_timeout + KILL_GRACE
        while self._workers and not self._kill_now:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._pump(left)
        for worker in list(self._workers.values()):
            with contextlib.suppress(OSError):
                worker.process.kill()
            self._exited(worker)
        for sock in (self._listener, self._wake_read, self._wake_write):
            if sock is not None:
                sock.close()
        self._listener = None

    # -- workers -------------------------------------------------------------------------

    def _spawn(self, number: int) -> None:
        assert self._listener is not None
        parent_end, child_end = socket.socketpair()
        inherited = None if REUSE_PORT else self._listener.fileno()
        passed = [child_end.fileno()] + ([] if inherited is None else [inherited])
        logs = self.access_log is not None
        notes = tuple(self._graph_notes)
        spec = WorkerSpec(self.config, number, self.port, inherited, logs, self.shared, notes)
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_CODE, str(child_end.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=passed,
                # Not in the terminal's process group: Ctrl-C is the supervisor's to relay.
                process_group=0,
            )
        except BaseException:
            parent_end.close()
            raise
        finally:
            child_end.close()
        control = Connection(parent_end.detach())
        self._workers[number] = _Worker(number, process, control, time.monotonic())
        with contextlib.suppress(OSError):  # it died at once: its end of file comes next
            control.send_bytes(dumps(spec))

    def _restart(self, number: int) -> None:
        try:
            self._spawn(number)
        except OSError as error:
            delay = self._next_delay(number, 0.0)
            message = "worker %d could not be started: %s; trying again in %.1f s"
            log.warning(message, number, error.strerror, delay)
            self._restarts[number] = time.monotonic() + delay

    def _next_delay(self, number: int, ran_for: float) -> float:
        deaths = 0 if ran_for >= HEALTHY_AFTER else self._quick_deaths.get(number, 0)
        self._quick_deaths[number] = 0 if ran_for >= HEALTHY_AFTER else deaths + 1
        return restart_delay(ran_for, deaths)

    def _pump(self, timeout: float | None) -> None:
        """Wait for a message, a worker's exit or a wake-up, and handle what came."""
        by_control = {worker.control: worker for worker in self._workers.values()}
        for ready in wait([self._wake_read, *by_control], timeout):
            if ready is self._wake_read:
                with contextlib.suppress(OSError):
                    self._wake_read.recv(4096)
                continue
            assert isinstance(ready, Connection)
            self._read(by_control[ready])

    def _read(self, worker: _Worker) -> None:
        try:
            while worker.control.poll():
                self._handle(worker, worker.control.recv())
        except (EOFError, OSError):
            self._exited(worker)

    def _handle(self, worker: _Worker, message: tuple[object, ...]) -> None:
        kind = message[0]
        if kind == "log" and self.access_log is not None:
            records: list[AccessFields] = message[1]  # type: ignore[assignment]
            for fields in records:
                self.access_log(AccessRecord(*fields))
        elif kind == "graph":
            # Another worker's page graph learned this: every other worker learns it too,
            # and one started later (a restart) learns it from its spec.
            notes: list[GraphNote] = message[1]  # type: ignore[assignment]
            self._graph_notes.extend(notes)
            for other in self._workers.values():
                if other is worker:
                    continue
                if not other.ready:
                    other.missed.extend(notes)  # it reads nothing from us before it listens
                    continue
                with contextlib.suppress(OSError):  # it died: its end of file comes next
                    other.control.send(message)
        elif kind == "warn":
            level, text, what = message[1:4]
            if isinstance(level, int):
                self._warn(level, str(text), str(what))
        elif kind == "ready":
            worker.ready = True
            if worker.missed:
                with contextlib.suppress(OSError):
                    worker.control.send(("graph", list(worker.missed)))
                worker.missed.clear()
        elif kind == "failed":
            worker.failure = str(message[1])

    def _warn(self, level: int, text: str, kind: str) -> None:
        """Print a watcher's warning, unless one of its kind was printed just now."""
        from siteserve.server.worker import WATCHER_LOGGER

        now = time.monotonic()
        if now - self._warned.get(kind, -WARNING_REPEAT_SECONDS) < WARNING_REPEAT_SECONDS:
            return
        if len(self._warned) > 64:
            self._warned.clear()
        self._warned[kind] = now
        logging.getLogger(WATCHER_LOGGER).log(level, "%s", text)

    def _exited(self, worker: _Worker) -> None:
        """The worker's socketpair closed: it has exited (or is about to)."""
        if self._workers.get(worker.number) is not worker:
            return
        del self._workers[worker.number]
        worker.control.close()
        try:
            status = worker.process.wait(KILL_GRACE)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            status = worker.process.wait()
        if self._stopping:
            return
        how = describe_exit(status)
        if self._starting:
            self._start_failure = worker.failure or f"worker {worker.number} {how} at start"
            return
        ran_for = time.monotonic() - worker.started
        delay = self._next_delay(worker.number, ran_for)
        if worker.ready:
            log.warning(
                "worker %d (pid %d) %s; starting a new one", worker.number, worker.process.pid, how
            )
        else:
            reason = worker.failure or how
            message = "worker %d could not start: %s; trying again in %.1f s"
            log.warning(message, worker.number, reason, delay)
        self._restarts[worker.number] = time.monotonic() + delay


def _hold_port(config: Config) -> socket.socket:
    if not REUSE_PORT:
        return bind_socket(config.host, config.port, strict=config.strict_port)
    # A plain bind fails where anyone listens, so the port is picked as one process
    # would; only then may our workers (the same user, SO_REUSEPORT) bind it too.
    # This socket never listens, so the kernel never hands it a connection.
    sock = bind_socket(config.host, config.port, strict=config.strict_port, listen=False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    return sock
