"""Pages and their session store: renders again on a conflict, 503 while the store is away,
and a store that waits on the network is only waited for in a render thread."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from siteserve.site.pages import SESSION_ATTEMPTS
from siteserve.site.sessions import (
    COOKIE_NAME,
    MemoryStore,
    Sessions,
    SessionStoreDown,
    Stored,
)
from tests.unit.page_support import body_text, make_request, page_site

COUNTER = {"count.html.jinja": "{% do session.update(n=session.get('n', 0) + 1) %}{{ session.n }}"}


class Meddling(MemoryStore):
    """A memory store where another request writes right after each of the first loads."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.times = times
        self.loads = 0

    def load(self, session_id: str) -> Stored | None:
        found = super().load(session_id)
        self.loads += 1
        if found is not None and self.times > 0:
            self.times -= 1
            super().save(session_id, {"n": found["n"] + 10})
        return found


class Unreachable(MemoryStore):
    blocking = True

    def load(self, session_id: str) -> Stored | None:
        raise SessionStoreDown("connection refused")

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        raise SessionStoreDown("connection refused")


class Threaded(MemoryStore):
    """Records which thread each call came from, as a network store would need."""

    blocking = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[str] = []

    def save(self, session_id: str, data: dict[str, Any], *, expect: int | None = None) -> bool:
        self.threads.append(threading.current_thread().name)
        return super().save(session_id, data, expect=expect)


def _visitor(store: MemoryStore, n: int) -> str:
    store.save("visitor", {"n": n})
    return f"{COOKIE_NAME}=visitor"


def test_a_write_in_between_renders_the_page_again_on_what_it_stored(tmp_path: Path) -> None:
    with page_site(tmp_path, COUNTER) as site:
        store = Meddling(times=1)
        site.pages.sessions = Sessions(store)
        cookie = _visitor(store, 1)
        response = site.get("/count", headers=[("cookie", cookie)])
        # Read n=1, but another request stored 11 meanwhile: rendered again, on 11.
        assert body_text(response) == "12"
        assert store.loads == 2
        assert store.load("visitor") == {"n": 12}


def test_a_session_written_at_every_attempt_answers_503(tmp_path: Path) -> None:
    with page_site(tmp_path, COUNTER) as site:
        store = Meddling(times=SESSION_ATTEMPTS)
        site.pages.sessions = Sessions(store)
        response = site.get("/count", headers=[("cookie", _visitor(store, 1))])
        assert response.status == 503
        assert store.loads == SESSION_ATTEMPTS


def test_an_unreachable_store_answers_503_only_where_the_session_is_used(tmp_path: Path) -> None:
    files = {**COUNTER, "plain.html.jinja": "no session here"}
    with page_site(tmp_path, files) as site:
        site.pages.sessions = Sessions(Unreachable())
        response = site.get("/count", headers=[("cookie", f"{COOKIE_NAME}=x")])
        assert response.status == 503
        assert "503" in body_text(response)
        assert site.text("/plain") == "no session here"


def test_a_blocking_store_is_only_called_from_a_render_thread(tmp_path: Path) -> None:
    with page_site(tmp_path, COUNTER) as site:
        store = Threaded()
        site.pages.sessions = Sessions(store)
        for _ in range(3):  # cheap by now: without a blocking store it would render inline
            site.get("/count")
        request = make_request("/count")
        resolved = site.resolver.resolve(request.path)
        assert site.pages.render_now(request, resolved) is None
        assert store.threads and all(name.startswith("siteserve-page") for name in store.threads)
