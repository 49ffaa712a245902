"""Server-side sessions: a dict per visitor, found by a random id in a cookie.

The cookie carries only the id (HttpOnly, SameSite=Lax, Secure under TLS);
the data stays on the server, in memory by default or in SQLite when
``sessions = "PATH"`` is configured. A session is created only when a page
stores something in it, and ids the server did not hand out are never
adopted (no session fixation).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Protocol

from siteserve import bounds
from siteserve.config import Config
from siteserve.options import site_path

COOKIE_NAME = "siteserve_session"
#: A session nobody used for this long is gone; the cookie lives as long.
IDLE_SECONDS = 14 * 24 * 3600
#: The memory store forgets the least recently used sessions past this many.
MEMORY_CAPACITY = bounds.SESSIONS_IN_MEMORY


def _encode(data: dict[str, Any]) -> str:
    # default=str: a value JSON cannot hold (a date) comes back as its text, never an error.
    return json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))


class SessionStore(Protocol):
    def load(self, session_id: str) -> dict[str, Any] | None: ...

    def save(self, session_id: str, data: dict[str, Any]) -> None: ...

    def delete(self, session_id: str) -> None: ...


class MemoryStore:
    """Sessions in a dict, oldest use first; lost when the server stops."""

    def __init__(self, capacity: int = MEMORY_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def load(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            item = self._items.get(session_id)
            if item is None:
                return None
            if time.monotonic() - item[0] > IDLE_SECONDS:
                del self._items[session_id]
                return None
            self._items.move_to_end(session_id)
        data: dict[str, Any] = json.loads(item[1])
        return data

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        # Stored as JSON, like the SQLite store, so both behave the same for a page.
        encoded = _encode(data)
        with self._lock:
            self._items[session_id] = (time.monotonic(), encoded)
            self._items.move_to_end(session_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._items.pop(session_id, None)


class SQLiteStore:
    """Sessions in one SQLite file, kept across restarts."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the render threads, used under the lock.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS sessions"
            " (id TEXT PRIMARY KEY, data TEXT NOT NULL, seen REAL NOT NULL)"
        )
        self._db.execute("DELETE FROM sessions WHERE seen < ?", (time.time() - IDLE_SECONDS,))

    def load(self, session_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM sessions WHERE id = ? AND seen >= ?",
                (session_id, time.time() - IDLE_SECONDS),
            ).fetchone()
        if row is None:
            return None
        data: dict[str, Any] = json.loads(row[0])
        return data

    def save(self, session_id: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO sessions (id, data, seen) VALUES (?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET data = excluded.data, seen = excluded.seen",
                (session_id, _encode(data), time.time()),
            )

    def delete(self, session_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


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

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            found = self._store.load(self.id) if self.id is not None else None
            if found is None:
                self.id = None  # unknown or expired: a new id is made if anything is stored
                found = {}
            self._data = found
            self._loaded_as = _encode(found)
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
        return self._data is not None and _encode(self._data) != self._loaded_as

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
        return cls(SQLiteStore(sessions_path(config)))

    def open(self, cookies: dict[str, str]) -> Session:
        return Session(self.store, cookies.get(COOKIE_NAME))

    def commit(self, session: Session, *, secure: bool) -> list[str]:
        """Store what changed; answer the Set-Cookie values to send (often none)."""
        if not session.changed():
            return []
        data = session.data
        if not data:
            # Emptied: forget it on both sides.
            if session.id is not None:
                self.store.delete(session.id)
                session.id = None
            return [_cookie("", 0, secure)]
        if session.id is None:
            session.id = secrets.token_urlsafe(32)
        self.store.save(session.id, data)
        return [_cookie(session.id, IDLE_SECONDS, secure)]

    def close(self) -> None:
        if isinstance(self.store, SQLiteStore):
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
