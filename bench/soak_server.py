"""The soak's server with tracemalloc on, for finding what grows (``bench.soak --tracemalloc``).

    python -m bench.soak_server DIR -- SITESERVE-ARGS...

Runs siteserve's own CLI in this process with ``tracemalloc`` tracing (one frame per
allocation: the cost stays bearable under load) and dumps a snapshot into DIR every
``--every`` seconds (``snap-MMMM.tracemalloc``: MMMM the minute it was taken), with a
line per dump in DIR/traced.txt: seconds, traced bytes now, traced peak. Read them
with ``python -m bench.soak_server --compare DIR`` (the last snapshot against the one
nearest to ``--since`` minutes), which prints the allocation sites that grew most.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import tracemalloc
from pathlib import Path

#: Allocation sites printed by ``--compare``.
TOP = 30


def dump_every(folder: Path, every: float, stop: threading.Event) -> None:
    started = time.monotonic()
    with (folder / "traced.txt").open("a") as log:
        while not stop.wait(every):
            seconds = time.monotonic() - started
            snapshot = tracemalloc.take_snapshot()
            snapshot.dump(str(folder / f"snap-{int(seconds // 60):04d}.tracemalloc"))
            current, peak = tracemalloc.get_traced_memory()
            log.write(f"{seconds:.0f} {current} {peak}\n")
            log.flush()


def serve(folder: Path, every: float, argv: list[str]) -> int:
    from siteserve.cli import main

    folder.mkdir(parents=True, exist_ok=True)
    tracemalloc.start(1)
    stop = threading.Event()
    dumper = threading.Thread(
        target=dump_every, args=(folder, every, stop), name="soak-tracemalloc", daemon=True
    )
    dumper.start()
    try:
        return main(argv)
    finally:
        stop.set()


def compare(folder: Path, since_minutes: float) -> str:
    snaps = sorted(folder.glob("snap-*.tracemalloc"))
    if len(snaps) < 2:
        return f"fewer than two snapshots in {folder}"
    minute = {int(path.stem.split("-")[1]): path for path in snaps}
    first_minute = min(minute, key=lambda m: abs(m - since_minutes))
    first, last = minute[first_minute], snaps[-1]
    old = tracemalloc.Snapshot.load(str(first))
    new = tracemalloc.Snapshot.load(str(last))
    lines = [f"{last.name} against {first.name}:"]
    for kind in ("filename", "lineno"):
        stats = new.compare_to(old, kind)
        total = sum(stat.size_diff for stat in stats)
        lines.append(f"-- by {kind}: total {total / 1024:+.0f} KiB")
        for stat in stats[:TOP]:
            where = stat.traceback[0]
            lines.append(
                f"{stat.size_diff / 1024:+9.0f} KiB {stat.count_diff:+8d} blocks "
                f"(now {stat.size / 1024:.0f} KiB)  {where.filename}:{where.lineno}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    server_args: list[str] = []
    if "--" in args:
        at = args.index("--")
        args, server_args = args[:at], args[at + 1 :]
    parser = argparse.ArgumentParser(prog="python -m bench.soak_server", description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between snapshots")
    parser.add_argument("--compare", action="store_true", help="print what grew, then exit")
    parser.add_argument("--since", type=float, default=5.0, help="minutes (with --compare)")
    options = parser.parse_args(args)
    if options.compare:
        print(compare(options.folder, options.since))
        return 0
    return serve(options.folder, options.every, server_args)


if __name__ == "__main__":
    raise SystemExit(main())
