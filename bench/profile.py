"""Where siteserve spends a request: py-spy samples under wrk load, per function.

    python -m bench.profile [--page static|dynamic] [--duration 5] [--native]

siteserve runs pinned to CPU 0 as in bench.static; wrk (50 connections,
keep-alive) and py-spy run on CPU 1. A first wrk run without the profiler
gives requests/s, so a share of the samples becomes microseconds per request.
Prints the top functions by own time and by inclusive time, and writes the
collapsed stacks to bench/results/profile-*.txt (feed them to a flame graph tool).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.proc import CLIENT_CPU, exit_with, pin_self, pinned, supervised
from bench.report import RESULTS, environment
from bench.servers import SITESERVE, compile_siteserve, start_server
from bench.sitegen import PAGE_PATH, PAGES, make_dynamic_site, make_static_site
from bench.wrk import run_wrk


def _frame_name(frame: str, with_line: bool = False) -> str:
    """``handle (/x/siteserve/site/app.py:120)`` -> ``handle (siteserve/site/app.py)``."""
    name, _, where = frame.partition(" (")
    path, _, line = where.rstrip(")").rpartition(":")
    if not path:
        path, line = line, ""
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    if with_line and line:
        path = f"{path}:{line}"
    return f"{name} ({path})" if path else name


def summarize(collapsed: str) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Total samples; samples per function on top of the stack, per line there, anywhere."""
    own: Counter[str] = Counter()
    own_lines: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # The first frame is the process/thread label py-spy adds.
        raw = [f for f in stack.split(";")[1:] if f]
        frames = [_frame_name(f) for f in raw]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        own_lines[_frame_name(raw[-1], with_line=True)] += count
        for name in set(frames):
            inclusive[name] += count
    return total, own, own_lines, inclusive


def table(title: str, counts: Counter[str], total: int, us_per_request: float, top: int) -> str:
    lines = [
        f"### {title}",
        "",
        "| % of samples | us/request | function |",
        "| ---: | ---: | --- |",
    ]
    for name, count in counts.most_common(top):
        share = count / total
        lines.append(f"| {share * 100:.1f} | {share * us_per_request:.1f} | `{name}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--page", choices=("static", *sorted(PAGES)), default="static", help="a file or a page"
    )
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--close", action="store_true", help="a new connection per request (Connection: close)"
    )
    parser.add_argument("--rate", type=int, default=997, help="py-spy samples per second")
    parser.add_argument("--native", action="store_true", help="include C frames (uvloop)")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--all-threads",
        action="store_true",
        help="sample every thread, not only the one holding the GIL (threads waiting for the "
        "GIL then show up in the call they are returning from)",
    )
    args = parser.parse_args(argv)

    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(py_spy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    pin_self(CLIENT_CPU)
    compile_siteserve()
    env = environment()
    print(f"{env['cpu']}, load {env['load_average']}, commit {env['commit']}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"profile-{args.page}-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp, supervised() as children:
        scratch = Path(tmp)
        root = scratch / "site"
        if args.page == "static":
            path = make_static_site(root).small
        else:
            make_dynamic_site(root, args.page)
            path = PAGE_PATH
        child, port, _ = start_server(children, SITESERVE, root, path, scratch)
        headers = ["Connection: close"] if args.close else []
        plain = run_wrk(
            port,
            path,
            connections=args.connections,
            duration_s=args.duration,
            headers=headers,
            server_pid=child.pid,
        )
        us_per_request = plain.cpu_us_per_request or 1e6 / plain.rps
        print(
            f"without profiler: {plain.rps:,.0f} req/s, server CPU {us_per_request:.1f} us/request"
        )
        spy_argv = [py_spy, "record", "--pid", str(child.pid), "--rate", str(args.rate)]
        spy_argv += ["--format", "raw", "--output", str(out)]
        spy_argv += ["--duration", str(int(args.duration) + 1)]
        # Native stacks need the process paused while sampled; Python-only ones do not.
        spy_argv.append("--native" if args.native else "--nonblocking")
        if not args.all_threads:
            spy_argv.append("--gil")
        spy = children.launch("py-spy", pinned(spy_argv, CLIENT_CPU), scratch / "py-spy.log")
        loaded = run_wrk(
            port, path, connections=args.connections, duration_s=args.duration, headers=headers
        )
        spy.popen.wait(timeout=args.duration + 30)
        print(f"with profiler: {loaded.rps:,.0f} req/s")
        children.stop(child)
        if not out.exists():
            print(f"py-spy wrote nothing:\n{spy.log_tail()}", file=sys.stderr)
            return 1

    total, own, own_lines, inclusive = summarize(out.read_text())
    print(f"{total} samples (the loop's idle waits are not sampled); stacks in {out}\n")
    print(table("Own time (top of stack)", own, total, us_per_request, args.top))
    print()
    print(table("Own time by line", own_lines, total, us_per_request, args.top))
    print()
    print(table("Inclusive (anywhere on the stack)", inclusive, total, us_per_request, args.top))
    return 0


if __name__ == "__main__":
    exit_with(main)
