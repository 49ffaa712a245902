"""--workers: what one worker's page graph learns, another's learns from its notes, so a
tab whose socket is on another worker than its page's is told what one process tells it."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

from siteserve.http.response import Response
from siteserve.reload.graph import PageGraph, Repeat
from tests.unit.test_reload_app import request


def test_a_graph_that_learns_the_notes_answers_as_the_one_that_served(tmp_path: Path) -> None:
    served, other = PageGraph(tmp_path, shared=True), PageGraph(tmp_path, shared=True)
    layout, data = tmp_path / "_layouts" / "base.html", tmp_path / "_data" / "menu.yaml"
    response = Response(200, [], b"", sources=(layout, data), warnings=("'x' is undefined",))
    note = served.record(request("/p"), response, page=True)
    assert note is not None
    other.learn(pickle.loads(pickle.dumps(note)))  # as it crosses the supervisor
    unrelated = frozenset({tmp_path / "notes.txt"})
    for graph in (served, other):
        assert graph.affects("/p", (), frozenset({layout}))
        assert not graph.affects("/p", (), unrelated)
        assert graph.warnings_for("/p") == ("'x' is undefined",)
        assert graph.served_at("/p") == note.served
    assert PageGraph(tmp_path).affects("/p", (), unrelated), "unknown: reloads on anything"


def test_subresources_pulled_in_through_one_worker_count_on_the_other(tmp_path: Path) -> None:
    served, other = PageGraph(tmp_path, shared=True), PageGraph(tmp_path, shared=True)
    script = tmp_path / "app.js"
    script.write_text("1")
    page_note = served.record(request("/"), Response(200, [], b""), page=True)
    asset = request("/app.js", referer="http://127.0.0.1:8000/")
    script_note = served.record(asset, Response(200, [], b"", sources=(script,)), page=False)
    assert page_note is not None and script_note is not None
    for note in (page_note, script_note):
        other.learn(note)
    assert other.affects("/", (), frozenset({script}))
    # Asked again for the same file by the same page: nothing new, no note.
    assert served.record(asset, Response(200, [], b"", sources=(script,)), page=False) is None


def test_an_unchanged_page_is_noted_again_only_after_a_change(tmp_path: Path) -> None:
    graph = PageGraph(tmp_path, shared=True)
    page = tmp_path / "index.html"

    def render() -> object:
        return graph.record(request("/"), Response(200, [], b"", sources=(page,)), page=True)

    assert render() is not None
    assert render() is None, "the same sources, no change since: the others know it"
    graph.changed()
    assert render() is not None, "served after a change: its time matters to a late tab"
    assert PageGraph(tmp_path).record(request("/"), Response(200, [], b""), page=True) is None


def test_an_answer_given_again_is_noted_as_its_request_was(tmp_path: Path) -> None:
    # A kept answer goes out without its request being parsed (server.answers): what the
    # graph read from the request then is what it notes now.
    script = tmp_path / "app.js"
    script.write_text("1")
    asset = request("/app.js", referer="http://127.0.0.1:8000/")
    answer = Response(200, [], b"", sources=(script,))
    normal, again = PageGraph(tmp_path, shared=True), PageGraph(tmp_path, shared=True)
    for graph in (normal, again):
        graph.record(request("/"), Response(200, [], b""), page=True)
    normal_note = normal.record(asset, answer, page=False)
    again_note = again.record_again(Repeat.of(asset, answer))
    assert again_note is not None and normal_note is not None
    assert replace(again_note, served=normal_note.served) == normal_note  # but for the clock
    assert again_note.referer_path == "/"
    assert again.used_by("/") == normal.used_by("/") == frozenset({script})
