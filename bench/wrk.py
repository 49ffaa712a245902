"""Run wrk (pinned to the client CPU) and read its summary from a small Lua ``done`` hook."""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.proc import CLIENT_CPU, LOCALHOST, SERVER_CPU, cpu_busy_seconds, cpu_seconds, pinned

LUA_SCRIPT = Path(__file__).with_name("wrk_json.lua")
MARKER = "WRK_JSON "


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    bytes: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: dict[str, int]
    #: CPU time the server used during the run (None when not measured).
    server_cpu_s: float | None = None
    #: Share of the server's CPU that went to other processes during the run (0..1).
    others_on_server_cpu: float | None = None
    #: Likewise for the client's CPU, besides wrk itself (0..1).
    others_on_client_cpu: float | None = None

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def mb_per_s(self) -> float:
        # Decimal megabytes, as wrk and most tools print them.
        return self.bytes / self.duration_s / 1e6 if self.duration_s else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_s is None or not self.requests:
            return None
        return self.server_cpu_s / self.requests * 1e6

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rps"] = round(self.rps, 1)
        data["mb_per_s"] = round(self.mb_per_s, 2)
        cpu = self.cpu_us_per_request
        data["cpu_us_per_request"] = None if cpu is None else round(cpu, 2)
        others = self.others_on_server_cpu
        data["others_on_server_cpu"] = None if others is None else round(others, 3)
        client = self.others_on_client_cpu
        data["others_on_client_cpu"] = None if client is None else round(client, 3)
        return data


class WrkError(RuntimeError):
    pass


def _children_cpu() -> float:
    """CPU time of this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _share(seconds: float, duration_us: float) -> float:
    return max(0.0, min(1.0, seconds / (duration_us / 1e6))) if duration_us else 0.0


def run_wrk(
    port: int,
    path: str,
    *,
    connections: int,
    duration_s: float,
    headers: Sequence[str] = (),
    threads: int = 1,
    server_pid: int | None = None,
    client_cpu: int | None = CLIENT_CPU,
) -> WrkResult:
    """One wrk run; with ``server_pid``, also the CPU time that server spent meanwhile.

    ``client_cpu=None`` lets wrk run on any CPU (a server on every CPU shares them).
    """
    url = f"http://{LOCALHOST}:{port}{path}"
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--latency"]
    argv += ["-s", str(LUA_SCRIPT)]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    busy_before = cpu_busy_seconds(SERVER_CPU)
    client_busy_before = cpu_busy_seconds(CLIENT_CPU)
    children_before = _children_cpu()
    done = subprocess.run(
        argv if client_cpu is None else pinned(argv, client_cpu),
        capture_output=True,
        text=True,
        timeout=duration_s + 30,
        check=False,
    )
    server_cpu = cpu_seconds(server_pid) - cpu_before if server_pid else None
    busy = cpu_busy_seconds(SERVER_CPU) - busy_before
    client_busy = cpu_busy_seconds(CLIENT_CPU) - client_busy_before
    wrk_cpu = _children_cpu() - children_before
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return WrkResult(
                requests=int(raw["requests"]),
                duration_s=raw["duration_us"] / 1e6,
                bytes=int(raw["bytes"]),
                p50_ms=raw["p50_us"] / 1000,
                p90_ms=raw["p90_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                max_ms=raw["latency_max_us"] / 1000,
                errors={
                    key.removeprefix("errors_"): int(value)
                    for key, value in raw.items()
                    if key.startswith("errors_")
                },
                server_cpu_s=server_cpu,
                others_on_server_cpu=(
                    None if server_cpu is None else _share(busy - server_cpu, raw["duration_us"])
                ),
                others_on_client_cpu=_share(client_busy - wrk_cpu, raw["duration_us"]),
            )
    raise WrkError(f"wrk gave no summary (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def interference(result: WrkResult) -> float:
    """The larger share of either CPU that other processes took during the run."""
    return max(result.others_on_server_cpu or 0.0, result.others_on_client_cpu or 0.0)


def add_settle_options(parser: argparse.ArgumentParser) -> None:
    """``--retries`` and ``--busy-threshold``, the two knobs of ``run_wrk_settled``."""
    parser.add_argument(
        "--retries", type=int, default=2, help="runs again while the CPUs are disturbed [2]"
    )
    parser.add_argument(
        "--busy-threshold", type=float, default=0.10, help="share of a CPU taken by others [0.10]"
    )


def run_wrk_settled(
    port: int,
    path: str,
    *,
    retries: int,
    threshold: float,
    **options: Any,
) -> WrkResult:
    """``run_wrk``, run again (up to ``retries`` times) while other processes took more
    than ``threshold`` of either CPU; the least disturbed run is returned."""
    best = run_wrk(port, path, **options)
    for _ in range(retries):
        if interference(best) <= threshold:
            break
        again = run_wrk(port, path, **options)
        if interference(again) < interference(best):
            best = again
    return best
