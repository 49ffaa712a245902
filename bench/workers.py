"""``--workers 2`` on both CPUs: siteserve with two workers, with one, and nginx with two.

    python -m bench.workers [--duration 5] [--connections 50] [--rounds 1]

Two scenarios: the 1 KB file (keep-alive) and the Jinja page of bench.dynamic
(a layout, 20 items, the query echoed); nginx serves the 1 KB file, and for the
page a static copy of the same rendered bytes (nginx renders no templates, so
its row is a ceiling, not a peer). Servers run one at a time, each once all its
processes listen: the port answers as soon as the first worker does, and wrk's
keep-alive connections stay where they landed.

What is compared. Unlike the other benchmarks nothing is pinned, in any row:
siteserve with ``--workers 2`` (a supervisor and two worker processes), siteserve
with one process (``--workers 1``: no supervisor), and nginx with
``worker_processes 2`` may each use both CPUs, and so does wrk (two threads) in
the same run. So the comparison is not "one CPU against two": one worker keeps
one CPU busy and leaves wrk the other, while two workers share both CPUs with
wrk. The ratio can therefore not reach 2x; how far it can go is printed as the
ceiling: both CPUs divided by what one request costs the two workers and wrk
together, against one CPU divided by what it costs one worker (CPU time per
request, so it holds on a busy machine too).

For each run it also prints where the CPUs went, so that a ratio below the
ceiling says why: the server's CPU time in CPUs (2.0: both full), with two
workers each worker's share of it (the kernel's SO_REUSEPORT hash spreads
wrk's connections; a 100/0 split would mean one worker got them all), wrk's
CPU per request, and the share of both CPUs left idle (idle CPU while the
server is below 2.0 means the workers were waiting, not busy).

Target: two workers answer at least 1.7x the requests per second of one. The
"others" figure is the share of both CPUs that went to processes other than
the server and wrk during the run (other work on the machine). Prints Markdown
tables and writes bench/results/workers-*.json.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.proc import (
    Children,
    NotReady,
    cpu_busy_seconds,
    cpu_seconds,
    exit_with,
    supervised,
    wait_ready,
)
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
    #: Listening sockets on the port once every process of it listens (see ``all_listening``).
    listeners: int = 1


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
    Launch(SUBJECT, _siteserve(2), SITESERVE_PATHS, listeners=2),
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
    #: Share of both CPUs nobody used during the run (0..1).
    idle: float = 0.0
    #: wrk's CPU time per request, microseconds.
    wrk_us: float = 0.0
    #: Each worker's share of the server's CPU time (two workers; empty for one process).
    split: tuple[float, ...] = ()

    @property
    def server_cpus(self) -> float:
        """The server's CPU time over the run's length: 1.0 is one CPU kept busy."""
        r = self.result
        return (r.server_cpu_s or 0.0) / r.duration_s if r.duration_s else 0.0

    def describe(self) -> str:
        shares = "/".join(f"{share:.0%}" for share in self.split)
        split = f", workers {shares}" if self.split else ""
        return (
            f"server {self.server_cpus:.2f} CPUs{split}; wrk {self.wrk_us:.1f} us/req;"
            f" idle {self.idle:.0%}; others {self.others:.0%}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "others": round(self.others, 3),
            "idle": round(self.idle, 3),
            "wrk_cpu_us_per_request": round(self.wrk_us, 2),
            "server_cpus": round(self.server_cpus, 3),
            "worker_split": [round(share, 3) for share in self.split],
        }


def _workers_of(pid: int) -> list[int]:
    """The processes ``pid`` started (a supervisor's workers; nginx's)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def listening_sockets(port: int) -> int:
    """How many sockets listen on ``port`` (each SO_REUSEPORT worker has its own)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                # Field 3 is the state: 0A is LISTEN.
                if fields[3] == "0A" and int(fields[1].rpartition(":")[2], 16) == port:
                    count += 1
    return count


def all_listening(port: int, count: int, deadline_s: float) -> bool:
    """Wait until ``count`` sockets listen on ``port``.

    The port answers as soon as the first worker listens, and wrk's keep-alive
    connections, opened at once, stay with the worker that took them: started
    before the second worker listens, a run measures one worker under the name of
    two (the last session's 0.97x on the first scenario).
    """
    end = time.monotonic() + deadline_s
    while listening_sockets(port) < count:
        if time.monotonic() > end:
            return False
        time.sleep(0.05)  # polling another process's start-up, bounded by the deadline
    return True


def _children_cpu() -> float:
    """CPU time of this process's finished children: wrk, once it has exited."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(port: int, path: str, pid: int, connections: int, duration: float) -> Measured:
    cpus = range(min(2, os.cpu_count() or 1))
    workers = _workers_of(pid)
    each_before = [cpu_seconds(worker) for worker in workers]
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
    each = [cpu_seconds(w) - before for w, before in zip(workers, each_before, strict=True)]
    others = busy - (result.server_cpu_s or 0.0) - wrk
    capacity = result.duration_s * len(cpus)
    share = max(0.0, min(1.0, others / capacity)) if capacity else 0.0
    idle = max(0.0, min(1.0, 1 - busy / capacity)) if capacity else 0.0
    split = tuple(part / sum(each) for part in each) if len(each) > 1 and sum(each) else ()
    wrk_us = wrk / result.requests * 1e6 if result.requests else 0.0
    # run_wrk's per-CPU shares assume a server on CPU 0 and wrk on CPU 1: not so here.
    unpinned = replace(result, others_on_server_cpu=None, others_on_client_cpu=None)
    return Measured(unpinned, share, idle, wrk_us, split)


def bench_one(
    children: Children,
    launch: Launch,
    root: Path,
    static: Path,
    scratch: Path,
    args: argparse.Namespace,
    reports: dict[str, ScenarioReport],
    others: dict[tuple[str, str], Measured],
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
        if not all_listening(port, launch.listeners, deadline_s=60.0):
            raise NotReady(f"{launch.listeners} processes did not all listen on port {port}")
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
                others[(name, launch.name)] = measured
            print(
                f"    {name:<6} {measured.result.rps:>10,.0f} req/s"
                f"  p99 {measured.result.p99_ms:.2f} ms"
                f"  cpu {measured.result.cpu_us_per_request or 0:.1f} us/req"
                f"  {measured.describe()}  {note}"
            )
    finally:
        children.stop(child)


def ceiling(report: ScenarioReport, two: Measured | None, cpus: int) -> float | None:
    """The ratio the CPUs allow at the measured costs: two workers and wrk sharing
    ``cpus`` (server + wrk CPU per request) against one worker keeping one CPU busy
    (its CPU per request). Unlike req/s it holds on a busy machine."""
    pair, one = report.row(SUBJECT), report.row(ONE)
    if two is None or pair is None or one is None or not one.cpu_us or not pair.cpu_us:
        return None
    return cpus * one.cpu_us / (pair.cpu_us + two.wrk_us)


def verdict(report: ScenarioReport, two: Measured | None) -> dict[str, Any]:
    ratio = report.ratio(SUBJECT, ONE)
    problems = [row.problem for row in report.rows if row.server in (SUBJECT, ONE) and row.problem]
    met = None if ratio is None or problems else ratio >= TARGET
    allowed = ceiling(report, two, min(2, os.cpu_count() or 1))
    return {
        "scenario": report.name,
        "ratio": ratio,
        "target": TARGET,
        "met": met,
        "ceiling": allowed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run [5]")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections [50]")
    parser.add_argument("--rounds", type=int, default=1, help="repeat; keep each best [1]")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)

    env, warning = announce()
    reports = {name: ScenarioReport(name, title, "rps") for name, title in TITLES.items()}
    others: dict[tuple[str, str], Measured] = {}
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
        for (name, server), measured in others.items():
            if name == report.name:
                print(f"- {server}: {measured.describe()}")
        check = verdict(report, others.get((report.name, SUBJECT)))
        verdicts.append(check)
        if check["ratio"] is None:
            print(f"2 workers / 1 worker: not measured (target >= {TARGET}x req/s)")
        else:
            word = {True: "MET", False: "MISSED", None: "NOT COMPARABLE"}[check["met"]]
            ratio = check["ratio"]
            print(f"2 workers / 1 worker: {ratio:.2f}x, {word} (target >= {TARGET}x req/s)")
            if check["ceiling"] is not None:
                print(
                    f"ceiling: {check['ceiling']:.2f}x (both CPUs over the two workers' and"
                    " wrk's CPU per request, against one CPU over one worker's)"
                )
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
                "cpus": {f"{name}/{server}": m.to_json() for (name, server), m in others.items()},
                "targets": verdicts,
            },
        )
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    exit_with(main)
