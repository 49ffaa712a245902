"""Server-side sessions: a dict per visitor, found by a random id in a cookie.

The cookie carries only the id (HttpOnly, SameSite=Lax, Secure under TLS);
the data stays on the server, in memory by default, in SQLite when
``sessions = "PATH"`` is configured (``session_sqlite``), or in Redis for
``sessions = "redis://HOST:PORT/DB"`` (``session_redis``). A session is created
only when a page stores something in it, and ids the server did not hand out
are never adopted (no session fixation). It expires 14 days after it was last
written (each write starts the 14 days again, in every store, as its cookie's
Max-Age does: the cookie is sent again with each write).

No lost updates. Two requests of one visitor may run at once (two tabs, two
workers, two machines). Each store keeps a version per session, bumped by
every write, and a write only happens if the version is still the one the page
read (compare and set). When it is not, another request wrote in between: the
page is rendered again on what that one stored (``pages``), so a counter that
both increment counts both. Merging per key would be cheaper but would keep
only one of two increments of the same key, which is the lost update itself.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from siteserve import bounds
from siteserve.config import Config
from siteserve.options import is_redis_url, site_path

COOKIE_NAME = "siteserve_session"
#: A session nobody wrote for this long is gone; the cookie lives as long.
IDLE_SECONDS = 14 * 24 * 3600
#: The memory store forgets the least recently used sessions past this many.
MEMORY_CAPACITY = bounds.SESSIONS_IN_MEMORY
#: ``expect=NEW``: the write creates the session, which must not exist yet.
NEW = 0


def encode(data: dict[str, Any]) -> str:
    # default=str: a value JSON cannot hold (a date) comes back as its text, never an error.
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


class Stored(dict[str, Any]):
    """A session's data as a store holds it, with the version its last write gave it."""

    __slots__ = ("version",)

    def __init__(self, data: dict[str, Any], version: int) -> None:
        super().__init__(data)
        self.version = version


class SessionProblem(Exception):
    """The store, not the page: answered by the page handler, never as a template error."""


class SessionConflict(SessionProblem):
    """Another request wrote the session since it was read: render the page again."""


class SessionStoreDown(SessionProblem):
    """The store cannot be reached (Redis went away): the page answers 503."""


class SessionStore(Protocol):
    """Where session data lives.

    ``expect`` makes a write conditional: ``NEW`` (the session must not exist),
    or the version ``load`` gave (another write since makes it False). None
    writes whatever is there. Every write bumps the version and restarts the
    14 days.
    """

    #: Its calls wait on the network: pages using it render in a thread, never on the loop.
    blocking: bool

    def load(self, session_id: str) -> Stored | None: ...

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        """Write ``data``; False when ``expect`` no longer holds."""
        ...

    def delete(self, session_id: str, *, expect: int | None = None) -> bool:
        """Forget the session; False when ``expect`` no longer holds (gone already is fine)."""
        ...

    async def startup(self) -> None:
        """Get ready on the event loop that will serve (Redis connects here)."""
        ...

    async def shutdown(self) -> None:
        """Let go of everything (the last call)."""
        ...

    def close(self) -> None:
        """Let go of what can be let go of without the event loop (a file)."""
        ...


class MemoryStore:
    """Sessions in a dict, oldest use first; lost when the server stops."""

    blocking = False

    def __init__(self, capacity: int = MEMORY_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        #: id -> (written at, JSON, version)
        self._items: OrderedDict[str, tuple[float, str, int]] = OrderedDict()

    def _current(self, session_id: str) -> tuple[float, str, int] | None:
        item = self._items.get(session_id)
        if item is not None and time.monotonic() - item[0] > IDLE_SECONDS:
            del self._items[session_id]
            return None
        return item

    def load(self, session_id: str) -> Stored | None:
        with self._lock:
            item = self._current(session_id)
            if item is None:
                return None
            self._items.move_to_end(session_id)
        return Stored(json.loads(item[1]), item[2])

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        # Stored as JSON, like the other stores, so all behave the same for a page.
        encoded = encode(data)
        with self._lock:
            item = self._current(session_id)
            version = NEW if item is None else item[2]
            if expect is not None and expect != version:
                return False
            self._items[session_id] = (time.monotonic(), encoded, version + 1)
            self._items.move_to_end(session_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return True

    def delete(self, session_id: str, *, expect: int | None = None) -> bool:
        with self._lock:
            item = self._current(session_id)
            if item is not None and expect is not None and expect != item[2]:
                return False
            self._items.pop(session_id, None)
        return True

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    def close(self) -> None:
        pass


class Session(MutableMapping[str, Any]):
    """What a page sees as ``session``: read on first use, written back if it changed.

    Templates change it with ``{% do session.update(count=n) %}`` or
    ``{% do session.pop("name", None) %}``; changes inside nested values count too,
    as the data is compared with what was loaded.
    """

    def __init__(self, store: SessionStore, session_id: str | None) -> None:
        self._store = store
        self.id = session_id
        self._data: dict[str, Any] | None = None
        self._loaded_as = "{}"
        #: The version read (NEW for a session not stored yet), for the conditional write.
        self.version = NEW

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            found = self._store.load(self.id) if self.id is not None else None
            if found is None:
                self.id = None  # unknown or expired: a new id is made if anything is stored
                self._data = {}
            else:
                self.version = found.version
                self._data = dict(found)
            self._loaded_as = encode(self._data)
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"<session {self.data!r}>"

    def changed(self) -> bool:
        return self._data is not None and encode(self._data) != self._loaded_as

    @property
    def used(self) -> bool:
        """Whether the page read or wrote the session at all."""
        return self._data is not None


class Sessions:
    """Opens a session for each page render and writes it back with its cookie."""

    def __init__(self, store: SessionStore) -> None:
        self.store = store

    @classmethod
    def from_config(cls, config: Config) -> Sessions:
        if config.sessions is None:
            return cls(MemoryStore())
        if is_redis_url(config.sessions):
            from siteserve.site.session_redis import RedisStore

            return cls(RedisStore(config.sessions))
        from siteserve.site.session_sqlite import SQLiteStore

        return cls(SQLiteStore(sessions_path(config)))

    @property
    def blocking(self) -> bool:
        """Whether pages must render in a thread (the store waits on the network)."""
        return self.store.blocking

    async def startup(self) -> None:
        """Connect to the store (Redis: a start-up error when it cannot be reached)."""
        await self.store.startup()

    async def shutdown(self) -> None:
        await self.store.shutdown()

    def open(self, cookies: dict[str, str]) -> Session:
        return Session(self.store, cookies.get(COOKIE_NAME))

    def commit(self, session: Session, *, secure: bool) -> list[str]:
        """Store what changed; answer the Set-Cookie values to send (often none).

        Raises SessionConflict when another request wrote the session since
        this one read it (nothing is written then).
        """
        if not session.changed():
            return []
        data = session.data
        if not data:
            # Emptied: forget it on both sides.
            if session.id is not None:
                if not self.store.delete(session.id, expect=session.version):
                    raise SessionConflict(session.id)
                session.id = None
            return [_cookie("", 0, secure)]
        if session.id is None:
            session.id = secrets.token_urlsafe(32)
            session.version = NEW
        if not self.store.save(session.id, data, expect=session.version):
            raise SessionConflict(session.id)
        return [_cookie(session.id, IDLE_SECONDS, secure)]

    def close(self) -> None:
        """Release a store that holds a file (SQLite); ``shutdown`` is the full stop."""
        self.store.close()


def _cookie(value: str, max_age: int, secure: bool) -> str:
    cookie = f"{COOKIE_NAME}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax"
    return cookie + "; Secure" if secure else cookie


def sessions_path(config: Config) -> Path:
    """Where the SQLite file lives: relative paths are under the site folder.

    build_config has refused a file the static server would hand out (inside
    the site, with no ``_`` or ``.`` segment): the session data would be
    downloadable.
    """
    assert config.sessions is not None
    return site_path(config.root, config.sessions).resolve()
