"""Sessions in Redis (``sessions = "redis://HOST:PORT/DB"``): one store for every worker
on every machine behind a load balancer.

redis-py's asyncio client runs on the server's event loop. A page that may use
the session renders in a thread (``blocking``: see ``pages``); each call here
hands its coroutine to the loop and waits for it in that thread, so the loop
never waits on the network and other requests go on meanwhile.

A session is a hash at ``siteserve:session:ID`` holding its JSON (``data``) and
its version (``v``). The conditional write and delete are Lua scripts, so the
compare and the set happen in one step on the server. Every write sets the key
to expire 14 days later, as the other stores count them.

At start a PING that gets no answer is a start-up error (one line). Later, a
call that fails (Redis went away) is SessionStoreDown: a page that uses the
session answers 503, while static files and other pages are served as usual.
The next call connects again; the log says once when Redis went away and once
when it came back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from siteserve.config import ConfigError
from siteserve.site.sessions import IDLE_SECONDS, SessionStoreDown, Stored, encode

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger("siteserve.site")
T = TypeVar("T")

KEY_PREFIX = "siteserve:session:"
#: Seconds to connect, and to wait for one answer, before Redis counts as unreachable.
CONNECT_TIMEOUT = 2.0
ANSWER_TIMEOUT = 3.0
#: How long a render thread waits for its call on the loop (one retry included).
CALL_TIMEOUT = 2 * (CONNECT_TIMEOUT + ANSWER_TIMEOUT)

# KEYS[1]: the session; ARGV: the expected version ('' for any), the JSON, the seconds to keep.
_SAVE = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return 0
end
redis.call('HSET', KEYS[1], 'data', ARGV[2], 'v', current + 1)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return 1
"""
# KEYS[1]: the session; ARGV[1]: the expected version ('' for any). Gone already is fine.
_DELETE = """
local current = redis.call('HGET', KEYS[1], 'v')
if not current then
  return 1
end
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= tonumber(current) then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
"""


def shown_url(url: str) -> str:
    """``url`` with its password masked, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def _reason(error: BaseException) -> str:
    return str(error) or type(error).__name__


class RedisStore:
    """Sessions in Redis, reached through redis-py's asyncio client on the server's loop."""

    blocking = True

    def __init__(self, url: str) -> None:
        try:
            import redis.asyncio  # noqa: F401  (only when a Redis URL is configured)
        except ImportError:
            raise ConfigError(
                "sessions in Redis need the redis package: pip install 'siteserve[redis]'"
            ) from None
        self.url = url
        self.shown = shown_url(url)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._client: Redis | None = None
        self._save: AsyncScript | None = None
        self._delete: AsyncScript | None = None
        self._down = False
        self._state = threading.Lock()

    # -- on the event loop -------------------------------------------------------------

    async def startup(self) -> None:
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        from redis.exceptions import RedisError

        client = Redis.from_url(
            self.url,
            decode_responses=True,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=ANSWER_TIMEOUT,
            # Once, at once: a pooled connection Redis closed (a restart) is opened again.
            retry=Retry(NoBackoff(), 1),
        )
        try:
            await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT + ANSWER_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as error:
            await client.aclose()
            raise ConfigError(
                f"sessions: cannot reach Redis at {self.shown}: {_reason(error)}"
            ) from None
        self._client = client
        self._save = client.register_script(_SAVE)
        self._delete = client.register_script(_DELETE)
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()

    async def shutdown(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Nothing to let go of without the loop: ``shutdown`` closes the connections."""

    async def _fields(self, key: str) -> list[str | None]:
        assert self._client is not None
        found = await self._client.hmget(key, ["data", "v"])
        # decode_responses: text, never bytes.
        return [None if value is None else str(value) for value in found]

    async def _script(self, script: AsyncScript | None, key: str, args: list[str]) -> bool:
        assert script is not None
        done = await script(keys=[key], args=args)
        return bool(done)

    # -- in a render thread ------------------------------------------------------------

    def _call(self, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run ``call()`` on the loop and wait for it here; SessionStoreDown when it fails."""
        from redis.exceptions import RedisError

        loop = self._loop
        if loop is None or self._client is None:
            raise SessionStoreDown("Redis sessions are not connected")
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("Redis sessions are used from render threads, never on the loop")
        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            result = future.result(CALL_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as error:
            future.cancel()
            self._went_down(error)
            raise SessionStoreDown(_reason(error)) from error
        self._came_back()
        return result

    def _went_down(self, error: BaseException) -> None:
        with self._state:
            first, self._down = not self._down, True
        if first:
            log.warning(
                "sessions: Redis at %s cannot be reached (%s); pages that use the session"
                " answer 503 until it is back",
                self.shown,
                _reason(error),
            )

    def _came_back(self) -> None:
        if not self._down:
            return
        with self._state:
            back, self._down = self._down, False
        if back:
            log.warning("sessions: Redis at %s is back", self.shown)

    def load(self, session_id: str) -> Stored | None:
        data, version = self._call(lambda: self._fields(KEY_PREFIX + session_id))
        if data is None or version is None:
            return None
        return Stored(json.loads(data), int(version))

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        args = ["" if expect is None else str(expect), encode(data), str(IDLE_SECONDS)]
        return self._call(lambda: self._script(self._save, KEY_PREFIX + session_id, args))

    def delete(self, session_id: str, *, expect: int | None = None) -> bool:
        args = ["" if expect is None else str(expect)]
        return self._call(lambda: self._script(self._delete, KEY_PREFIX + session_id, args))
