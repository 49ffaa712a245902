"""``--workers 2`` on both CPUs: siteserve with two workers, with one, and nginx with two.

    python -m bench.workers [--duration 5] [--connections 50] [--rounds 1]

Two scenarios: the 1 KB file (keep-alive) and the Jinja page of bench.dynamic
(a layout, 20 items, the query echoed); nginx serves the 1 KB file, and for the
page a static copy of the same rendered bytes (nginx renders no templates, so
its row is a ceiling, not a peer). Unlike the other benchmarks nothing is
pinned: every server may use both CPUs, and so does wrk (two threads), which
therefore takes its share of the same CPUs. Servers run one at a time.

Target: two workers answer at least 1.7x the requests per second of one. The
"others" column is the share of both CPUs that went to processes other than
the server and wrk during the run (other work on the machine). Prints Markdown
tables and writes bench/results/workers-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.proc import Children, NotReady, cpu_busy_seconds, exit_with, supervised, wait_ready
from bench.proc import free_port as any_free_port
from bench.render_loop import context, template
from bench.report import Row, ScenarioReport, announce, save
from bench.servers import NGINX_CONF, REPO
from bench.sitegen import PAGE_PATH, make_dynamic_site, make_static_site
from bench.static import probe
from bench.wrk import WrkError, WrkResult, run_wrk

SUBJECT = "siteserve"  # with --workers 2: the row every ratio is against
ONE = "siteserve 1 worker"
NGINX = "nginx 2 workers"
TARGET = 1.7
SESSIONS = "_state/sessions.db"


@dataclass(frozen=True)
class Launch:
    name: str
    #: (site folder, nginx's folder, port, scratch) -> argv
    argv: Callable[[Path, Path, int, Path], list[str]]
    #: The URL path of each scenario on this server.
    paths: dict[str, str]


def _siteserve(workers: int) -> Callable[[Path, Path, int, Path], list[str]]:
    def argv(root: Path, static: Path, port: int, scratch: Path) -> list[str]:
        return [
            *(sys.executable, "-m", "siteserve", str(root)),
            *("--port", str(port), "--strict-port", "--quiet", "--no-reload"),
            *("--workers", str(workers)),
        ]

    return argv


def _nginx(root: Path, static: Path, port: int, scratch: Path) -> list[str]:
    conf = scratch / "nginx.conf"
    user = "user root root;" if os.geteuid() == 0 else ""
    text = NGINX_CONF.replace("worker_processes 1;", "worker_processes 2;")
    values = {"user": user, "scratch": scratch, "host": "127.0.0.1", "port": port, "root": static}
    conf.write_text(text.format(**values))
    return ["nginx", "-p", str(scratch), "-c", str(conf), "-e", str(scratch / "nginx-error.log")]


SITESERVE_PATHS = {"small": "/1k.txt", "page": PAGE_PATH}
LAUNCHES = (
    Launch(SUBJECT, _siteserve(2), SITESERVE_PATHS),
    Launch(ONE, _siteserve(1), SITESERVE_PATHS),
    Launch(NGINX, _nginx, {"small": "/1k.txt", "page": PAGE_PATH.replace("/page", "/page.html")}),
)
TITLES = {
    "small": "1 KB file, keep-alive, on both CPUs (wrk too)",
    "page": "Jinja page (nginx: a static copy of it), keep-alive, on both CPUs (wrk too)",
}


@dataclass
class Measured:
    result: WrkResult
    #: Share of both CPUs other processes took during the run (0..1).
    others: float


def _children_cpu() -> float:
    """CPU time of this process's finished children: wrk, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(port: int, path: str, pid: int, connections: int, duration: float) -> Measured:
    cpus = range(min(2, os.cpu_count() or 1))
    busy_before = sum(cpu_busy_seconds(cpu) for cpu in cpus)
    wrk_before = _children_cpu()
    result = run_wrk(
        port,
        path,
        connections=connections,
        duration_s=duration,
        threads=2,
        server_pid=pid,
        client_cpu=None,
    )
    busy = sum(cpu_busy_seconds(cpu) for cpu in cpus) - busy_before
    wrk = _children_cpu() - wrk_before
    others = busy - (result.server_cpu_s or 0.0) - wrk
    share = max(0.0, min(1.0, others / (result.duration_s * len(cpus)))) if result.duration_s else 0
    # run_wrk's per-CPU shares assume a server on CPU 0 and wrk on CPU 1: not so here.
    unpinned = replace(result, others_on_server_cpu=None, others_on_client_cpu=None)
    return Measured(unpinned, share)


def bench_one(
    children: Children,
    launch: Launch,
    root: Path,
    static: Path,
    scratch: Path,
    args: argparse.Namespace,
    reports: dict[str, ScenarioReport],
    others: dict[tuple[str, str], float],
    expected_page: bytes,
) -> None:
    port = any_free_port()
    folder = scratch / launch.name.replace(" ", "-")
    folder.mkdir(exist_ok=True)
    child = children.launch(
        launch.name, launch.argv(root, static, port, folder), folder / "server.log", cwd=REPO
    )
    try:
        wait_ready(child, port, launch.paths["small"], deadline_s=60.0)
    except NotReady as error:
        print(f"  {launch.name}: did not start: {error}")
        for report in reports.values():
            report.rows.append(Row(launch.name, error="did not start"))
        children.stop(child)
        return
    print(f"  {launch.name}: pid {child.pid}, port {port}")
    try:
        for name, report in reports.items():
            path = launch.paths[name]
            answer = probe(port, path)
            problem = None if answer.status == 200 else f"answered {answer.status}"
            note = f"{answer.status}, {answer.length} B"
            if name == "page" and answer.length != len(expected_page):
                problem = problem or f"{answer.length} B, not the {len(expected_page)} B page"
            try:
                measured = measure(port, path, child.pid, args.connections, args.duration)
            except (OSError, http.client.HTTPException, WrkError) as error:
                report.rows.append(Row(launch.name, error=f"{type(error).__name__}: {error}"))
                continue
            best = report.row(launch.name)
            if best is None or (best.rps or 0) < measured.result.rps:
                if best is not None:
                    report.rows.remove(best)
                report.rows.append(Row(launch.name, measured.result, note, problem=problem))
                others[(name, launch.name)] = measured.others
            print(
                f"    {name:<6} {measured.result.rps:>10,.0f} req/s"
                f"  p99 {measured.result.p99_ms:.2f} ms"
                f"  cpu {measured.result.cpu_us_per_request or 0:.1f} us/req"
                f"  others {measured.others:.0%}  {note}"
            )
    finally:
        children.stop(child)


def verdict(report: ScenarioReport) -> dict[str, Any]:
    ratio = report.ratio(SUBJECT, ONE)
    problems = [row.problem for row in report.rows if row.server in (SUBJECT, ONE) and row.problem]
    met = None if ratio is None or problems else ratio >= TARGET
    return {"scenario": report.name, "ratio": ratio, "target": TARGET, "met": met}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run [5]")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections [50]")
    parser.add_argument("--rounds", type=int, default=1, help="repeat; keep each best [1]")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)

    env, warning = announce()
    reports = {name: ScenarioReport(name, title, "rps") for name, title in TITLES.items()}
    others: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp, supervised() as children:
        scratch = Path(tmp)
        root = scratch / "site"
        make_static_site(root)
        make_dynamic_site(root)
        (root / "siteserve.toml").write_text(f'sessions = "{SESSIONS}"\n')
        expected = template(root).render(context(root)).encode()
        static = scratch / "nginx-root"
        static.mkdir()
        (static / "1k.txt").write_bytes((root / "1k.txt").read_bytes())
        (static / "page.html").write_bytes(expected)
        for number in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"round {number} of {args.rounds}")
            for launch in LAUNCHES:
                bench_one(children, launch, root, static, scratch, args, reports, others, expected)
    after = os.getloadavg()

    print()
    if warning:
        print(warning + "\n")
    verdicts = []
    for report in reports.values():
        print(report.render())
        print()
        shares = ", ".join(
            f"{server} {share:.0%}"
            for (name, server), share in others.items()
            if name == report.name
        )
        print(f"others on both CPUs during the runs: {shares}")
        check = verdict(report)
        verdicts.append(check)
        if check["ratio"] is None:
            print(f"2 workers / 1 worker: not measured (target >= {TARGET}x req/s)")
        else:
            word = {True: "MET", False: "MISSED", None: "NOT COMPARABLE"}[check["met"]]
            ratio = check["ratio"]
            print(f"2 workers / 1 worker: {ratio:.2f}x, {word} (target >= {TARGET}x req/s)")
        print()
    print(f"load average before {tuple(env['load_average'])}, after {after}")
    if not args.no_save:
        path = save(
            "workers",
            {
                "environment": env,
                "load_average_after": after,
                "duration_s": args.duration,
                "connections": args.connections,
                "scenarios": [report.to_json() for report in reports.values()],
                "others": {f"{name}/{server}": share for (name, server), share in others.items()},
                "targets": verdicts,
            },
        )
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    exit_with(main)
