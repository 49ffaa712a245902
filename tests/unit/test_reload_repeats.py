"""What the reload layer does once and not per request: a reused render's injected answer
(``reload.repeats``), a kept file answer's note in the page graph (``PageGraph.epoch``)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from siteserve.config import build_config
from siteserve.http.response import Response
from siteserve.reload import graph as graph_module
from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import RawEvent
from siteserve.reload.graph import GraphNote, PageGraph, Repeat
from siteserve.reload.inject import SCRIPT_TAG
from siteserve.reload.repeats import PageRepeats
from tests.unit.test_reload_app import HTML, FakeSite, request

BODY = b"<html><head></head><body>kept</body></html>"


def rendered(body: bytes = BODY, *sources: Path) -> Response:
    """What the Site's kept render hands out each time: a new Response, the same body."""
    return Response(
        200, [("Content-Type", HTML), ("Cache-Control", "no-cache")], body, sources=sources
    )


def reload_app(root: Path, site: FakeSite) -> ReloadApp:
    return ReloadApp(site, build_config(root, reload=True))  # type: ignore[arg-type]


def answer(app: ReloadApp, path: str, **fields: str) -> Response:
    result = app.handle(request(path, **fields))
    assert isinstance(result, Response)
    return result


def test_a_render_answered_again_gets_the_injected_copy_made_for_its_first_answer(
    tmp_path: Path,
) -> None:
    site = FakeSite(tmp_path)
    layout = tmp_path / "_layouts" / "base.html"
    site.routes["/p"] = lambda r: rendered(BODY, layout)
    app = reload_app(tmp_path, site)
    first = answer(app, "/p")
    assert first.body == BODY.replace(b"</head>", SCRIPT_TAG + b"</head>")
    served = app.graph.served_at("/p")
    again = answer(app, "/p")
    assert again.body is first.body, "the copy made for the first answer"
    assert again.headers == first.headers and again.headers is not first.headers
    assert again.sources == (layout,)
    assert app.graph.page_sources("/p") == frozenset({layout})
    later = app.graph.served_at("/p")
    assert served is not None and later is not None and later >= served, "served again: noted"


def test_what_the_copy_depends_on_is_compared_each_time(tmp_path: Path) -> None:
    repeats = PageRepeats()
    response = rendered()
    made = Response(200, [("Content-Type", HTML)], b"injected")
    repeats.keep(request("/p"), response, made, epoch=3)
    assert repeats.get(request("/p"), rendered(), 3) is not None
    assert repeats.get(request("/p"), rendered(b"<p>another body</p>"), 3) is None
    assert repeats.get(request("/p"), rendered(), 4) is None, "the graph moved on"
    assert repeats.get(request("/q"), rendered(), 3) is None, "another URL"
    assert repeats.get(request("/p", referer="http://127.0.0.1:8000/"), rendered(), 3) is None
    headed = rendered()
    headed.headers.append(("X-Rule", "1"))
    assert repeats.get(request("/p"), headed, 3) is None, "a layer inside changed the headers"
    assert repeats.get(request("/p"), Response(404, response.headers, BODY), 3) is None
    repeats.clear()
    assert repeats.get(request("/p"), rendered(), 3) is None


def test_repeats_are_bounded_by_entries_and_bytes(tmp_path: Path) -> None:
    repeats = PageRepeats(max_entries=2, max_bytes=400)
    bodies = [b"<p>%d</p>" % n for n in range(3)]
    for body in bodies:
        repeats.keep(request("/p"), rendered(body), Response(200, [], body + b"!"), epoch=0)
    assert len(repeats) == 2
    assert repeats.get(request("/p"), rendered(bodies[0]), 0) is None, "the oldest went first"
    repeats.keep(request("/p"), rendered(b"x" * 200), Response(200, [], b"y"), epoch=0)
    assert repeats.get(request("/p"), rendered(b"x" * 200), 0) is None, "too large to keep"


def test_a_change_set_and_a_burst_move_the_graph_on(tmp_path: Path) -> None:
    site = FakeSite(tmp_path)
    site.routes["/p"] = lambda r: rendered()
    app = reload_app(tmp_path, site)

    async def go() -> None:
        await app.startup()
        try:
            first = answer(app, "/p")
            assert answer(app, "/p").body is first.body
            assert app.debouncer is not None
            app.debouncer.add([RawEvent("closed", tmp_path / "other.txt")])
            assert len(app.repeats) == 1
            epoch = app.graph.epoch
            await app.debouncer.wait_settled(10.0)
            assert len(app.repeats) == 0, "a change set drops every copy"
            assert app.graph.epoch > epoch
        finally:
            await app.shutdown()

    asyncio.run(go())


def test_the_epoch_moves_when_a_note_may_have_been_dropped_or_replaced(tmp_path: Path) -> None:
    graph = PageGraph(tmp_path)
    one, two = tmp_path / "one.js", tmp_path / "two.js"
    at = graph.epoch
    graph.record(request("/a.js"), Response(200, [], b"", sources=(one,)), page=False)
    assert graph.epoch > at, "a URL's sources recorded"
    graph.record(request("/p"), Response(200, [], b"", sources=(one,)), page=True)
    at = graph.epoch
    graph.record(request("/p"), Response(200, [], b"", sources=(one,)), page=True)
    graph.record(request("/a.js"), Response(200, [], b"", sources=(one,)), page=False)
    assert graph.epoch == at, "the same notes again change nothing"
    graph.record(request("/a.js"), Response(200, [], b"", sources=(two,)), page=False)
    assert graph.epoch > at, "replaced"
    at = graph.epoch
    graph.renote()
    assert graph.epoch > at


def test_a_kept_files_answer_is_noted_again_once_the_graph_dropped_its_note(
    tmp_path: Path,
) -> None:
    site = FakeSite(tmp_path)
    script = tmp_path / "app.js"
    site.routes["/app.js"] = lambda r: Response(
        200,
        [("Content-Type", "text/javascript")],
        b"1",
        sources=(script,),
        still_valid=lambda: True,
    )
    app = reload_app(tmp_path, site)
    kept = answer(app, "/app.js", referer="http://127.0.0.1:8000/")
    assert kept.still_valid is not None
    assert app.graph.used_by("/") == frozenset({script})
    calls: list[Repeat] = []
    record_again = app.graph.record_again

    def counted(repeat: Repeat) -> GraphNote | None:
        calls.append(repeat)
        return record_again(repeat)

    app.graph.record_again = counted  # type: ignore[method-assign]
    for _ in range(3):
        assert kept.still_valid()
    assert calls == [], "nothing dropped: given again without a note"
    # Other URLs push its note and its link out of the graph's bounds.
    for n in range(graph_module.MAX_URLS + 1):
        app.graph.record(
            request(f"/x{n}", referer=f"http://127.0.0.1:8000/page{n}"),
            Response(200, [], b"", sources=(tmp_path / f"x{n}",)),
            page=False,
        )
    assert app.graph.used_by("/") == frozenset()
    assert kept.still_valid()
    assert len(calls) == 1
    assert app.graph.used_by("/") == frozenset({script}), "noted again"
    assert kept.still_valid() and len(calls) == 1
