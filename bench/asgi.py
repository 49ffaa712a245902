"""siteserve.asgi under granian and uvicorn against starlette (StaticFiles + Jinja2Templates).

    python -m bench.asgi [--duration 5] [--connections 50]

Two scenarios, one run: the 1 KB file (keep-alive) and the Jinja page of
bench.dynamic (a layout, a 20-item loop, the query echoed). Each server runs
alone, pinned to CPU 0, one worker, no access log, loaded by wrk on CPU 1.
Targets, under the same server (uvicorn): siteserve.asgi >= 1.5x starlette on
the file and >= 1.2x on the page. Prints Markdown tables and writes
bench/results/asgi-*.json. starlette is needed (``pip install starlette``).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.proc import CLIENT_CPU, LOCALHOST, NotReady, exit_with, fetch, pin_self, rss_mb
from bench.proc import supervised as supervised_children
from bench.render_loop import context, template
from bench.report import Row, ScenarioReport, Target, announce, save
from bench.servers import ServerSpec, start_server, uvicorn_argv
from bench.sitegen import PAGE_PATH, make_dynamic_site, make_static_site
from bench.wrk import WrkError, add_settle_options, run_wrk_settled

SITESERVE_UVICORN = "siteserve.asgi-uvicorn"
SITESERVE_GRANIAN = "siteserve.asgi-granian"
STARLETTE_UVICORN = "starlette-uvicorn"
SERVERS = (SITESERVE_GRANIAN, SITESERVE_UVICORN, STARLETTE_UVICORN)
SMALL_FILE = "/1k.txt"


def _uvicorn(app: str) -> Callable[[Path, int, Path], list[str]]:
    def argv(root: Path, port: int, scratch: Path) -> list[str]:
        return uvicorn_argv(app, port)

    return argv


def _granian(root: Path, port: int, scratch: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--workers",
        "1",
        "--log-level",
        "warning",
        "siteserve.asgi:app",
    ]


def _needs(module: str) -> Callable[[], str | None]:
    def available() -> str | None:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install {module})"
        return None

    return available


def specs(root: Path) -> list[ServerSpec]:
    env = {**os.environ, "SITESERVE_ROOT": str(root), "BENCH_SITE": str(root)}
    return [
        ServerSpec(SITESERVE_GRANIAN, _granian, _needs("granian"), env),
        ServerSpec(SITESERVE_UVICORN, _uvicorn("siteserve.asgi:app"), _needs("uvicorn"), env),
        ServerSpec(
            STARLETTE_UVICORN, _uvicorn("bench.starlette_app:app"), _needs("starlette"), env
        ),
    ]


@dataclass(frozen=True)
class Scenario:
    report: ScenarioReport
    path: str
    expected: bytes


def measure(scenario: Scenario, name: str, port: int, pid: int, args: argparse.Namespace) -> Row:
    status, body = fetch(port, scenario.path)
    problem = None
    if status != 200:
        problem = f"answered {status}"
    elif body.strip() != scenario.expected.strip():
        problem = f"body differs from the expected one ({len(body)} B)"
    note = f"{status}, {len(body)} B" + ("" if problem else ", same bytes")
    result = run_wrk_settled(
        port,
        scenario.path,
        retries=args.retries,
        threshold=args.busy_threshold,
        connections=args.connections,
        duration_s=args.duration,
        server_pid=pid,
    )
    print(f"    {scenario.path}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, {note}")
    return Row(name, result, note, problem=problem)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections [50]")
    add_settle_options(parser)
    parser.add_argument(
        "--servers",
        default=",".join(SERVERS),
        help=f"comma-separated, from {','.join(SERVERS)} [all]",
    )
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)
    wanted = [name.strip() for name in args.servers.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(SERVERS))
    if unknown:
        parser.error(f"unknown servers: {', '.join(unknown)}")

    pin_self(CLIENT_CPU)
    env, warning = announce()
    servers: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp:
        scratch = Path(tmp)
        root = scratch / "site"
        files = make_static_site(root)
        make_dynamic_site(root)
        scenarios = [
            Scenario(
                ScenarioReport(
                    "asgi-small",
                    f"1 KB file, keep-alive, {args.connections} connections",
                    "rps",
                    [Target(STARLETTE_UVICORN, 1.5)],
                    baseline=SITESERVE_UVICORN,
                ),
                SMALL_FILE,
                (files.root / SMALL_FILE.lstrip("/")).read_bytes(),
            ),
            Scenario(
                ScenarioReport(
                    "asgi-page",
                    f"Jinja page (layout, 20-item loop, query echoed), {args.connections} "
                    "connections",
                    "rps",
                    [Target(STARLETTE_UVICORN, 1.2)],
                    baseline=SITESERVE_UVICORN,
                ),
                PAGE_PATH,
                template(root).render(context(root)).encode(),
            ),
        ]
        with supervised_children() as children:
            for spec in specs(root):
                if spec.name not in wanted:
                    continue
                reason = spec.available()
                if reason is not None:
                    print(f"  {spec.name}: skipped: {reason}")
                    for scenario in scenarios:
                        scenario.report.rows.append(Row(spec.name, error=reason))
                    continue
                try:
                    child, port, launch_ms = start_server(children, spec, root, SMALL_FILE, scratch)
                except NotReady as error:
                    print(f"  {spec.name}: did not start: {error}")
                    for scenario in scenarios:
                        scenario.report.rows.append(Row(spec.name, error="did not start"))
                    continue
                print(f"  {spec.name}: pid {child.pid}, port {port}, up in {launch_ms:.0f} ms")
                try:
                    for scenario in scenarios:
                        try:
                            row = measure(scenario, spec.name, port, child.pid, args)
                        except (OSError, http.client.HTTPException, WrkError) as error:
                            row = Row(spec.name, error=f"{type(error).__name__}: {error}")
                        scenario.report.rows.append(row)
                    rss = rss_mb(child.pid)
                    servers.append({"server": spec.name, "launch_ms": launch_ms, "rss_mb": rss})
                finally:
                    children.stop(child)

    print()
    if warning:
        print(warning + "\n")
    for scenario in scenarios:
        print(scenario.report.render())
        print()
    for fact in servers:
        rss = fact["rss_mb"]
        rss_text = "-" if rss is None else f"{rss:.1f} MB"
        print(f"{fact['server']}: launch -> first 200 {fact['launch_ms']:.0f} ms, RSS {rss_text}")
    if not args.no_save:
        path = save(
            "asgi",
            {
                "environment": env,
                "duration_s": args.duration,
                "connections": args.connections,
                "scenarios": [scenario.report.to_json() for scenario in scenarios],
                "servers": servers,
            },
        )
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    exit_with(main)
