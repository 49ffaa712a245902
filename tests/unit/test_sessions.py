"""Server-side sessions: stores, cookies, fixation, the SQLite file's place."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config
from siteserve.site.session_sqlite import SQLiteStore
from siteserve.site.sessions import (
    COOKIE_NAME,
    IDLE_SECONDS,
    MemoryStore,
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
