"""Sessions shared by processes: two siteserve servers, one visitor, SQLite or Redis.

Each server is a real ``python -m siteserve`` process on its own port (port 0);
Redis is a real redis-server on a free port (``redis_server``). Writes of one
visitor that race each other are all kept (``sessions``: compare and set, and
the page rendered again on a conflict).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import asgi_command, server_process
from tests.integration.redis_server import RedisServer, free_port, running_redis
from tests.integration.test_cli import LOCAL_URL, Siteserve, _env

DEADLINE = 30.0
COUNTER = (
    "{% if request.method == 'POST' %}{% do session.update(n=session.get('n', 0) + 1) %}"
    "{% endif %}n={{ session.get('n', 0) }}"
)
COOKIE = "siteserve_session"


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    with running_redis(tmp_path) as server:
        yield server


@pytest.fixture
def servers() -> Iterator[list[Siteserve]]:
    started: list[Siteserve] = []
    yield started
    for server in started:
        server.kill()


def _site(root: Path, sessions: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "count.html.jinja").write_text(COUNTER)
    (root / "plain.txt").write_text("a static file")
    (root / "siteserve.toml").write_text(f'sessions = "{sessions}"\n')
    return root


def _two_servers(root: Path, started: list[Siteserve]) -> tuple[str, str]:
    for _ in range(2):
        started.append(Siteserve(str(root), "-p", "0", "--quiet", "--no-reload", env=_env()))
    first, second = (server.wait_for(LOCAL_URL, DEADLINE).group(1) for server in started)
    return first, second


def _sessions_for(kind: str, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return "_state/sessions.db"
    redis: RedisServer = request.getfixturevalue("redis")
    return redis.url


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_two_servers_share_one_visitors_session_and_lose_no_write(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, servers: list[Siteserve]
) -> None:
    root = _site(tmp_path / "site", _sessions_for(kind, request))
    first, second = _two_servers(root, servers)
    with httpx.Client(timeout=DEADLINE) as client:
        made = client.post(first + "count")
        assert made.text == "n=1"
        cookie = {"Cookie": f"{COOKIE}={made.cookies[COOKIE]}"}
        assert client.post(second + "count", headers=cookie).text == "n=2"
        assert client.get(first + "count", headers=cookie).text == "n=2"

    assert_no_lost_write(first, second, cookie)
    for server in servers:
        assert server.stop() == 0


def assert_no_lost_write(first: str, second: str, cookie: dict[str, str]) -> None:
    """Both servers at once, for the same visitor (n=2 so far): every answered write counts."""
    answered: list[int] = []

    def hammer(url: str) -> None:
        with httpx.Client(timeout=DEADLINE) as each:
            for _ in range(20):
                response = each.post(url + "count", headers=cookie)
                assert response.status_code in (200, 503), response.text
                answered.append(response.status_code)

    threads = [threading.Thread(target=hammer, args=(url,)) for url in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE * 2)
    written = answered.count(200)
    assert written > len(answered) // 2, "conflicts are retried: nearly all get through"
    final = httpx.get(second + "count", headers=cookie, timeout=DEADLINE).text
    assert final == f"n={2 + written}"


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from siteserve.site.session_sqlite import SQLiteStore

    store = SQLiteStore(Path(sys.argv[1]))
    print("ready", flush=True)
    sys.stdin.readline()  # both start together
    conflicts = 0
    for _ in range(int(sys.argv[2])):
        while True:
            found = store.load("shared")
            if store.save("shared", {"n": found["n"] + 1}, expect=found.version):
                break
            conflicts += 1
    store.close()
    print(conflicts, flush=True)
    """
)


def test_the_built_in_server_and_siteserve_asgi_share_a_session_through_redis(
    tmp_path: Path, redis: RedisServer, servers: list[Siteserve]
) -> None:
    root = _site(tmp_path / "site", redis.url)
    servers.append(Siteserve(str(root), "-p", "0", "--quiet", "--no-reload", env=_env()))
    built_in = servers[0].wait_for(LOCAL_URL, DEADLINE).group(1)
    port = free_port()
    command = asgi_command("uvicorn", port)
    env = {"SITESERVE_ROOT": str(root)}
    with server_process("uvicorn", command, port=port, log=tmp_path / "uvicorn.log", env=env):
        asgi = f"http://127.0.0.1:{port}/"
        with httpx.Client(timeout=DEADLINE) as client:
            made = client.post(built_in + "count")
            assert made.text == "n=1"
            cookie = {"Cookie": f"{COOKIE}={made.cookies[COOKIE]}"}
            assert client.post(asgi + "count", headers=cookie).text == "n=2"
            assert client.get(built_in + "count", headers=cookie).text == "n=2"
        assert_no_lost_write(built_in, asgi, cookie)
    assert servers[0].stop() == 0


def test_two_processes_incrementing_one_sqlite_session_lose_nothing(tmp_path: Path) -> None:
    from siteserve.site.session_sqlite import SQLiteStore

    path = tmp_path / "_s.db"
    seed = SQLiteStore(path)
    seed.save("shared", {"n": 0})
    seed.close()
    rounds = 200
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(path), str(rounds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for writer in writers:
            assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        for writer in writers:
            assert writer.stdin is not None
            writer.stdin.write("go\n")
            writer.stdin.flush()
        for writer in writers:
            writer.communicate(timeout=DEADLINE * 2)
            assert writer.returncode == 0
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
    check = SQLiteStore(path)
    try:
        assert check.load("shared") == {"n": 2 * rounds}
    finally:
        check.close()
