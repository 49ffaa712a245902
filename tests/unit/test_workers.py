"""--workers without processes: the option, the check on sessions, what a worker is sent,
how exits read in the log and how long a restart waits."""

from __future__ import annotations

import pickle
import signal
from pathlib import Path

import pytest

from siteserve.assemble import new_run_secrets
from siteserve.config import ConfigError, build_config
from siteserve.options import SessionStore, Workers, cpu_count
from siteserve.server.worker import WorkerSpec, dumps
from siteserve.server.workers import (
    FIRST_RESTART_DELAY,
    HEALTHY_AFTER,
    MAX_RESTART_DELAY,
    banner_note,
    describe_exit,
    restart_delay,
)


def test_workers_is_a_count_or_auto() -> None:
    kind = Workers()
    assert kind.parse("3") == 3 and kind.parse(2) == 2
    assert kind.parse("auto") == cpu_count() >= 1
    for bad in ("0", 0, "-1", "two", True, 1.5):
        with pytest.raises(ConfigError, match="workers must be a whole number of 1 or more"):
            kind.parse(bad)
    with pytest.raises(ConfigError, match="at most 256"):
        kind.parse(1000)


def test_more_than_one_worker_needs_sessions_they_all_reach(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        build_config(tmp_path, workers=2)
    message = str(error.value)
    assert message.startswith("2 workers cannot share sessions kept in memory")
    assert 'sessions = "_sessions.db"' in message and "redis://" in message
    assert "\n" not in message
    assert build_config(tmp_path, workers=2, sessions="_s.db").workers == 2
    assert build_config(tmp_path, workers=2, sessions="redis://127.0.0.1:6379/0").workers == 2
    assert build_config(tmp_path).workers == 1
    (tmp_path / "siteserve.toml").write_text('workers = 3\nsessions = "_s.db"\n')
    with pytest.raises(ConfigError, match="unknown key or table workers"):
        build_config(tmp_path)  # a [server] key, not a top-level one
    (tmp_path / "siteserve.toml").write_text('sessions = "_s.db"\n[server]\nworkers = "auto"\n')
    assert build_config(tmp_path).workers == cpu_count()


def test_a_redis_url_is_checked_and_is_no_file_to_keep_private(tmp_path: Path) -> None:
    kind = SessionStore(secret="sessions file")
    assert kind.parse("redis://cache.internal:6379/2") == "redis://cache.internal:6379/2"
    assert kind.location(tmp_path, "redis://cache.internal:6379/2") is None
    assert kind.location(tmp_path, "_s.db") == tmp_path / "_s.db"
    for bad in ("redis://host:port/0", "redis:///0", "redis://host/db1"):
        with pytest.raises(ConfigError, match="not a Redis URL"):
            kind.parse(bad)
    with pytest.raises(ConfigError, match="a SQLite file or redis://HOST:PORT/DB"):
        kind.parse("memcached://host")


def test_a_worker_gets_the_whole_config_pickled(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text('[site]\ntitle = "Mine"\n[limits]\nmax_body = 9\n')
    config = build_config(tmp_path, workers=2, sessions="_s.db", port=0)
    shared = new_run_secrets(build_config(tmp_path, share_link="ro"))
    spec = WorkerSpec(config, 2, 8123, None, log_requests=True, shared=shared)
    back = pickle.loads(dumps(spec))
    assert back == spec
    assert back.config.site["title"] == "Mine" and back.config.limits.max_body == 9
    assert back.shared == shared and shared.link is not None
    with pytest.raises(TypeError):
        back.config.site["title"] = "changed"  # type: ignore[index]  # still read-only


def test_exits_read_as_what_happened() -> None:
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(1) == "exited with status 1"
    assert describe_exit(0) == "exited with status 0"


def test_a_worker_that_keeps_dying_young_waits_longer_each_time() -> None:
    assert restart_delay(HEALTHY_AFTER, 5) == 0.0
    delays = [restart_delay(0.1, deaths) for deaths in range(10)]
    assert delays[0] == FIRST_RESTART_DELAY
    assert delays == sorted(delays) and delays[-1] == MAX_RESTART_DELAY


def test_the_banner_says_how_many_and_where_sessions_are(tmp_path: Path) -> None:
    sqlite = build_config(tmp_path, workers=4, sessions="_s.db")
    assert banner_note(sqlite).plain == "  Workers  4 processes, sessions in SQLite (_s.db)"
    redis = build_config(tmp_path, workers=2, sessions="redis://:pw@h:1/0")
    assert banner_note(redis).plain == "  Workers  2 processes, sessions in Redis"
