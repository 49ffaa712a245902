"""Sessions in one SQLite file: kept across restarts, shared by the workers of one machine.

Several processes (``--workers``) open the same file, so:

- WAL journal: readers never wait for a writer, and a writer for readers;
- ``synchronous=NORMAL``: with WAL the file cannot be corrupted by a crash, a
  power cut may lose the last writes; a session is worth less than an fsync
  per request;
- a busy timeout: a writer waits (up to 5 s) for another process's write, a
  few microseconds long, instead of failing with "database is locked";
- conditional writes (``version``), one statement each, so two requests of one
  visitor never overwrite each other unseen (see ``sessions``).

Files made before versions existed get the column on first open; their rows
start at version 1.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from siteserve.site.sessions import IDLE_SECONDS, NEW, Stored, encode

#: How long a write waits for another process's write to end, in seconds.
BUSY_TIMEOUT = 5.0


def _switch_to_wal(db: sqlite3.Connection) -> None:
    """``journal_mode=WAL``, retried while another worker holds the new file.

    Switching the journal mode needs the file to itself, and SQLite answers
    "database is locked" at once instead of calling the busy handler when several
    workers open a new sessions file together; so wait here, up to the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class SQLiteStore:
    """Sessions in one SQLite file, kept across restarts."""

    blocking = False

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # One connection shared by the render threads, used under the lock.
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT, check_same_thread=False, isolation_level=None
        )
        _switch_to_wal(self._db)
        self._db.execute("PRAGMA synchronous=NORMAL")
        # Workers starting together: one creates or upgrades the table, the others wait.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data TEXT NOT NULL,"
                " seen REAL NOT NULL, version INTEGER NOT NULL DEFAULT 1)"
            )
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
            if "version" not in columns:
                self._db.execute(
                    "ALTER TABLE sessions ADD COLUMN version INTEGER NOT NULL DEFAULT 1"
                )
            self._db.execute("DELETE FROM sessions WHERE seen < ?", (_oldest(),))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._db.close()
            raise
        self._closed = False

    def load(self, session_id: str) -> Stored | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data, version FROM sessions WHERE id = ? AND seen >= ?",
                (session_id, _oldest()),
            ).fetchone()
        if row is None:
            return None
        return Stored(json.loads(row[0]), int(row[1]))

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        encoded, now = encode(data), time.time()
        with self._lock:
            if expect is None:
                cursor = self._db.execute(
                    "INSERT INTO sessions (id, data, seen) VALUES (?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET data = excluded.data,"
                    " seen = excluded.seen, version = sessions.version + 1",
                    (session_id, encoded, now),
                )
            elif expect == NEW:
                # A row left from an expired session of the same id counts as absent.
                self._db.execute(
                    "DELETE FROM sessions WHERE id = ? AND seen < ?", (session_id, _oldest())
                )
                cursor = self._db.execute(
                    "INSERT INTO sessions (id, data, seen) VALUES (?, ?, ?)"
                    " ON CONFLICT(id) DO NOTHING",
                    (session_id, encoded, now),
                )
            else:
                cursor = self._db.execute(
                    "UPDATE sessions SET data = ?, seen = ?, version = version + 1"
                    " WHERE id = ? AND version = ? AND seen >= ?",
                    (encoded, now, session_id, expect, _oldest()),
                )
        return cursor.rowcount == 1

    def delete(self, session_id: str, *, expect: int | None = None) -> bool:
        with self._lock:
            if expect is None:
                self._db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                return True
            cursor = self._db.execute(
                "DELETE FROM sessions WHERE id = ? AND version = ?", (session_id, expect)
            )
            if cursor.rowcount == 1:
                return True
            left = self._db.execute(
                "SELECT 1 FROM sessions WHERE id = ? AND seen >= ?", (session_id, _oldest())
            ).fetchone()
        return left is None

    async def startup(self) -> None:
        pass

    async def shutdown(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()


def _oldest() -> float:
    """Rows last written before this are expired."""
    return time.time() - IDLE_SECONDS
