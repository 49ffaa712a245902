"""What the soak measures of the server process, and how it is summed up and drawn.

Samples come from /proc: resident memory (VmRSS), threads (Threads), open file
descriptors (/proc/PID/fd), with the probe's latencies of the sampling window. The
RSS slope is a least-squares line through the samples after the warm-up, in MiB per
hour. The chart (matplotlib, a bench-only dependency) shows RSS and the probe's p50
and p99 per window over time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

TARGET_SLOPE_MIB_H = 2.0
TARGET_P99_MS = 20.0


@dataclass(frozen=True)
class Sample:
    seconds: float
    rss_mib: float
    threads: int
    fds: int
    requests: int
    probe_p50_ms: float | None
    probe_p99_ms: float | None


@dataclass(frozen=True)
class ProcessState:
    rss_mib: float
    threads: int
    fds: int


def process_state(pid: int) -> ProcessState:
    rss_kib = threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return ProcessState(rss_kib / 1024, threads, len(os.listdir(f"/proc/{pid}/fd")))


def percentile(values: list[float], share: float) -> float | None:
    """The value below which ``share`` of ``values`` lie (nearest rank)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) points, in MiB per hour."""
    if len(points) < 3:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    slope = sum((t - mean_t) * (y - mean_y) for t, y in points) / spread
    return slope * 3600


def fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def save_samples(samples: list[Sample], path: Path) -> None:
    path.write_text(json.dumps([asdict(sample) for sample in samples], indent=0))


def draw(samples: list[Sample], warmup_s: float, path: Path) -> str:
    """The chart as a PNG at ``path``; what was done, for the summary."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no chart: matplotlib is not installed (pip install -e '.[bench]')"
    minutes = [sample.seconds / 60 for sample in samples]
    figure, (memory, latency) = plt.subplots(2, 1, sharex=True, figsize=(10, 6.5))
    memory.plot(minutes, [sample.rss_mib for sample in samples], color="tab:blue")
    memory.axvline(warmup_s / 60, color="grey", linestyle=":", linewidth=1)
    memory.set_ylabel("server RSS (MiB)")
    memory.grid(alpha=0.3)
    latency.plot(
        minutes,
        [sample.probe_p50_ms for sample in samples],
        label="probe p50",
        color="tab:green",
    )
    latency.plot(
        minutes,
        [sample.probe_p99_ms for sample in samples],
        label="probe p99",
        color="tab:red",
    )
    latency.axhline(TARGET_P99_MS, color="tab:red", linestyle=":", linewidth=1)
    latency.set_yscale("log")
    latency.set_ylabel("small file latency (ms)")
    latency.set_xlabel("minutes")
    latency.legend(loc="upper right")
    latency.grid(alpha=0.3, which="both")
    figure.suptitle("siteserve soak: memory and a small file's latency under mixed load")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return f"chart: {path}"
