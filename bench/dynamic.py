"""Dynamic pages: siteserve against Flask's development server, and the in-process ceiling.

    python -m bench.dynamic [--pages simple,heavy] [--duration 5] [--connections 50]

Each page is the same template files and data for all three: "simple" (the
anchor: a layout, a loop over 20 items, the query echoed) and "heavy" (the
same with a macro file, a partial included per item and filters); "rich" is
there too. Both servers run pinned to CPU 0 and are loaded by wrk on CPU 1, one
after the other; the ceiling renders the template in a tight loop in one
process on CPU 0. Prints a Markdown table per page with ratios and the targets
(#14: the anchor >= 5x Flask and >= 0.8x the ceiling, the heavy page >= 3x
Flask), and writes bench/results/dynamic-*.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.proc import (
    CLIENT_CPU,
    SERVER_CPU,
    NotReady,
    exit_with,
    fetch,
    pin_self,
    pinned,
    rss_mb,
)
from bench.proc import supervised as supervised_children
from bench.render_loop import context, template
from bench.report import Row, ScenarioReport, Target, announce, save
from bench.servers import REPO, SITESERVE, ServerSpec, start_server
from bench.sitegen import PAGE_PATH, PAGES, make_dynamic_site
from bench.wrk import WrkError, add_settle_options, run_wrk_settled

CEILING = "in-process ceiling"
#: Each page's targets (#14); a page not named here is measured against Flask's 3x.
TARGETS = {
    "simple": [Target("flask", 5.0), Target(CEILING, 0.8)],
    "heavy": [Target("flask", 3.0)],
}
TITLES = {
    "simple": "layout, 20-item loop, query echoed",
    "rich": "layout, 20-item loop with filters, query echoed",
    "heavy": "layout, imported macros, a partial per item, filters, query echoed",
}


def _flask(root: Path, port: int, scratch: Path) -> list[str]:
    return [sys.executable, "-m", "bench.flask_app", str(root), str(port)]


FLASK = ServerSpec("flask", _flask)


def ceiling(root: Path, seconds: float) -> dict[str, float]:
    """The render loop in its own process on the server CPU."""
    done = subprocess.run(
        pinned([sys.executable, "-m", "bench.render_loop", str(root), f"{seconds:g}"], SERVER_CPU),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=seconds + 60,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections [50]")
    parser.add_argument(
        "--pages",
        default="simple,heavy",
        help=f"which pages, comma-separated, of {', '.join(sorted(PAGES))} [simple,heavy]",
    )
    add_settle_options(parser)
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)

    pages = [name.strip() for name in args.pages.split(",") if name.strip()]
    unknown = [name for name in pages if name not in PAGES]
    if unknown:
        parser.error(f"unknown page(s): {', '.join(unknown)}")

    pin_self(CLIENT_CPU)
    env, warning = announce()
    reports: list[ScenarioReport] = []
    servers: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp:
        for page in pages:
            print(f"page '{page}':")
            report = measure_page(Path(tmp) / page, page, args, servers)
            reports.append(report)

    print()
    if warning:
        print(warning + "\n")
    for report in reports:
        print(report.render())
        print()
    for fact in servers:
        name, launch, rss = f"{fact['server']} ({fact['page']})", fact["launch_ms"], fact["rss_mb"]
        print(f"{name}: launch -> first 200 {launch:.0f} ms, RSS {rss:.1f} MB")
    if not args.no_save:
        path = save(
            "dynamic",
            {
                "environment": env,
                "duration_s": args.duration,
                "connections": args.connections,
                "pages": pages,
                "scenarios": [report.to_json() for report in reports],
                "servers": servers,
            },
        )
        print(f"\nresults: {path}")
    return 0


def measure_page(
    scratch: Path, page: str, args: argparse.Namespace, servers: list[dict[str, Any]]
) -> ScenarioReport:
    """siteserve, Flask and the ceiling on one page, one after the other."""
    report = ScenarioReport(
        f"dynamic-{page}",
        f"Dynamic page '{page}' ({TITLES.get(page, page)}), {args.connections} connections",
        "rps",
        TARGETS.get(page, [Target("flask", 3.0)]),
    )
    root = scratch / "site"
    make_dynamic_site(root, page)
    expected = template(root).render(context(root)).encode()

    with supervised_children() as children:
        for spec in (SITESERVE, FLASK):
            try:
                child, port, launch_ms = start_server(children, spec, root, PAGE_PATH, scratch)
            except NotReady as error:
                print(f"  {spec.name}: did not start: {error}")
                report.rows.append(Row(spec.name, error="did not start"))
                continue
            print(f"  {spec.name}: pid {child.pid}, port {port}, up in {launch_ms:.0f} ms")
            try:
                status, body = fetch(port, PAGE_PATH)
                problem = None
                if status != 200:
                    problem = f"answered {status}"
                elif body.strip() != expected.strip():
                    problem = f"body differs from the in-process render ({len(body)} B)"
                note = f"{status}, {len(body)} B" + ("" if problem else ", same bytes")
                result = run_wrk_settled(
                    port,
                    PAGE_PATH,
                    retries=args.retries,
                    threshold=args.busy_threshold,
                    connections=args.connections,
                    duration_s=args.duration,
                    server_pid=child.pid,
                )
                report.rows.append(Row(spec.name, result, note, problem=problem))
                print(f"    {result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, {note}")
                rss = rss_mb(child.pid)
                servers.append(
                    {"server": spec.name, "page": page, "launch_ms": launch_ms, "rss_mb": rss}
                )
            except (OSError, http.client.HTTPException, WrkError) as error:
                report.rows.append(Row(spec.name, error=f"{type(error).__name__}: {error}"))
            finally:
                children.stop(child)

    loop = ceiling(root, args.duration)
    print(f"  {CEILING}: {loop['renders_per_s']:,.0f} renders/s")
    report.rows.append(
        Row(
            CEILING,
            note="jinja2 render() in a loop, CPU 0",
            rps_override=loop["renders_per_s"],
            cpu_override=loop["cpu_us_per_render"],
        )
    )
    return report


if __name__ == "__main__":
    exit_with(main)
