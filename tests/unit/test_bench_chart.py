"""bench.chart on small results files written here: the table's rows and ratios, the PNG."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from bench import chart


def _row(
    server: str, rps: float, mb_per_s: float = 1.0, problem: str | None = None
) -> dict[str, object]:
    return {
        "server": server,
        "rps": rps,
        "wrk": {"mb_per_s": mb_per_s},
        "problem": problem,
        "error": None,
    }


def _write(results: Path) -> None:
    results.mkdir()
    static = {
        "environment": {"time": "2026-12-01T10:00:00+0000", "commit": "abc1234"},
        "scenarios": [
            {
                "name": "small",
                "title": "1 KB file, keep-alive, 50 connections",
                "metric": "rps",
                "rows": [
                    _row("siteserve", 40000),
                    _row("nginx", 80000),
                    _row("uvicorn-starlette", 2000),
                    {"server": "http.server", "error": "did not start"},
                ],
            },
            {
                "name": "large",
                "title": "10 MB file",
                "metric": "mbps",
                "rows": [_row("siteserve", 250, 2500), _row("nginx", 300, 3000)],
            },
            {
                "name": "gzip",
                "title": "gzip",
                "metric": "rps",
                "rows": [_row("siteserve", 6000), _row("flask", 900, problem="sent identity")],
            },
        ],
        "servers": [
            {"server": "siteserve", "launch_ms_median": 100.0, "rss_mb": 30.0, "error": None},
            {"server": "flask", "launch_ms_median": 200.0, "rss_mb": 33.0, "error": None},
            {"server": "node-http-server", "error": "node is not installed"},
        ],
    }
    dynamic = {
        "environment": {"commit": "abc1234", "load_average": [0.5, 0.5, 0.5]},
        "scenarios": [
            {
                "name": "dynamic-simple",
                "title": "page",
                "metric": "rps",
                "rows": [_row("siteserve", 6000), _row("flask", 2000)],
            }
        ],
    }
    # An older run, which must not be read.
    (results / "static-20261130-090000.json").write_text(json.dumps({"scenarios": []}))
    (results / "static-20261201-100000.json").write_text(json.dumps(static))
    (results / "dynamic-20261201-100100.json").write_text(json.dumps(dynamic))
    reload = [{"name": "siteserve", "html_ms": [30, 40, 50], "css_ms": [10]}]
    (results / "reload_latency.json").write_text(json.dumps(reload))


def _table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_the_table_has_a_row_per_scenario_and_footprint_figure_with_ratios(
    tmp_path: Path,
) -> None:
    _write(tmp_path / "results")
    text = chart.markdown(chart.load(tmp_path / "results"))
    rows = _table_rows(text)
    header = rows.pop("scenario")
    assert header == [
        "unit",
        "siteserve",
        "nginx (1 worker)",
        "uvicorn + starlette",
        "Flask dev server",
    ]
    assert rows["1 KB file, keep-alive"] == [
        "req/s",
        "40,000",
        "80,000 (0.50x)",
        "2,000 (20.00x)",
        "-",
    ]
    # MB/s for the large file, not req/s.
    assert rows["10 MB file, 4 connections"] == ["MB/s", "2,500", "3,000 (0.83x)", "-", "-"]
    # A server that did not answer as meant gets its figure but no ratio.
    assert rows["100 KB JavaScript, gzip"][4] == "900 (n/c)"
    # Lower is better: a server twice as slow to start is siteserve's 2x.
    assert rows["launch -> first answer"] == ["ms, lower is better", "100", "-", "-", "200 (2.00x)"]
    assert rows["RSS after the run"][1] == "30.0"
    assert rows["Jinja page: layout, 20-item loop"][4] == "2,000 (3.00x)"
    assert rows["HTML edit -> new DOM, p50"][1] == "40.0"
    assert rows["CSS swap, p50"][1] == "10.0"
    assert "static-20261201-100000.json" in text
    assert "static-20261130-090000.json" not in text


def test_main_prints_the_table_and_writes_a_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if importlib.util.find_spec("matplotlib") is None and not os.environ.get("CI"):
        pytest.skip("matplotlib is not installed (pip install -e '.[bench]')")
    _write(tmp_path / "results")
    out = tmp_path / "docs" / "performance.png"
    assert chart.main(["--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    printed = capsys.readouterr().out
    assert "| 1 KB file, keep-alive | req/s | 40,000 |" in printed


def test_main_says_what_to_run_when_there_are_no_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "performance.png"
    assert chart.main(["--results", str(tmp_path), "--out", str(out)]) == 1
    assert "python -m bench.static" in capsys.readouterr().err
    assert not out.exists()
