"""The README's performance figures: the newest bench results as one Markdown table and one chart.

    python -m bench.static && python -m bench.dynamic && python -m bench.chart

Reads the newest ``static-*.json`` and ``dynamic-*.json`` in bench/results (and
``reload_latency*.json`` when there is one, from ``python -m bench.reload_latency
--json bench/results/reload_latency.json``), prints every figure with siteserve's
ratio to it as a Markdown table, and draws the same figures as bars, one panel per
scenario, into a PNG (``--out``, docs/performance.png). Only figures measured in
the same run stand side by side: each panel and each table row comes from one file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.report import BASELINE, RESULTS

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "performance.png"
#: How the table and the chart name each server of the results files.
LABELS = {
    "siteserve": "siteserve",
    "nginx": "nginx (1 worker)",
    "http.server": "python -m http.server",
    "uvicorn-starlette": "uvicorn + starlette",
    "flask": "Flask dev server",
    "node-http-server": "node http-server",
    "in-process ceiling": "Jinja in-process",
    "uvloop-floor": "uvloop floor",
    "live-server": "live-server",
}
#: Short names for the scenarios the bench modules write.
SCENARIOS = {
    "small": "1 KB file, keep-alive",
    "medium": "100 KB file, keep-alive",
    "large": "10 MB file, 4 connections",
    "close": "1 KB file, new connection per request",
    "revalidate": "304 revalidation (1 KB file)",
    "gzip": "100 KB JavaScript, gzip",
    "dynamic-simple": "Jinja page: layout, 20-item loop",
    "dynamic-heavy": "Jinja page: macros, partials, filters",
    "dynamic-rich": "Jinja page: loop with filters",
}


@dataclass(frozen=True)
class Figure:
    server: str
    value: float
    #: False when the server did not answer as the scenario means (no 304, no gzip).
    comparable: bool = True


@dataclass(frozen=True)
class Line:
    """One table row and one chart panel: a scenario and each server's figure in one run."""

    title: str
    unit: str
    higher_is_better: bool
    figures: tuple[Figure, ...]

    def value(self, server: str) -> float | None:
        return next((f.value for f in self.figures if f.server == server), None)

    def ratio(self, figure: Figure) -> float | None:
        """How many times better siteserve did than ``figure`` (above 1x: siteserve is ahead)."""
        mine = self.value(BASELINE)
        if mine is None or not figure.comparable or not mine or not figure.value:
            return None
        return mine / figure.value if self.higher_is_better else figure.value / mine


def _figure(row: dict[str, Any], metric: str) -> Figure | None:
    if row.get("error"):
        return None
    value = (row.get("wrk") or {}).get("mb_per_s") if metric == "mbps" else row.get("rps")
    if value is None:
        return None
    return Figure(str(row["server"]), float(value), comparable=not row.get("problem"))


def scenario_lines(data: dict[str, Any]) -> list[Line]:
    """A line per scenario of a bench.static or bench.dynamic results file."""
    lines = []
    for scenario in data.get("scenarios", []):
        metric = scenario.get("metric", "rps")
        figures = [f for row in scenario["rows"] if (f := _figure(row, metric))]
        if figures:
            title = SCENARIOS.get(scenario["name"], scenario["title"])
            unit = "MB/s" if metric == "mbps" else "req/s"
            lines.append(Line(title, unit, True, tuple(figures)))
    return lines


def footprint_lines(data: dict[str, Any]) -> list[Line]:
    """Launch -> first answer and memory after the run, from bench.static's server facts."""
    launch, rss = [], []
    for fact in data.get("servers", []):
        if fact.get("error"):
            continue
        if fact.get("launch_ms_median") is not None:
            launch.append(Figure(fact["server"], float(fact["launch_ms_median"])))
        if fact.get("rss_mb") is not None:
            rss.append(Figure(fact["server"], float(fact["rss_mb"])))
    lines = []
    if launch:
        lines.append(Line("launch -> first answer", "ms", False, tuple(launch)))
    if rss:
        lines.append(Line("RSS after the run", "MiB", False, tuple(rss)))
    return lines


def reload_lines(results: list[dict[str, Any]]) -> list[Line]:
    """Median write -> new DOM (HTML) and write -> new style (CSS), from bench.reload_latency."""
    lines = []
    for key, title in (("html_ms", "HTML edit -> new DOM, p50"), ("css_ms", "CSS swap, p50")):
        figures = tuple(
            Figure(str(r["name"]), statistics.median(r[key])) for r in results if r.get(key)
        )
        if figures:
            lines.append(Line(title, "ms", False, figures))
    return lines


def newest(results: Path, pattern: str) -> Path | None:
    # The bench modules name their files by time (kind-YYYYMMDD-HHMMSS.json).
    found = sorted(results.glob(pattern))
    return found[-1] if found else None


@dataclass(frozen=True)
class Loaded:
    lines: list[Line]
    #: Each file read, with when and on which commit it was measured (when it says).
    sources: list[str]


def load(results: Path) -> Loaded:
    lines: list[Line] = []
    sources: list[str] = []
    for pattern, read in (
        ("static-*.json", lambda d: scenario_lines(d) + footprint_lines(d)),
        ("dynamic-*.json", scenario_lines),
    ):
        path = newest(results, pattern)
        if path is None:
            continue
        data = json.loads(path.read_text())
        lines += read(data)
        env = data.get("environment", {})
        load_1m = (env.get("load_average") or [None])[0]
        facts = [f"{env['time']}" if env.get("time") else "", f"commit {env.get('commit')}"]
        if load_1m is not None:
            facts.append(f"load {load_1m:.2f}")
        sources.append(f"{path.name} ({', '.join(f for f in facts if f)})")
    path = newest(results, "reload_latency*.json")
    if path is not None:
        lines += reload_lines(json.loads(path.read_text()))
        sources.append(path.name)
    return Loaded(lines, sources)


def servers(lines: list[Line]) -> list[str]:
    """Every server that has a figure, siteserve first, then in the order they appear."""
    order = [BASELINE]
    for line in lines:
        order += [f.server for f in line.figures if f.server not in order]
    return order


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def cell(line: Line, server: str) -> str:
    figure = next((f for f in line.figures if f.server == server), None)
    if figure is None:
        return "-"
    if server == BASELINE:
        return _number(figure.value)
    if not figure.comparable:
        return f"{_number(figure.value)} (n/c)"
    ratio = line.ratio(figure)
    return _number(figure.value) + ("" if ratio is None else f" ({ratio:.2f}x)")


def markdown(loaded: Loaded) -> str:
    names = servers(loaded.lines)
    lines = [
        "| scenario | unit | " + " | ".join(LABELS.get(n, n) for n in names) + " |",
        "| --- | --- |" + " ---: |" * len(names),
    ]
    for line in loaded.lines:
        better = "" if line.higher_is_better else ", lower is better"
        cells = [line.title, line.unit + better] + [cell(line, n) for n in names]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "In brackets: how many times better siteserve did than that server in the same run "
        "(above 1x, siteserve is ahead). n/c: that server did not answer as the scenario "
        "means (no 304, no gzip), so no ratio.",
        "",
        "From: " + "; ".join(loaded.sources),
    ]
    return "\n".join(lines)


def draw(loaded: Loaded, out: Path) -> None:
    """One panel per line: a bar per server, siteserve's highlighted, each with its ratio."""
    # Only the object API (no pyplot): no GUI backend, no global figure state.
    from matplotlib.figure import Figure as Canvas

    columns = 3
    rows = max(1, -(-len(loaded.lines) // columns))
    canvas = Canvas(figsize=(5.2 * columns, 2.6 * rows), layout="constrained")
    axes = canvas.subplots(rows, columns, squeeze=False).flatten()
    for ax, line in zip(axes, loaded.lines, strict=False):
        names = [f.server for f in line.figures]
        values = [f.value for f in line.figures]
        colours = ["tab:orange" if n == BASELINE else "tab:gray" for n in names]
        bars = ax.barh([LABELS.get(n, n) for n in names], values, color=colours)
        ax.invert_yaxis()  # siteserve (listed first) on top
        labels = []
        for figure in line.figures:
            text = _number(figure.value)
            ratio = line.ratio(figure)
            if figure.server != BASELINE:
                text += " (n/c)" if not figure.comparable else f" ({ratio:.2f}x)" if ratio else ""
            labels.append(text)
        ax.bar_label(bars, labels=labels, padding=3, fontsize=8)
        ax.set_xlim(0, max(values) * 1.45)
        better = "higher is better" if line.higher_is_better else "lower is better"
        ax.set_title(f"{line.title}\n{line.unit}, {better}", fontsize=9)
        ax.tick_params(labelsize=8)
    for ax in axes[len(loaded.lines) :]:
        ax.set_visible(False)
    canvas.suptitle(
        "siteserve and the others, each panel one run (in brackets: siteserve's advantage)\n"
        + "; ".join(loaded.sources),
        fontsize=8,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.savefig(out, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=RESULTS, help="[bench/results]")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="[docs/performance.png]")
    args = parser.parse_args(argv)
    loaded = load(args.results)
    if not loaded.lines:
        print(
            f"no static-*.json or dynamic-*.json in {args.results}: "
            "run python -m bench.static and python -m bench.dynamic first",
            file=sys.stderr,
        )
        return 1
    print(markdown(loaded))
    draw(loaded, args.out)
    print(f"\nchart: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
