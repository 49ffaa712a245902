"""Server-side sessions: stores, cookies, fixation, the SQLite file's place."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config
from siteserve.site.session_sqlite import BUSY_TIMEOUT, SQLiteStore
from siteserve.site.sessions import (
    COOKIE_NAME,
    IDLE_SECONDS,
    NEW,
    MemoryStore,
    SessionConflict,
    Sessions,
    sessions_path,
)


def cookie_id(set_cookie: str) -> str:
    first = set_cookie.split(";")[0]
    name, _, value = first.partition("=")
    assert name == COOKIE_NAME
    return value


@pytest.fixture(params=["memory", "sqlite"])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> Sessions:
    if request.param == "memory":
        return Sessions(MemoryStore())
    made = Sessions(SQLiteStore(tmp_path / "s.db"))
    request.addfinalizer(made.close)
    return made


def test_a_new_visitor_gets_a_cookie_only_when_something_is_stored(sessions: Sessions) -> None:
    untouched = sessions.open({})
    assert untouched.get("x") is None
    assert sessions.commit(untouched, secure=False) == []
    session = sessions.open({})
    session["name"] = "Ann"
    (set_cookie,) = sessions.commit(session, secure=False)
    assert set_cookie.endswith(f"; Max-Age={IDLE_SECONDS}; Path=/; HttpOnly; SameSite=Lax")
    assert len(cookie_id(set_cookie)) >= 40  # 32 random bytes, base64url


def test_data_round_trips_and_nested_changes_are_saved(sessions: Sessions) -> None:
    first = sessions.open({})
    first["cart"] = ["a"]
    session_id = cookie_id(sessions.commit(first, secure=False)[0])
    second = sessions.open({COOKIE_NAME: session_id})
    second["cart"].append("b")  # no __setitem__: still noticed
    assert sessions.commit(second, secure=False) != []
    third = sessions.open({COOKIE_NAME: session_id})
    assert third["cart"] == ["a", "b"]
    assert third.id == session_id


def test_an_unknown_id_is_never_adopted(sessions: Sessions) -> None:
    session = sessions.open({COOKIE_NAME: "chosen-by-an-attacker"})
    session["user"] = "me"
    new_id = cookie_id(sessions.commit(session, secure=False)[0])
    assert new_id != "chosen-by-an-attacker"
    assert sessions.store.load("chosen-by-an-attacker") is None


def test_an_emptied_session_is_deleted_with_its_cookie(sessions: Sessions) -> None:
    session = sessions.open({})
    session["a"] = 1
    session_id = cookie_id(sessions.commit(session, secure=True)[0])
    again = sessions.open({COOKIE_NAME: session_id})
    again.clear()
    (expired,) = sessions.commit(again, secure=True)
    assert expired.startswith(f"{COOKIE_NAME}=; Max-Age=0;")
    assert expired.endswith("; Secure")
    assert sessions.store.load(session_id) is None


def test_values_json_cannot_hold_come_back_as_text(sessions: Sessions) -> None:
    from datetime import date

    session = sessions.open({})
    session["day"] = date(2024, 5, 1)
    session_id = cookie_id(sessions.commit(session, secure=False)[0])
    assert sessions.open({COOKIE_NAME: session_id})["day"] == "2024-05-01"


def test_sqlite_sessions_survive_a_restart(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "keep.db")
    store.save("abc", {"n": 3})
    store.close()
    reopened = SQLiteStore(tmp_path / "keep.db")
    try:
        assert reopened.load("abc") == {"n": 3}
        reopened.delete("abc")
        assert reopened.load("abc") is None
    finally:
        reopened.close()


def test_memory_store_forgets_the_least_recently_used() -> None:
    store = MemoryStore(capacity=2)
    store.save("a", {"v": 1})
    store.save("b", {"v": 2})
    assert store.load("a") == {"v": 1}  # "a" is now the most recent
    store.save("c", {"v": 3})
    assert store.load("b") is None
    assert store.load("a") == {"v": 1} and store.load("c") == {"v": 3}


def test_sessions_path_is_relative_to_the_site_and_never_served(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere" / "s.db"
    site = tmp_path / "site"
    site.mkdir()
    assert sessions_path(build_config(site, sessions="_sessions.db")) == site / "_sessions.db"
    assert sessions_path(build_config(site, sessions=".state/s.db")) == site / ".state/s.db"
    assert sessions_path(build_config(site, sessions=str(outside))) == outside
    with pytest.raises(ConfigError, match="would be served"):
        sessions_path(build_config(site, sessions="sessions.db"))


def test_from_config_picks_the_store(tmp_path: Path) -> None:
    memory = Sessions.from_config(build_config(tmp_path))
    assert isinstance(memory.store, MemoryStore)
    sqlite = Sessions.from_config(build_config(tmp_path, sessions="_data.sqlite"))
    try:
        assert isinstance(sqlite.store, SQLiteStore)
        assert (tmp_path / "_data.sqlite").is_file()
    finally:
        sqlite.close()


# -- versions: no lost update ------------------------------------------------------------------


def test_every_write_bumps_the_version_and_a_stale_write_is_refused(sessions: Sessions) -> None:
    store = sessions.store
    assert store.save("v", {"n": 1}, expect=NEW)
    first = store.load("v")
    assert first == {"n": 1} and first is not None and first.version == 1
    assert not store.save("v", {"n": 9}, expect=NEW), "an existing session is not new"
    assert store.save("v", {"n": 2}, expect=first.version)
    assert not store.save("v", {"n": 3}, expect=first.version), "written since it was read"
    second = store.load("v")
    assert second == {"n": 2} and second is not None and second.version == 2
    assert not store.delete("v", expect=first.version)
    assert store.delete("v", expect=second.version)
    assert store.load("v") is None
    assert store.delete("v", expect=second.version), "gone already is fine"


def test_two_renders_of_one_visitor_conflict_instead_of_losing_a_write(sessions: Sessions) -> None:
    first = sessions.open({})
    first["n"] = 1
    session_id = cookie_id(sessions.commit(first, secure=False)[0])
    # Two requests read the same session at once...
    one, two = (sessions.open({COOKIE_NAME: session_id}) for _ in range(2))
    one["n"] += 1
    two["n"] += 1
    assert sessions.commit(one, secure=False) != []
    # ...the second one's write would lose the first one's: it must be done again.
    with pytest.raises(SessionConflict):
        sessions.commit(two, secure=False)
    again = sessions.open({COOKIE_NAME: session_id})
    again["n"] += 1
    sessions.commit(again, secure=False)
    assert sessions.open({COOKIE_NAME: session_id})["n"] == 3


def test_emptying_a_session_written_meanwhile_is_a_conflict(sessions: Sessions) -> None:
    first = sessions.open({})
    first["user"] = "ann"
    session_id = cookie_id(sessions.commit(first, secure=False)[0])
    logout, other = (sessions.open({COOKIE_NAME: session_id}) for _ in range(2))
    logout.clear()
    other["cart"] = ["tea"]
    sessions.commit(other, secure=False)
    with pytest.raises(SessionConflict):
        sessions.commit(logout, secure=False)
    assert sessions.open({COOKIE_NAME: session_id})["cart"] == ["tea"]


def test_the_sqlite_file_is_ready_for_several_processes(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        check = sqlite3.connect(tmp_path / "s.db")
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        check.close()
        assert store._db.execute("PRAGMA busy_timeout").fetchone() == (BUSY_TIMEOUT * 1000,)
        assert store._db.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    finally:
        store.close()


def test_a_sqlite_file_from_before_versions_is_upgraded(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "old.db")
    old.execute(
        "CREATE TABLE sessions (id TEXT PRIMARY KEY, data TEXT NOT NULL, seen REAL NOT NULL)"
    )
    old.execute("INSERT INTO sessions VALUES ('kept', '{\"n\":5}', ?)", (time.time(),))
    old.commit()
    old.close()
    store = SQLiteStore(tmp_path / "old.db")
    try:
        kept = store.load("kept")
        assert kept == {"n": 5} and kept is not None and kept.version == 1
        assert store.save("kept", {"n": 6}, expect=1)
    finally:
        store.close()


def test_expiry_counts_from_the_last_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    try:
        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now)
        store.save("a", {"n": 1})
        monkeypatch.setattr(time, "time", lambda: now + IDLE_SECONDS - 60)
        assert store.load("a") == {"n": 1}
        store.save("a", {"n": 2})  # a write: 14 more days
        monkeypatch.setattr(time, "time", lambda: now + 2 * IDLE_SECONDS - 120)
        assert store.load("a") == {"n": 2}
        monkeypatch.setattr(time, "time", lambda: now + 3 * IDLE_SECONDS)
        assert store.load("a") is None
        assert not store.save("a", {"n": 3}, expect=2), "an expired session is not written back"
    finally:
        store.close()
