"""Soak: N minutes of mixed load and file churn against a siteserve child, every body checked.

    python -m bench.soak                         # 10 minutes
    python -m bench.soak --minutes 60 --out /tmp/soak-60

A generated site (bench/soak_site.py) is served by ``python -m siteserve SITE -q
--upload`` (live reload on) pinned to CPU 0; the load runs on CPU 1
(bench/soak_load.py): keep-alive file clients (some by Range, some gzip/br), zip
downloads abandoned half way, multipart uploads (some cut off), reload WebSocket
clients coming and going, slow readers, malformed requests, and a small-file probe
in a process of its own; a thread edits two files every 0.2 s by rewrite in place,
rename over and delete. Every few seconds the server's RSS, threads and open fds
are sampled with the probe's latencies (bench/soak_report.py).

The summary: requests, wrong bodies (a body that is not bytes of one version as its
head describes, or whose ETag names another version), tracebacks in the server's
output, fds and threads idle before vs after, the RSS slope after the warm-up, the
probe's p50/p99 during the load, and a PNG chart of RSS and latency over time
(``--out PREFIX``: PREFIX.png and PREFIX.json with the samples; the chart needs
matplotlib: ``pip install -e '.[bench]'``).

Traffic goes to 127.0.0.1 only; the run ends by itself; the only process stopped is
the server this run started (by its PID), and the probe process it started.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import queue
import re
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import uvloop

from bench.proc import (
    CLIENT_CPU,
    SERVER_CPU,
    Child,
    cpu_seconds,
    exit_with,
    free_port,
    pin_self,
    pinned,
    supervised,
    wait_ready,
)
from bench.soak_load import Load, Mix, probe_process, read_answer, start_all
from bench.soak_report import (
    TARGET_P99_MS,
    TARGET_SLOPE_MIB_H,
    ProcessState,
    Sample,
    draw,
    fmt,
    percentile,
    process_state,
    save_samples,
    slope_per_hour,
)
from bench.soak_site import Editor, Site, make_site

RESULTS = Path(__file__).parent / "results"
#: After the load, how long fds and threads get to come back to their idle level.
SETTLE_SECONDS = 60.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--minutes", type=float, default=10.0, help="load duration (10)")
    parser.add_argument(
        "--out", type=Path, default=RESULTS / "soak", help="PREFIX for PREFIX.png and PREFIX.json"
    )
    parser.add_argument("--sample-seconds", type=float, default=5.0, help="sampling period (5)")
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=5.0,
        help="RSS slope is fitted after this (5; half the run when the run is shorter)",
    )
    parser.add_argument("--file-clients", type=int, default=40)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="requests per second of all file clients together (0: as fast as answered)",
    )
    parser.add_argument("--reload-clients", type=int, default=20)
    parser.add_argument("--edit-interval", type=float, default=0.2, help="seconds between edits")
    parser.add_argument(
        "--tracemalloc",
        type=Path,
        metavar="DIR",
        help="run the server with tracemalloc, a snapshot into DIR each minute "
        "(bench/soak_server.py; slows the server: for finding what grows, not for figures)",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment variable for the server (MALLOC_ARENA_MAX=2), repeatable",
    )
    parser.add_argument(
        "--keep-uploads",
        action="store_true",
        help="leave uploads on disk until the end (else each is deleted once checked)",
    )
    return parser.parse_args(argv)


@dataclass
class Outcome:
    load: Load
    samples: list[Sample]
    probe: list[float]
    probe_wrong: int
    idle_before: ProcessState
    idle_after: ProcessState
    settled_in: float | None
    #: Share of one CPU the server and this load generator used during the load.
    server_cpu: float
    client_cpu: float


async def get(port: int, path: str, headers: str = "") -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{headers}Connection: close\r\n\r\n"
        )
        writer.write(request.encode())
        return (await read_answer(reader)).status
    finally:
        writer.close()


async def warm_up(site: Site, port: int) -> None:
    """Everything once, so pools and caches that start lazily exist before 'idle'."""
    paths = [*site.fixed, *site.edited, f"{site.zip_folder}?download=zip", "/nope"]
    await asyncio.gather(*(get(port, path) for path in paths))
    coded = [url for url in site.fixed if url.endswith(".js")]
    await asyncio.gather(
        *(
            get(port, url, f"Accept-Encoding: {coding}\r\n")
            for url in coded
            for coding in ("gzip", "br")
        )
    )


async def wait_settled(pid: int, idle: ProcessState) -> tuple[ProcessState, float | None]:
    """The server's state once fds and threads are back to ``idle`` (or the deadline)."""
    started = time.monotonic()
    state = process_state(pid)
    while time.monotonic() - started < SETTLE_SECONDS:
        state = process_state(pid)
        if state.fds <= idle.fds and state.threads <= idle.threads:
            return state, time.monotonic() - started
        await asyncio.sleep(0.5)
    return state, None


async def soak(site: Site, child: Child, port: int, args: argparse.Namespace) -> Outcome:
    await warm_up(site, port)
    await asyncio.sleep(3)  # let the warm-up's connections close and change sets settle
    idle_before = process_state(child.pid)
    seconds = args.minutes * 60
    started = time.monotonic()
    editor = Editor(site, args.edit_interval)
    rate = args.rate / args.file_clients if args.rate and args.file_clients else 0.0
    load = Load(
        port,
        site,
        editor,
        deadline=started + seconds,
        client_rate=rate,
        keep_uploads=args.keep_uploads,
    )
    latencies: multiprocessing.Queue[list[float]] = multiprocessing.get_context("spawn").Queue()
    prober = multiprocessing.get_context("spawn").Process(
        target=probe_process,
        args=(port, site.probe, site.fixed[site.probe], time.time() + seconds, 0.05, latencies),
        name="soak-probe",
        daemon=True,
    )
    prober.start()
    editor.start()
    server_cpu_at, client_cpu_at = cpu_seconds(child.pid), time.process_time()
    tasks = start_all(load, Mix(file_clients=args.file_clients, reload_clients=args.reload_clients))
    samples: list[Sample] = []
    probe: list[float] = []
    probe_wrong = 0
    last_report = started
    try:
        while load.running():
            await asyncio.sleep(
                min(args.sample_seconds, max(0.0, load.deadline - time.monotonic()))
            )
            window = drain(latencies)
            probe_wrong += sum(1 for value in window if value < 0)
            window = [abs(value) for value in window]
            probe.extend(window)
            state = process_state(child.pid)
            p50, p99 = percentile(window, 0.5), percentile(window, 0.99)
            samples.append(
                Sample(
                    seconds=time.monotonic() - started,
                    rss_mib=state.rss_mib,
                    threads=state.threads,
                    fds=state.fds,
                    requests=sum(load.requests.values()),
                    probe_p50_ms=None if p50 is None else p50 * 1000,
                    probe_p99_ms=None if p99 is None else p99 * 1000,
                )
            )
            if time.monotonic() - last_report >= 60 or not load.running():
                last_report = time.monotonic()
                print(progress(samples[-1], load), flush=True)
        await asyncio.gather(*tasks)
        took = time.monotonic() - started
        server_cpu = (cpu_seconds(child.pid) - server_cpu_at) / took
        client_cpu = (time.process_time() - client_cpu_at) / took
    finally:
        for task in tasks:
            task.cancel()
        editor.stop.set()
        editor.join(10)
        prober.join(2)  # the probe stops at the deadline; what it measured last comes here
        last = drain(latencies)
        probe_wrong += sum(1 for value in last if value < 0)
        probe.extend(abs(value) for value in last)
        prober.join(10)
        if prober.is_alive():
            prober.kill()  # our own child, by its handle
    idle_after, settled_in = await wait_settled(child.pid, idle_before)
    load.verdicts.check_tags(editor)
    return Outcome(
        load,
        samples,
        probe,
        probe_wrong,
        idle_before,
        idle_after,
        settled_in,
        server_cpu,
        client_cpu,
    )


def drain(latencies: multiprocessing.Queue[list[float]]) -> list[float]:
    """Every latency the probe has sent so far."""
    found: list[float] = []
    while True:
        try:
            found.extend(latencies.get_nowait())
        except queue.Empty:
            return found


def progress(sample: Sample, load: Load) -> str:
    return (
        f"  {sample.seconds / 60:5.1f} min: RSS {sample.rss_mib:.1f} MiB, fds {sample.fds}, "
        f"threads {sample.threads}, requests {sample.requests}, "
        f"wrong {load.verdicts.counts['wrong']}, probe p99 {fmt(sample.probe_p99_ms, ' ms')}"
    )


def ms(seconds: float | None) -> str:
    return fmt(None if seconds is None else seconds * 1000, " ms", 2)


def log_report(log: str) -> tuple[int, list[tuple[str, int]]]:
    """Tracebacks in the server's output, and its other lines, by kind, most frequent first."""
    tracebacks = log.count("Traceback")
    kinds: Counter[str] = Counter()
    for line in log.splitlines():
        line = line.strip()
        if not line or "Traceback" in line:
            continue
        # The same message about another path or number is the same kind of line.
        kinds[re.sub(r"(/[^\s:;]+)+|\d+", "#", line)[:120]] += 1
    return tracebacks, kinds.most_common(12)


def summary(
    outcome: Outcome, args: argparse.Namespace, exit_code: int | None, log: str
) -> tuple[str, bool]:
    load, samples, verdicts = outcome.load, outcome.samples, outcome.load.verdicts
    minutes = args.minutes
    warmup_s = args.warmup_minutes * 60
    if warmup_s >= minutes * 60:
        warmup_s = minutes * 30
    slope = slope_per_hour([(s.seconds, s.rss_mib) for s in samples if s.seconds >= warmup_s])
    p50, p99 = percentile(outcome.probe, 0.5), percentile(outcome.probe, 0.99)
    tracebacks, log_kinds = log_report(log)
    wrong = verdicts.counts["wrong"] + outcome.probe_wrong
    before, after = outcome.idle_before, outcome.idle_after
    back_to_idle = after.fds <= before.fds and after.threads <= before.threads
    lines = [
        f"# siteserve soak: {minutes:g} minutes",
        *(
            [f"server run with tracemalloc ({args.tracemalloc}): slower, figures not comparable"]
            if args.tracemalloc is not None
            else []
        ),
        *([f"server environment: {' '.join(args.server_env)}"] if args.server_env else []),
        "",
        f"requests: {sum(load.requests.values())} "
        + ", ".join(f"{name} {count}" for name, count in load.requests.most_common()),
        "statuses: "
        + ", ".join(f"{code}: {count}" for code, count in sorted(load.statuses.items())),
        "bodies: " + ", ".join(f"{name} {count}" for name, count in verdicts.counts.most_common()),
        f"wrong bodies: {wrong} (target 0)"
        + (f", of them probe {outcome.probe_wrong}" if outcome.probe_wrong else ""),
        *(f"  - {example}" for example in verdicts.wrong_examples),
        *(f"  noted: {note}" for note in verdicts.notes),
        "edits: "
        + ", ".join(f"{mode} {count}" for mode, count in load.editor.edits.most_common())
        + f"; reload messages heard: {load.reloads_heard}",
        f"server output: {tracebacks} tracebacks (target 0); exit code after SIGTERM: {exit_code}",
        *(f"  {count:7d} x {kind}" for kind, count in log_kinds),
        f"idle before: fds {before.fds}, threads {before.threads}, RSS {before.rss_mib:.1f} MiB",
        f"idle after:  fds {after.fds}, threads {after.threads}, RSS {after.rss_mib:.1f} MiB"
        + (
            f" (back in {outcome.settled_in:.1f} s)"
            if outcome.settled_in is not None
            else f" (not back within {SETTLE_SECONDS:.0f} s)"
        ),
        f"RSS: first sample {fmt(samples[0].rss_mib if samples else None, ' MiB')}, "
        f"last {fmt(samples[-1].rss_mib if samples else None, ' MiB')}, "
        f"max {fmt(max((s.rss_mib for s in samples), default=None), ' MiB')}; "
        f"slope after {warmup_s / 60:g} min: {fmt(slope, ' MiB/h', 2)} "
        f"(target < {TARGET_SLOPE_MIB_H:g})",
        f"probe (small file, every 50 ms, during load): n {len(outcome.probe)}, p50 {ms(p50)}, "
        f"p99 {ms(p99)} (target < {TARGET_P99_MS:g} ms), max {ms(max(outcome.probe, default=0))}",
        f"CPU during the load: server {outcome.server_cpu:.0%} of a core, "
        f"this load generator {outcome.client_cpu:.0%}; load average {load_average()}",
    ]
    checks = {
        "0 wrong bodies": wrong == 0,
        "0 tracebacks": tracebacks == 0,
        "fds and threads back to idle": back_to_idle,
        "RSS slope < 2 MiB/h": slope is not None and slope < TARGET_SLOPE_MIB_H,
        "probe p99 < 20 ms": p99 is not None and p99 * 1000 < TARGET_P99_MS,
        "server exited cleanly": exit_code == 0,
    }
    lines.append(
        "targets: "
        + ", ".join(f"{name}: {'PASS' if ok else 'FAIL'}" for name, ok in checks.items())
    )
    correct = (
        checks["0 wrong bodies"] and checks["0 tracebacks"] and checks["server exited cleanly"]
    )
    return "\n".join(lines), correct


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="siteserve-soak-") as folder, supervised() as children:
        root = Path(folder) / "site"
        root.mkdir()
        site = make_site(root)
        port = free_port()
        argv_server = [sys.executable, "-m", "siteserve"]
        if args.tracemalloc is not None:
            argv_server = [sys.executable, "-m", "bench.soak_server", str(args.tracemalloc), "--"]
        argv_server += [str(root), "--port", str(port), "--strict-port", "-q", "--upload"]
        log_path = Path(folder) / "server.log"
        env = dict(os.environ, **dict(item.partition("=")[::2] for item in args.server_env))
        child = children.launch("siteserve", pinned(argv_server, SERVER_CPU), log_path, env=env)
        wait_ready(child, port, site.probe)
        pin_self(CLIENT_CPU)
        print(
            f"soak: {args.minutes:g} min against siteserve pid {child.pid} on port {port}",
            flush=True,
        )
        outcome = uvloop.run(soak(site, child, port, args))
        children.stop(child, timeout=30)
        exit_code = child.popen.returncode
        log = log_path.read_text(errors="replace")
        leftovers = sorted(
            path.name
            for path in (root / "uploads").iterdir()
            if not (args.keep_uploads and path.name.startswith("up-"))
        )
    text, correct = summary(outcome, args, exit_code, log)
    if leftovers:
        text += f"\nuploads folder not empty after the run: {leftovers[:10]}"
    save_samples(outcome.samples, args.out.with_suffix(".json"))
    warmup_s = min(args.warmup_minutes * 60, args.minutes * 30)
    text += "\n" + draw(outcome.samples, warmup_s, args.out.with_suffix(".png"))
    print(text, flush=True)
    return 0 if correct else 1


if __name__ == "__main__":
    exit_with(main)
