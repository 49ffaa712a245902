"""Where jobs run: in this process, or in one worker process per CPU.

Pages are Jinja rendered by Python, bound by the CPU and the GIL, so a build
renders on processes, each with its own Site. The output does not depend on
which process renders what: every page is rendered for its one canonical URL
at the build's one instant, and the caller sorts whatever it reports.

Worker processes are forked when this process runs no other thread (cheap, and
the modules are already imported); otherwise they come from a fork server, so
that no thread's lock is inherited half-held.
"""

from __future__ import annotations

import gc
import queue
import sys
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from siteserve.build.jobs import CopyFiles, Job, Outcome
from siteserve.build.settings import BuildSettings, available_cpus
from siteserve.build.site_files import TreeSnapshot

if TYPE_CHECKING:
    from multiprocessing.pool import Pool

    from siteserve.build.render import Renderer

#: Jobs sent to a worker at once: enough to pay for the round trip, few enough to
#: keep every worker busy until the end.
MAX_CHUNK = 32
#: Chunks in flight per worker.
DEPTH = 2
#: Files copied in the time a page renders (a small file: a create, a copy, a utime).
COPIES_PER_PAGE = 4


def weight(job: Job) -> int:
    """A job's work in pages: what a chunk of MAX_CHUNK jobs is measured in."""
    if isinstance(job, CopyFiles):
        return max(1, -(-len(job.files) // COPIES_PER_PAGE))
    return 1


class Runner(Protocol):
    def submit(self, jobs: Sequence[Job]) -> None: ...

    def collect(self, wait: bool) -> list[Outcome]:
        """The outcomes that are ready; with ``wait``, at least one unless nothing is pending."""
        ...

    @property
    def busy(self) -> bool:
        """Whether submitted jobs are still pending."""
        ...

    @property
    def hungry(self) -> bool:
        """Whether more jobs could start now."""
        ...

    def close(self) -> None: ...


class SerialRunner:
    """Runs each job in this process, when it is collected."""

    def __init__(self, settings: BuildSettings, snapshot: TreeSnapshot | None = None) -> None:
        self._renderer: Renderer | None = None
        self._settings = settings
        self._snapshot = snapshot
        self._jobs: deque[Job] = deque()

    def submit(self, jobs: Sequence[Job]) -> None:
        self._jobs.extend(jobs)

    def collect(self, wait: bool) -> list[Outcome]:
        if not self._jobs:
            return []
        if self._renderer is None:
            from siteserve.build.render import Renderer

            self._renderer = Renderer(self._settings, self._snapshot)
        batch = [self._jobs.popleft() for _ in range(min(MAX_CHUNK, len(self._jobs)))]
        return self._renderer.run(batch)

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    @property
    def hungry(self) -> bool:
        return len(self._jobs) < MAX_CHUNK

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()


# -- worker processes -----------------------------------------------------------------

_renderer: Renderer | None = None


def _start_worker(settings: BuildSettings, snapshot: TreeSnapshot | None) -> None:
    from siteserve.build.render import Renderer

    global _renderer
    _renderer = Renderer(settings, snapshot)
    # What the worker holds from here on (modules, the Site, its templates once compiled)
    # lives as long as it does: collections need not scan it again and again.
    gc.freeze()


def _run_jobs(jobs: list[Job]) -> list[Outcome]:
    assert _renderer is not None, "worker started without its renderer"
    return _renderer.run(jobs)


def start_method() -> str:
    # Imported here: a build with nothing to render (no change) starts no worker.
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "linux" and "fork" in methods and threading.active_count() == 1:
        return "fork"
    if "forkserver" in methods:
        return "forkserver"
    return "spawn"


class PoolRunner:
    """Jobs in chunks on a pool of worker processes; outcomes come back through a queue."""

    def __init__(
        self, settings: BuildSettings, processes: int, snapshot: TreeSnapshot | None = None
    ) -> None:
        # Imported before the workers fork, so they share it instead of each importing it.
        import multiprocessing

        import siteserve.build.render  # noqa: F401

        context = multiprocessing.get_context(start_method())
        self.processes = processes
        # Frozen while the workers fork: a collection in a worker then never walks (nor
        # writes to, and so copies the pages of) the objects it inherited.
        gc.freeze()
        try:
            self._pool: Pool = context.Pool(processes, _start_worker, (settings, snapshot))
        finally:
            gc.unfreeze()
        self._done: queue.SimpleQueue[list[Outcome] | BaseException] = queue.SimpleQueue()
        self._waiting: deque[Job] = deque()
        self._in_flight = 0

    def submit(self, jobs: Sequence[Job]) -> None:
        self._waiting.extend(jobs)
        self._send()

    def _send(self) -> None:
        while self._waiting and self._in_flight < self.processes * DEPTH:
            # Small chunks while little is queued, so that every worker gets some.
            share = -(-len(self._waiting) // (self.processes * DEPTH))
            size = max(1, min(MAX_CHUNK, share))
            chunk: list[Job] = []
            load = 0
            while self._waiting and load < size:
                job = self._waiting.popleft()
                chunk.append(job)
                load += weight(job)
            self._in_flight += 1
            self._pool.apply_async(
                _run_jobs, (chunk,), callback=self._done.put, error_callback=self._done.put
            )

    def collect(self, wait: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        block = wait and self._in_flight > 0
        while self._in_flight:
            try:
                item = self._done.get(block=block)
            except queue.Empty:
                break
            block = False
            self._in_flight -= 1
            if isinstance(item, BaseException):
                raise item
            outcomes.extend(item)
        self._send()
        return outcomes

    @property
    def busy(self) -> bool:
        return self._in_flight > 0 or bool(self._waiting)

    @property
    def hungry(self) -> bool:
        return not self._waiting and self._in_flight < self.processes * DEPTH

    def close(self) -> None:
        self._pool.close()
        self._pool.join()

    def terminate(self) -> None:
        self._pool.terminate()
        self._pool.join()


def make_runner(
    settings: BuildSettings, snapshot: TreeSnapshot | None = None
) -> Callable[[], Runner]:
    """A factory for the build's runner: started when the first job needs it.

    ``snapshot`` (the walk's view of the site) spares each renderer's resolver a
    system call for every file it looks for.
    """
    processes = settings.jobs or available_cpus()

    def start() -> Runner:
        if processes <= 1:
            return SerialRunner(settings, snapshot)
        return PoolRunner(settings, processes, snapshot)

    return start
