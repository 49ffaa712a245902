"""Static files: siteserve, nginx, http.server, uvicorn + starlette, Flask (and node) in one run.

    python -m bench.static [--duration 5] [--servers siteserve,nginx] [--scenarios small,large]

Each server in turn is launched on a free port, pinned to CPU 0, and loaded by
wrk pinned to CPU 1, scenario after scenario; then its memory is read and it
is stopped by PID. Prints one Markdown table per scenario with ratios to
siteserve and the targets checked, and writes bench/results/static-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.proc import (
    CLIENT_CPU,
    LOCALHOST,
    Children,
    NotReady,
    exit_with,
    pin_self,
    rss_mb,
    supervised,
)
from bench.report import Row, ScenarioReport, Target, announce, save
from bench.servers import (
    STATIC_SERVERS,
    ServerSpec,
    compile_siteserve,
    install_node_http_server,
    start_server,
)
from bench.sitegen import StaticFiles, make_static_site
from bench.wrk import WrkError, interference, run_wrk_settled

#: Run unless --servers says otherwise (uvloop-floor is asked for by name).
DEFAULT_SERVERS = (
    "siteserve",
    "nginx",
    "http.server",
    "uvicorn-starlette",
    "flask",
    "node-http-server",
)
#: Issue #14's footprint targets: lighter than python -m http.server.
RSS_TARGET_MB = 30.0
LAUNCH_TARGET_MS = 120.0


@dataclass(frozen=True)
class Probe:
    status: int
    headers: dict[str, str]
    length: int


def probe(port: int, path: str, headers: dict[str, str] | None = None) -> Probe:
    """One request on its own connection, to see what the server answers (and warm it)."""
    conn = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Probe(response.status, {k.lower(): v for k, v in response.getheaders()}, len(body))
    finally:
        conn.close()


def _size(n: int) -> str:
    return f"{n / 1024:.1f} KB" if n < 1024 * 1024 else f"{n / 1024 / 1024:.1f} MB"


@dataclass(frozen=True)
class Prepared:
    """What wrk sends, what the server answered to it, and why it does not count (if it not)."""

    headers: list[str]
    note: str
    problem: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    path: Callable[[StaticFiles], str]
    connections: int
    prepare: Callable[[int, str], Prepared]
    metric: str = "rps"
    targets: tuple[Target, ...] = ()


def _plain(port: int, path: str) -> Prepared:
    answer = probe(port, path)
    problem = None if answer.status == 200 else f"answered {answer.status}"
    return Prepared([], f"{answer.status}, {_size(answer.length)}", problem)


def _close(port: int, path: str) -> Prepared:
    answer = probe(port, path, {"Connection": "close"})
    problem = None if answer.status == 200 else f"answered {answer.status}"
    return Prepared(["Connection: close"], f"{answer.status}, {_size(answer.length)}", problem)


def _revalidate(port: int, path: str) -> Prepared:
    first = probe(port, path)
    etag = first.headers.get("etag")
    if etag:
        header = ("If-None-Match", etag)
    elif "last-modified" in first.headers:
        # No ETag (python -m http.server): the date validator is all it has.
        header = ("If-Modified-Since", first.headers["last-modified"])
    else:
        return Prepared([], "no validators: plain 200s", "no ETag or Last-Modified")
    answer = probe(port, path, dict([header]))
    note = f"{header[0]} -> {answer.status}, {answer.length} B body"
    problem = None if answer.status == 304 else f"answered {answer.status}, not 304"
    return Prepared([f"{header[0]}: {header[1]}"], note, problem)


def _gzip(port: int, path: str) -> Prepared:
    answer = probe(port, path, {"Accept-Encoding": "gzip"})
    encoding = answer.headers.get("content-encoding", "identity")
    note = f"{answer.status}, {encoding}, {_size(answer.length)}"
    problem = None if encoding == "gzip" else f"sent {encoding}, not gzip"
    return Prepared(["Accept-Encoding: gzip"], note, problem)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "small",
            "1 KB file, keep-alive, 50 connections",
            lambda f: f.small,
            50,
            _plain,
            targets=(Target("nginx", 0.8),),
        ),
        Scenario(
            "medium",
            "100 KB file, keep-alive, 50 connections",
            lambda f: f.medium,
            50,
            _plain,
            targets=(Target("nginx", 0.8),),
        ),
        Scenario(
            "large",
            "10 MB file, keep-alive, 4 connections",
            lambda f: f.large,
            4,
            _plain,
            metric="mbps",
            targets=(Target("nginx", 0.95),),
        ),
        Scenario(
            "close",
            "1 KB file, a new connection per request (Connection: close), 50 connections",
            lambda f: f.small,
            50,
            _close,
            targets=(Target("nginx", 0.85),),
        ),
        Scenario(
            "revalidate",
            "304 revalidation of the 1 KB file (If-None-Match with its ETag), 50 connections",
            lambda f: f.small,
            50,
            _revalidate,
            targets=(Target("nginx", 0.4),),
        ),
        Scenario(
            "gzip",
            "100 KB JavaScript, Accept-Encoding: gzip (nginx: gzip on), 50 connections",
            lambda f: f.script,
            50,
            _gzip,
            targets=(Target("nginx", 0.4),),
        ),
    )
}


@dataclass(frozen=True)
class Settle:
    """Run a scenario again while other processes took more than ``threshold`` of a CPU."""

    retries: int
    threshold: float


@dataclass
class ServerFacts:
    name: str
    launch_ms: list[float] = field(default_factory=list)
    rss_mb: float | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.name,
            "launch_ms": [round(x, 1) for x in self.launch_ms],
            "launch_ms_median": round(statistics.median(self.launch_ms), 1)
            if self.launch_ms
            else None,
            "rss_mb": None if self.rss_mb is None else round(self.rss_mb, 1),
            "error": self.error,
        }


def bench_server(
    children: Children,
    spec: ServerSpec,
    files: StaticFiles,
    scratch: Path,
    scenarios: list[Scenario],
    reports: dict[str, ScenarioReport],
    duration: float,
    launches: int,
    settle: Settle,
) -> ServerFacts:
    facts = ServerFacts(spec.name)
    # Cold launches first (only the time to the first answer counts), then the measured one.
    for _ in range(max(0, launches - 1)):
        child, _port, ms = start_server(children, spec, files.root, files.small, scratch)
        facts.launch_ms.append(ms)
        children.stop(child)
    child, port, ms = start_server(children, spec, files.root, files.small, scratch)
    facts.launch_ms.append(ms)
    print(f"  {spec.name}: pid {child.pid}, port {port}, first answer after {ms:.0f} ms")
    try:
        for scenario in scenarios:
            report = reports[scenario.name]
            path = scenario.path(files)
            if not child.alive():
                report.rows.append(Row(spec.name, error="server exited"))
                continue
            try:
                prepared = scenario.prepare(port, path)
                result = run_wrk_settled(
                    port,
                    path,
                    retries=settle.retries,
                    threshold=settle.threshold,
                    connections=scenario.connections,
                    duration_s=duration,
                    headers=prepared.headers,
                    server_pid=child.pid,
                )
            except (OSError, http.client.HTTPException, WrkError) as error:
                report.rows.append(Row(spec.name, error=f"{type(error).__name__}: {error}"))
                continue
            note = prepared.note
            report.rows.append(Row(spec.name, result, note, problem=prepared.problem))
            print(
                f"    {scenario.name:<10} {result.rps:>10,.0f} req/s {result.mb_per_s:>9,.1f} MB/s"
                f"  p99 {result.p99_ms:.2f} ms"
                f"  cpu {result.cpu_us_per_request or 0:.1f} us/req"
                f"  others {interference(result):.0%}  {note}"
            )
        facts.rss_mb = rss_mb(child.pid)
    finally:
        children.stop(child)
    return facts


def run_server(
    children: Children,
    spec: ServerSpec,
    files: StaticFiles,
    scratch: Path,
    scenarios: list[Scenario],
    reports: dict[str, ScenarioReport],
    args: argparse.Namespace,
) -> ServerFacts:
    reason = spec.available()
    if reason:
        print(f"  {spec.name}: skipped, {reason}")
        return ServerFacts(spec.name, error=reason)
    try:
        return bench_server(
            children,
            spec,
            files,
            scratch,
            scenarios,
            reports,
            args.duration,
            args.launches,
            Settle(args.retries, args.busy_threshold),
        )
    except NotReady as error:
        print(f"  {spec.name}: did not start: {error}")
        return ServerFacts(spec.name, error="did not start")


def best_of(
    rounds: list[tuple[dict[str, ScenarioReport], list[ServerFacts]]],
) -> tuple[dict[str, ScenarioReport], list[ServerFacts]]:
    """Each server's best figure per scenario over the rounds (the least disturbed run).

    On a shared machine a round is slowed by whatever else ran meanwhile, never
    sped up, so the best of several is the closest to the server's own speed.
    """
    first_reports, first_facts = rounds[0]
    reports: dict[str, ScenarioReport] = {}
    for name, first in first_reports.items():
        merged = ScenarioReport(first.name, first.title, first.metric, first.targets)
        for row in first.rows:
            candidates = [r for each, _ in rounds if (r := each[name].row(row.server))]
            measured = [r for r in candidates if merged.figure(r) is not None]
            merged.rows.append(
                max(measured, key=lambda r: merged.figure(r) or 0.0) if measured else row
            )
        reports[name] = merged
    facts: list[ServerFacts] = []
    for fact in first_facts:
        same = [f for _, each in rounds for f in each if f.name == fact.name and not f.error]
        if not same:
            facts.append(fact)
            continue
        rss = [f.rss_mb for f in same if f.rss_mb is not None]
        facts.append(
            ServerFacts(
                fact.name,
                launch_ms=[ms for f in same for ms in f.launch_ms],
                rss_mb=max(rss) if rss else None,
            )
        )
    return reports, facts


def server_table(facts: list[ServerFacts]) -> str:
    lines = [
        "### Server processes",
        "",
        "| server | launch -> first 200, ms (median of runs) | RSS after the run, MB |",
        "| --- | ---: | ---: |",
    ]
    for fact in facts:
        if fact.error:
            lines.append(f"| {fact.name} | - | - ({fact.error}) |")
            continue
        runs = ", ".join(f"{x:.0f}" for x in fact.launch_ms)
        launch = f"{statistics.median(fact.launch_ms):.0f} ({runs})" if fact.launch_ms else "-"
        rss = f"{fact.rss_mb:.1f}" if fact.rss_mb is not None else "-"
        lines.append(f"| {fact.name} | {launch} | {rss} |")
    mine = next((f for f in facts if f.name == "siteserve" and not f.error), None)
    if mine and mine.launch_ms and mine.rss_mb is not None:
        median_ms = statistics.median(mine.launch_ms)
        launch_met = "MET" if median_ms < LAUNCH_TARGET_MS else "MISSED"
        rss_met = "MET" if mine.rss_mb < RSS_TARGET_MB else "MISSED"
        lines.append("")
        lines.append(
            f"siteserve launch -> first 200: {median_ms:.0f} ms, "
            f"{launch_met} (target < {LAUNCH_TARGET_MS:.0f} ms)"
        )
        lines.append(
            f"siteserve RSS after the run: {mine.rss_mb:.1f} MB, "
            f"{rss_met} (target < {RSS_TARGET_MB:.0f} MB)"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run [5]")
    parser.add_argument(
        "--servers",
        default=",".join(DEFAULT_SERVERS),
        help=f"comma-separated, in order, of {', '.join(STATIC_SERVERS)} "
        f"[{','.join(DEFAULT_SERVERS)}]",
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated [{','.join(SCENARIOS)}]"
    )
    parser.add_argument("--launches", type=int, default=3, help="launches timed per server [3]")
    parser.add_argument(
        "--install-node", action="store_true", help="npm install node's http-server first"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat everything; report each best figure [1]"
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=2,
        help="runs again while other processes disturb the CPUs, at most this often [2]",
    )
    parser.add_argument(
        "--busy-threshold",
        type=float,
        default=0.10,
        help="share of a CPU taken by others that counts as disturbed [0.10]",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)

    names = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in names if n not in STATIC_SERVERS]
    scenario_names = [n.strip() for n in args.scenarios.split(",") if n.strip()]
    unknown += [n for n in scenario_names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    if args.install_node:
        install_node_http_server()
    scenarios = [SCENARIOS[n] for n in scenario_names]
    pin_self(CLIENT_CPU)
    compile_siteserve()
    env, warning = announce()

    rounds: list[tuple[dict[str, ScenarioReport], list[ServerFacts]]] = []
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp, supervised() as children:
        scratch = Path(tmp)
        files = make_static_site(scratch / "site")
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}")
            reports = {
                s.name: ScenarioReport(s.name, s.title, s.metric, list(s.targets))
                for s in scenarios
            }
            facts = [
                run_server(children, STATIC_SERVERS[name], files, scratch, scenarios, reports, args)
                for name in names
            ]
            rounds.append((reports, facts))
    reports, facts = best_of(rounds)

    print()
    if warning:
        print(warning + "\n")
    for report in reports.values():
        print(report.render())
        print()
    print(server_table(facts))
    if not args.no_save:
        path = save(
            "static",
            {
                "environment": env,
                "duration_s": args.duration,
                "rounds": args.rounds,
                "scenarios": [r.to_json() for r in reports.values()],
                "servers": [f.to_json() for f in facts],
                "every_round": [
                    {
                        "scenarios": [r.to_json() for r in each.values()],
                        "servers": [f.to_json() for f in each_facts],
                    }
                    for each, each_facts in rounds
                ],
            },
        )
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    exit_with(main)
