"""Sessions in a real redis-server: the store, a start-up error, and Redis going away."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from siteserve.config import ConfigError
from siteserve.site.session_redis import KEY_PREFIX, RedisStore, shown_url
from siteserve.site.sessions import IDLE_SECONDS, NEW
from tests.conftest import RunningServer
from tests.integration.redis_server import RedisServer, free_port, running_redis
from tests.integration.test_cli import _env

DEADLINE = 30.0
COUNTER = "{% do session.update(n=session.get('n', 0) + 1) %}n={{ session.n }}"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop on a thread of its own, as the server runs one."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(DEADLINE)
    running.close()


@pytest.fixture
def store(redis: RedisServer, loop: asyncio.AbstractEventLoop) -> Iterator[RedisStore]:
    made = RedisStore(redis.url)
    asyncio.run_coroutine_threadsafe(made.startup(), loop).result(DEADLINE)
    yield made
    asyncio.run_coroutine_threadsafe(made.shutdown(), loop).result(DEADLINE)


def test_versions_conflicts_and_json_as_in_the_other_stores(store: RedisStore) -> None:
    assert store.load("a") is None
    assert store.save("a", {"cart": ["tea"], "n": 1}, expect=NEW)
    found = store.load("a")
    assert found == {"cart": ["tea"], "n": 1} and found is not None and found.version == 1
    assert not store.save("a", {}, expect=NEW)
    assert store.save("a", {"n": 2}, expect=1)
    assert not store.save("a", {"n": 3}, expect=1), "written since version 1 was read"
    assert not store.delete("a", expect=1)
    assert store.delete("a", expect=2)
    assert store.load("a") is None and store.delete("a", expect=2)
    assert store.save("b", {"n": 1}) and store.save("b", {"n": 2})  # unconditional
    assert store.load("b") == {"n": 2}


def test_each_write_keeps_the_session_fourteen_days(store: RedisStore, redis: RedisServer) -> None:
    import redis as redis_py

    store.save("kept", {"n": 1}, expect=NEW)
    with redis_py.Redis(port=redis.port) as plain:
        plain.expire(KEY_PREFIX + "kept", 60)  # as if 14 days had nearly passed
        assert store.load("kept") == {"n": 1}
        assert 0 < plain.ttl(KEY_PREFIX + "kept") <= 60, "a read does not extend it"
        store.save("kept", {"n": 2}, expect=1)
        assert IDLE_SECONDS - 60 < plain.ttl(KEY_PREFIX + "kept") <= IDLE_SECONDS


def test_a_call_on_the_event_loop_itself_is_refused(
    store: RedisStore, loop: asyncio.AbstractEventLoop
) -> None:
    async def on_the_loop() -> None:
        store.load("x")

    with pytest.raises(RuntimeError, match="render threads"):
        asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(DEADLINE)


def test_passwords_are_not_shown() -> None:
    assert shown_url("redis://:secret@db.internal:6379/1") == "redis://:***@db.internal:6379/1"
    assert shown_url("redis://ann:secret@[::1]:6379/0") == "redis://ann:***@[::1]:6379/0"
    assert shown_url("redis://db:6379/0") == "redis://db:6379/0"


def test_no_redis_at_start_is_a_start_up_error(loop: asyncio.AbstractEventLoop) -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ConfigError, match=r"^sessions: cannot reach Redis at redis://127\.0\.0"):
        asyncio.run_coroutine_threadsafe(store.startup(), loop).result(DEADLINE)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_the_command_says_so_in_one_line_and_exits_2(tmp_path: Path, workers: str) -> None:
    (tmp_path / "siteserve.toml").write_text(f'sessions = "redis://127.0.0.1:{free_port()}/0"\n')
    done = subprocess.run(
        [sys.executable, "-m", "siteserve", str(tmp_path), "-p", "0", "--workers", workers],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_env(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("siteserve: error: sessions: cannot reach Redis at redis://127.0.0.1:")


def test_while_redis_is_away_session_pages_answer_503_and_files_are_served(
    tmp_path: Path,
    redis: RedisServer,
    serve_site: Callable[..., RunningServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (root / "count.html.jinja").write_text(COUNTER)
    (root / "plain.html.jinja").write_text("no session")
    (root / "file.txt").write_text("static")
    server = serve_site(root, sessions=redis.url)
    caplog.set_level(logging.WARNING, logger="siteserve.site")
    with httpx.Client(base_url=server.base_url, timeout=DEADLINE) as client:
        assert client.get("/count").text == "n=1"
        assert client.get("/count").text == "n=2"
        redis.stop()
        for _ in range(3):
            away = client.get("/count")
            assert away.status_code == 503
            assert "503" in away.text
        assert client.get("/file.txt").text == "static"
        assert client.get("/plain").text == "no session"
        redis.start()  # the same port; an empty Redis (no persistence)
        back = client.get("/count")
        assert back.status_code == 200 and back.text == "n=1"
    said = [record.getMessage() for record in caplog.records]
    assert sum("cannot be reached" in message for message in said) == 1
    assert said.count(f"sessions: Redis at {redis.url} is back") == 1
