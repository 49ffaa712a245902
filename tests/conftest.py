"""Shared fixtures: a real siteserve on a real socket (port 0), in a background thread.

Every server loop started here reports what reaches its exception handler (a task
that failed unseen, a callback that raised, a transport error asyncio could not
place): ``_no_loop_errors`` fails the test that caused it.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from siteserve.assemble import build_app
from siteserve.config import Config, build_config
from siteserve.layers import App, Layer
from siteserve.server.runner import Server, bind_socket, new_event_loop
from siteserve.server.state import AccessRecord

START_DEADLINE = 10.0

LayerT = TypeVar("LayerT", bound=App)


def find_layer(app: App, kind: type[LayerT]) -> LayerT:
    """The app of type ``kind`` in the stack ``app`` tops (outermost first); fails if none."""
    current: App = app
    while not isinstance(current, kind):
        assert isinstance(current, Layer), f"no {kind.__name__} in the stack"
        layer: Layer[App] = current
        current = layer.inner
    return current


#: What reached a server loop's exception handler during the running test.
LOOP_ERRORS: list[dict[str, Any]] = []
#: Whether a server loop ran during the running test.
_LOOPS_STARTED: list[bool] = []


def record_loop_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Note every call of ``loop``'s exception handler (and still call the one it had)."""
    previous = loop.get_exception_handler()

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        LOOP_ERRORS.append(context)
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    loop.set_exception_handler(record)
    _LOOPS_STARTED.append(True)


@pytest.fixture(autouse=True)
def _no_loop_errors() -> Iterator[None]:
    """Fail a test when anything reached the exception handler of a server it ran."""
    LOOP_ERRORS.clear()
    _LOOPS_STARTED.clear()
    yield
    if not _LOOPS_STARTED:
        return
    # A task that failed unseen is reported when it is collected.
    gc.collect()
    found = [f"{context.get('message')}: {context.get('exception')!r}" for context in LOOP_ERRORS]
    LOOP_ERRORS.clear()
    if found:
        pytest.fail("the server loop's exception handler was called:\n" + "\n".join(found))


def wait_until(condition: Callable[[], bool], deadline: float = START_DEADLINE) -> None:
    """Poll ``condition`` until it holds; AssertionError when ``deadline`` seconds pass."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("condition not met before the deadline")
        threading.Event().wait(0.01)


@dataclass
class RunningServer:
    port: int
    app: App
    config: Config
    server: Server
    records: list[AccessRecord] = field(default_factory=list)
    _stop: Callable[[], None] = lambda: None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    def stop(self) -> None:
        self._stop()


@contextmanager
def running_server(app: App, config: Config, port: int = 0) -> Iterator[RunningServer]:
    """Run ``app`` with the real server on 127.0.0.1, port 0, until the block ends.

    ``port`` binds a given port instead: only to restart on the port a test got before.
    """
    sock = bind_socket("127.0.0.1", port, strict=True)
    port = int(sock.getsockname()[1])
    records: list[AccessRecord] = []
    server = Server(config, app, access_log=records.append)
    handle = RunningServer(port=port, app=app, config=config, server=server, records=records)
    ready = threading.Event()
    failure: list[BaseException] = []
    loop = new_event_loop()
    record_loop_errors(loop)

    def serve() -> None:
        asyncio.set_event_loop(loop)

        async def main() -> None:
            try:
                await server.start(sock)
            except BaseException as error:
                failure.append(error)
                raise
            finally:
                ready.set()

        try:
            loop.run_until_complete(main())
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name=f"siteserve-test-{port}", daemon=True)
    thread.start()
    if not ready.wait(START_DEADLINE) or failure:
        raise RuntimeError(f"server did not start: {failure}")
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True

        async def shutdown() -> None:
            await server.stop()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        thread.join(START_DEADLINE + config.limits.shutdown_timeout)

    handle._stop = stop
    try:
        yield handle
    finally:
        stop()


@pytest.fixture
def serve_site() -> Iterator[Callable[..., RunningServer]]:
    """Factory: ``serve_site(root, **options)`` serves a folder as the CLI would.

    Live reload is off unless ``reload=True`` is passed, so HTTP tests see bodies as on disk.
    """
    with_stack: list[Any] = []

    def start(root: Path, **options: Any) -> RunningServer:
        options.setdefault("reload", False)
        config = build_config(Path(root), port=0, **options)
        context = running_server(build_app(config), config)
        with_stack.append(context)
        return context.__enter__()

    yield start
    while with_stack:
        with_stack.pop().__exit__(None, None, None)
