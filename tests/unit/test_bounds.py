"""Every cache holds at most its bound (siteserve/bounds.py) however many keys come.

One test per cache: flood it with distinct keys, check the bound holds, then check
the cache still answers (an evicted key is made again, a kept one is a hit). Where
the real bound is quick to reach, the flood reaches it; where it would take seconds
(a file on disk per entry, a lookup that stats), the test lowers the bound the module
reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siteserve import bounds
from siteserve.config import Config, build_config
from siteserve.http import Headers, Request, Response
from siteserve.proxy.client import BackendPool
from siteserve.reload import graph, hold
from siteserve.reload.changes import FileStates, PendingChanges
from siteserve.reload.graph import PageGraph
from siteserve.reload.inject import SCRIPT_TAG, Injector
from siteserve.share import host_check, slowdown
from siteserve.share.leftovers import MAX_SWEPT_FOLDERS, LeftoverSweep
from siteserve.site import collections, data_files, errors, reuse, static
from siteserve.site.compression import NOT_SMALLER, CompressionCache
from siteserve.site.data_files import DataFiles
from siteserve.site.front_matter import FrontMatterIndex
from siteserve.site.jinja_env import build_environment
from siteserve.site.pages import MEMO_LIMIT, Pages
from siteserve.site.resolver import CACHE_LIMIT, Resolver
from siteserve.site.reuse import ReusedRenders
from siteserve.site.sessions import MemoryStore
from siteserve.site.static import StaticFiles


def get(path: str, **fields: str) -> Request:
    headers = Headers([("host", "test"), *((k.replace("_", "-"), v) for k, v in fields.items())])
    return Request("GET", path, path, "", headers)


def test_the_modules_read_their_bounds_from_one_place() -> None:
    assert static.CACHE_BYTES == bounds.STATIC_BYTES
    assert static.CACHE_ENTRIES == bounds.STATIC_VERSIONS
    assert CACHE_LIMIT == bounds.RESOLVER_ENTRIES
    assert MEMO_LIMIT == bounds.PAGE_MEMO
    assert graph.MAX_URLS == bounds.PAGE_GRAPH_URLS
    assert graph.MAX_DEPS == bounds.PAGE_GRAPH_DEPS
    assert data_files.MAX_FILES == bounds.DATA_FILES
    assert MAX_SWEPT_FOLDERS == bounds.SWEPT_FOLDERS
    assert slowdown.CAPACITY == bounds.FAILED_ADDRESSES  # flooded in test_share_links.py
    assert host_check.VERDICTS == bounds.HOST_VERDICTS  # flooded in test_host_check.py
    assert host_check.RefusalLog()._names == bounds.REFUSED_NAMES
    assert (collections.MAX_LISTED, collections.MAX_GLOBS) == (
        bounds.LISTED_PAGES,
        bounds.LISTED_GLOBS,
    )
    assert FrontMatterIndex()._limit == bounds.FRONT_MATTER_FILES
    assert BackendPool()._max_idle == bounds.PROXY_IDLE_PER_BACKEND
    assert (reuse.MAX_ENTRIES, reuse.MAX_BYTES) == (bounds.RENDERED_PAGES, bounds.RENDERED_BYTES)
    assert hold.MAX_ANSWERS == bounds.HOLD_ANSWERS
    assert errors._error_page.cache_parameters()["maxsize"] == bounds.ERROR_PAGES


def test_page_graph_random_404_urls(tmp_path: Path) -> None:
    """A 404 page answered to random URLs: one entry per URL, up to the bound."""
    pages = PageGraph(tmp_path)
    not_found = tmp_path / "404.html"
    for number in range(2 * graph.MAX_URLS):
        response = Response(404, [], b"", sources=(not_found,))
        pages.record(get(f"/random-{number}"), response, page=True)
    for table in (pages._sources, pages._pages, pages._served):
        assert len(table) == graph.MAX_URLS
    # The newest are kept and answer; the oldest went first.
    last = f"/random-{2 * graph.MAX_URLS - 1}"
    assert pages.page_sources(last) == frozenset({not_found})
    assert pages.served_at(last) is not None
    assert pages.page_sources("/random-0") is None


def test_page_graph_subresource_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages that each pull in many subresources: the links over all pages are bounded."""
    monkeypatch.setattr(graph, "MAX_DEPS_PER_URL", 64)
    monkeypatch.setattr(graph, "MAX_DEPS", 2048)
    pages = PageGraph(tmp_path)
    per_page = graph.MAX_DEPS_PER_URL
    page_count = graph.MAX_DEPS // per_page + 10
    for page in range(page_count):
        referer = f"http://test/page-{page}"
        for link in range(per_page + 5):  # a few more than one page may record
            pages.record(get(f"/asset-{page}-{link}", referer=referer), Response(200), page=False)
    assert pages._dep_count == sum(len(deps) for deps in pages._deps.values())
    assert pages._dep_count <= graph.MAX_DEPS
    assert all(len(deps) <= per_page for deps in pages._deps.values())
    # The last page's links are kept and followed.
    newest = f"/page-{page_count - 1}"
    assert f"/asset-{page_count - 1}-0" in pages._deps[newest]
    assert "/page-0" not in pages._deps


def test_small_file_bodies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(static, "CACHE_ENTRIES", 32)
    monkeypatch.setattr(static, "CACHE_BYTES", 40 * 1000)
    files = StaticFiles(Config(root=tmp_path))
    paths = [tmp_path / f"f{number}.txt" for number in range(200)]
    for number, path in enumerate(paths):
        path.write_bytes(b"%03d" % number * 333)  # 999 bytes each
        response = files.respond(get("/" + path.name), path, path.name)
        assert isinstance(response, Response) and response.body == path.read_bytes()
        assert len(files._versions) <= 32 and files.cached_bytes <= 40 * 1000
    assert files.cached_bytes == sum(version.memory for version in files._versions.values())
    # An evicted file is read again; a kept one is answered from memory.
    again = files.respond(get("/f0.txt"), paths[0], "f0.txt")
    assert isinstance(again, Response) and again.body == paths[0].read_bytes()
    assert files.version(paths[-1], paths[-1].name).data == paths[-1].read_bytes()


def test_compressed_bodies() -> None:
    cache = CompressionCache(max_bytes=64 * 1024, max_entries=100)
    # Bodies that coding did not shrink weigh nothing: the entry bound holds them.
    for number in range(1000):
        cache.put(f'"not-smaller-{number}"', "gzip", NOT_SMALLER)
    assert len(cache) == 100 and cache.size == 0
    for number in range(1000):
        cache.put(f'"coded-{number}"', "br", bytes(1000))
        assert cache.size <= 64 * 1024 and len(cache) <= 100
    assert cache.get('"coded-999"', "br") == bytes(1000)
    assert cache.get('"coded-0"', "br") is None
    # The default bounds are the ones in bounds.py.
    default = CompressionCache()
    assert (default.max_bytes, default.max_entries) == (
        bounds.COMPRESSED_BYTES,
        bounds.COMPRESSED_ENTRIES,
    )


def test_rendered_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route page kept per URL: distinct URLs (and hosts) make distinct entries."""
    monkeypatch.setattr(reuse, "MAX_BYTES", 64 * 1000)
    template = tmp_path / "[id].html.jinja"
    template.write_text("x")
    os.utime(template, ns=(10**18 // 2, 10**18 // 2))  # not written just now
    kept = ReusedRenders()
    for number in range(reuse.MAX_ENTRIES + 300):
        request = get(f"/{number}")
        key = kept.key(request, template, "[id].html")
        assert key is not None
        body = b"%06d" % number * (10 if number % 2 else 1)
        kept.keep(key, Response(200, [], body), [str(template)], kept.generation)
        assert len(kept._kept) <= reuse.MAX_ENTRIES and kept._bytes <= 64 * 1000
    assert kept._bytes == sum(entry.size for entry in kept._kept.values())
    last = reuse.MAX_ENTRIES + 299
    last_key = kept.key(get(f"/{last}"), template, "[id].html")
    assert last_key is not None
    newest = kept.get(last_key)
    assert newest is not None and newest.body == b"%06d" % last * 10
    first = kept.key(get("/0"), template, "[id].html")
    assert first is not None and kept.get(first) is None


def test_compiled_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages render per request (no rendered page is kept); compiled templates are bounded."""
    monkeypatch.setattr(bounds, "COMPILED_TEMPLATES", 8)
    for number in range(30):
        (tmp_path / f"t{number}.html.jinja").write_text(f"page {number}")
    environment = build_environment(Config(root=tmp_path), {})
    for number in range(30):
        assert environment.get_template(f"t{number}.html.jinja").render() == f"page {number}"
    assert environment.cache is not None and len(environment.cache) == 8
    assert environment.get_template("t0.html.jinja").render() == "page 0"


def test_page_memo_tables(tmp_path: Path) -> None:
    page_handler = Pages(build_config(tmp_path, port=0, reload=False))
    try:
        for number in range(MEMO_LIMIT + 100):
            page_handler._note_cost(tmp_path / f"t{number}.jinja", 0.001)
            page_handler._template_name(tmp_path / f"t{number}.jinja")
            page_handler._sources_of({f"t{number}.jinja"})
        for table in (page_handler._render_cost, page_handler._names, page_handler._sources):
            assert len(table) <= MEMO_LIMIT
        assert page_handler._template_name(tmp_path / "t1.jinja") == "t1.jinja"
    finally:
        page_handler.close()


def test_in_memory_sessions() -> None:
    store = MemoryStore()
    for number in range(bounds.SESSIONS_IN_MEMORY + 500):
        store.save(f"session-{number}", {"n": number})
    assert len(store._items) == bounds.SESSIONS_IN_MEMORY
    assert store.load("session-0") is None  # least recently used, forgotten
    last = bounds.SESSIONS_IN_MEMORY + 499
    assert store.load(f"session-{last}") == {"n": last}


def test_data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data_files, "MAX_FILES", 4)
    folder = tmp_path / "_data"
    folder.mkdir()
    for number in range(20):
        (folder / f"d{number}.json").write_text(f'{{"n": {number}}}')
    store = DataFiles(tmp_path)
    for number in range(20):
        assert store.get(f"d{number}") == {"n": number}
        assert len(store._files) <= 4
    assert store.get("d0") == {"n": 0}  # read again after its eviction
    assert list(store._files)[-1].endswith("d0.json")


def test_resolver_route_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A route page makes one entry per distinct URL: clients choose the keys."""
    monkeypatch.setattr("siteserve.site.resolver.CACHE_LIMIT", 256)
    (tmp_path / "items").mkdir()
    (tmp_path / "items" / "[id].html.jinja").write_text("{{ params.id }}")
    resolver = Resolver(tmp_path, follow_symlinks=False)
    for number in range(1000):
        assert resolver.resolve(f"/items/{number}").kind == "page"
    assert len(resolver._cache) == 256
    resolved = resolver.resolve("/items/0")  # evicted, resolved again
    assert resolved.kind == "page" and resolved.params == {"id": "0"}


def test_injector(tmp_path: Path) -> None:
    injector = Injector(cache_entries=50, cache_bytes=20_000)
    page = b"<html><head></head><body>" + b"x" * 900 + b"</body></html>"
    for number in range(500):
        response = Response(200, [("Content-Type", "text/html"), ("ETag", f'"v{number}"')], page)
        injected = injector.apply(response)
        assert isinstance(injected.body, bytes) and SCRIPT_TAG in injected.body
        assert len(injector) <= 50 and injector.cached_bytes <= 20_000
    assert injector.cached_bytes == sum(len(body) for body in injector._cache.values())
    default = Injector()
    assert (default._cache_entries, default._cache_bytes) == (
        bounds.INJECTED_ENTRIES,
        bounds.INJECTED_BYTES,
    )


def test_changed_file_states(tmp_path: Path) -> None:
    states = FileStates(margin=0.0, limit=16)
    paths = []
    for number in range(100):
        path = tmp_path / f"f{number}"
        path.write_text("x")
        os.utime(path, ns=(10**18, 10**18))
        paths.append(path)
        states.remember([path])
        assert len(states._known) <= 17
    assert states.unchanged(paths[-1])
    assert FileStates()._limit == bounds.CHANGE_STATES


def test_hold_answers_during_one_burst(tmp_path: Path) -> None:
    """Random URLs asked while one burst settles: one answer each, up to the bound."""
    (tmp_path / "kept.txt").write_text("x")
    (tmp_path / "edited.txt").write_text("y")
    rule = hold.HoldRule(tmp_path, PageGraph(tmp_path))
    pending = PendingChanges(frozenset({tmp_path / "edited.txt"}))
    for number in range(2 * hold.MAX_ANSWERS + 10):
        assert rule.holds(f"/random-{number}", pending)  # never answered: it waits
        assert len(rule._answers) <= hold.MAX_ANSWERS
    # Still right once it starts over: a file the burst cannot reach is not held.
    assert not rule.holds("/kept.txt", pending)
    assert rule.holds("/edited.txt", pending)


def test_builtin_error_pages() -> None:
    """Error pages with messages made of what clients sent: one each, up to the bound."""
    for number in range(2 * bounds.ERROR_PAGES):
        page = errors.builtin_error(400, message=f"bad header {number}")
        assert f"bad header {number}".encode() in page.body  # type: ignore[operator]
        assert errors._error_page.cache_info().currsize <= bounds.ERROR_PAGES
    again = errors.builtin_error(404)
    assert errors.builtin_error(404).body == again.body
    assert errors._error_page.cache_info().hits >= 1


def test_swept_folders(tmp_path: Path) -> None:
    sweep = LeftoverSweep()
    for number in range(MAX_SWEPT_FOLDERS + 100):
        assert sweep.claim(tmp_path / f"folder-{number}")
        assert len(sweep._swept) <= MAX_SWEPT_FOLDERS
    assert not sweep.claim(tmp_path / f"folder-{MAX_SWEPT_FOLDERS + 99}")


def test_front_matter_index(tmp_path: Path) -> None:
    index = FrontMatterIndex(limit=16)
    paths = []
    for number in range(100):
        path = tmp_path / f"post-{number}.md"
        path.write_text(f"---\ntitle: post {number}\n---\nbody {number}\n")
        paths.append(path)
        assert index.get(path).meta["title"] == f"post {number}"
        assert len(index._entries) <= 16
    assert index.get(paths[0]).meta["title"] == "post 0"  # parsed again after it went


def test_the_supervisors_graph_notes(tmp_path: Path) -> None:
    """--workers: the notes kept for a worker started later, and for one not yet listening."""
    from siteserve.reload.graph import GraphNote
    from siteserve.server.workers import Supervisor, _Worker

    supervisor = Supervisor(build_config(tmp_path, workers=2, sessions="_state/s.db"))
    sender = _Worker(1, None, None, 0.0, ready=True)  # type: ignore[arg-type]
    starting = _Worker(2, None, None, 0.0)  # type: ignore[arg-type]
    supervisor._workers = {1: sender, 2: starting}
    notes = [
        GraphNote(f"/p{n}", (), True, float(n), (), None)
        for n in range(2 * bounds.WORKER_GRAPH_NOTES)
    ]
    try:
        supervisor._handle(sender, ("graph", notes))
    finally:
        supervisor._wake_read.close()
        supervisor._wake_write.close()
    for kept in (supervisor._graph_notes, starting.missed):
        assert len(kept) == bounds.WORKER_GRAPH_NOTES
        assert kept[-1] == notes[-1] and kept[0] == notes[bounds.WORKER_GRAPH_NOTES]
    assert not sender.missed
