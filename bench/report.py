"""Tables (Markdown, so they paste into notes as they are) and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.wrk import WrkResult

RESULTS = Path(__file__).with_name("results")
BASELINE = "siteserve"


@dataclass(frozen=True)
class Target:
    """siteserve's figure must be at least ``ratio`` times ``against``'s."""

    against: str
    ratio: float


@dataclass
class Row:
    server: str
    result: WrkResult | None = None
    note: str = ""
    error: str | None = None
    #: Why this answer is not what the scenario means to measure (no 304, no gzip).
    problem: str | None = None
    #: A figure not from wrk (the in-process ceiling), in requests (renders) per second.
    rps_override: float | None = None
    #: Likewise, CPU microseconds per request (per render for the ceiling).
    cpu_override: float | None = None

    @property
    def cpu_us(self) -> float | None:
        if self.cpu_override is not None:
            return self.cpu_override
        return self.result.cpu_us_per_request if self.result else None

    @property
    def rps(self) -> float | None:
        if self.rps_override is not None:
            return self.rps_override
        return self.result.rps if self.result else None

    def to_json(self) -> dict[str, Any]:
        return {
            "server": self.server,
            "rps": self.rps,
            "cpu_us_per_request": self.cpu_us,
            "wrk": self.result.to_json() if self.result else None,
            "note": self.note,
            "problem": self.problem,
            "error": self.error,
        }


@dataclass
class ScenarioReport:
    name: str
    title: str
    metric: str  # "rps" or "mbps": the figure ratios and targets compare
    targets: list[Target] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    #: The row every ratio is taken against, and whose targets are checked.
    baseline: str = BASELINE

    def figure(self, row: Row) -> float | None:
        if self.metric == "mbps":
            return row.result.mb_per_s if row.result else None
        return row.rps

    def row(self, server: str) -> Row | None:
        return next((row for row in self.rows if row.server == server), None)

    def ratio(self, server: str, against: str) -> float | None:
        mine, theirs = self.row(server), self.row(against)
        if mine is None or theirs is None:
            return None
        a, b = self.figure(mine), self.figure(theirs)
        return a / b if a is not None and b else None

    def cpu_ratio(self, server: str, against: str) -> float | None:
        """How many of ``server``'s requests fit in the CPU time of one of ``against``'s.

        The same kind of ratio as ``ratio`` (above 1 is better), but from CPU time
        per request, so it holds when other work steals time from the server's CPU.
        """
        mine, theirs = self.row(server), self.row(against)
        if mine is None or theirs is None or not mine.cpu_us or not theirs.cpu_us:
            return None
        return theirs.cpu_us / mine.cpu_us

    def checks(self) -> list[dict[str, Any]]:
        out = []
        for target in self.targets:
            ratio = self.ratio(self.baseline, target.against)
            problems = [
                f"{row.server} {row.problem}"
                for row in (self.row(self.baseline), self.row(target.against))
                if row is not None and row.problem
            ]
            met = None if ratio is None or problems else ratio >= target.ratio
            cpu_ratio = self.cpu_ratio(self.baseline, target.against)
            out.append(
                {
                    "against": target.against,
                    "target": target.ratio,
                    "ratio": None if ratio is None else round(ratio, 3),
                    "met": met,
                    "cpu_ratio": None if cpu_ratio is None else round(cpu_ratio, 3),
                    "cpu_met": None if cpu_ratio is None or problems else cpu_ratio >= target.ratio,
                    "not_comparable": "; ".join(problems) or None,
                }
            )
        return out

    def render(self) -> str:
        metric = "MB/s" if self.metric == "mbps" else "req/s"
        lines = [
            f"### {self.title}",
            "",
            f"| server | req/s | MB/s | p50 ms | p99 ms | errors | server CPU us/req "
            f"| others on CPU 0/1 | {metric} vs {self.baseline} | note |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        ]
        for row in self.rows:
            if row.error:
                lines.append(f"| {row.server} | - | - | - | - | - | - | - | - | {row.error} |")
                continue
            r = row.result
            ratio = self.ratio(row.server, self.baseline)
            cpu = row.cpu_us
            others = "-"
            if r and r.others_on_server_cpu is not None and r.others_on_client_cpu is not None:
                others = f"{r.others_on_server_cpu:.0%}/{r.others_on_client_cpu:.0%}"
            cells = [
                row.server,
                f"{row.rps:,.0f}" if row.rps is not None else "-",
                f"{r.mb_per_s:,.1f}" if r else "-",
                f"{r.p50_ms:.2f}" if r else "-",
                f"{r.p99_ms:.2f}" if r else "-",
                str(r.error_count) if r else "-",
                f"{cpu:.1f}" if cpu is not None else "-",
                others,
                f"{ratio:.2f}x" if ratio is not None else "-",
                f"{row.note} (NOT COMPARABLE: {row.problem})" if row.problem else row.note,
            ]
            lines.append("| " + " | ".join(cells) + " |")
        for check in self.checks():
            if check["ratio"] is None:
                verdict = "not measured"
            elif check["not_comparable"]:
                verdict = f"{check['ratio']:.2f}x, NOT COMPARABLE ({check['not_comparable']})"
            else:
                verdict = "MET" if check["met"] else "MISSED"
                verdict = f"{check['ratio']:.2f}x, {verdict}"
            if check["cpu_ratio"] is not None and not check["not_comparable"]:
                verdict += (
                    f"; by CPU time per request {check['cpu_ratio']:.2f}x, "
                    f"{'MET' if check['cpu_met'] else 'MISSED'}"
                )
            lines.append("")
            lines.append(
                f"{self.baseline} / {check['against']}: {verdict}"
                f" (target >= {check['target']}x {metric})"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "metric": self.metric,
            "rows": [row.to_json() for row in self.rows],
            "targets": self.checks(),
        }


def _git_commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).parent,
            timeout=10,
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def environment() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "commit": _git_commit(),
    }


def busy_warning(env: dict[str, Any]) -> str | None:
    """A warning when other work was running: wall-clock figures are then unreliable."""
    load = env["load_average"][0]
    if load < 1.0:
        return None
    return (
        f"warning: load average {load:.1f} before the run; other processes share the CPUs, "
        "so req/s and MB/s are low and noisy. The server CPU us/req column and the "
        "'by CPU time' ratios hold better; --rounds N keeps each best figure."
    )


def announce() -> tuple[dict[str, Any], str | None]:
    """The machine's facts, printed as a run's first line with the busy warning after it."""
    env = environment()
    print(f"{env['cpu']}, {env['cpus']} CPUs, load {env['load_average']}, commit {env['commit']}")
    warning = busy_warning(env)
    if warning:
        print(warning)
    return env, warning


def save(kind: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
