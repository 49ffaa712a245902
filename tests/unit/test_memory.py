"""The process's malloc settings and the periodic trim (``server.memory``).

The settings are checked by what they are for: after ``tune``, a large block that is
freed leaves the resident size at once, also after a first large free (which, left
alone, makes glibc keep such blocks in its heaps).
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from siteserve.server import file_sender, memory

MIB = 1024 * 1024
BLOCKS = 64

glibc = pytest.mark.skipif(memory._LIBC is None, reason="needs glibc's mallopt")


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def test_tune_says_whether_it_could() -> None:
    assert memory.tune() is (memory._LIBC is not None)
    assert memory.trim() in (True, False)


@glibc
def test_after_tune_freed_large_blocks_leave_the_resident_size() -> None:
    memory.tune()

    def churn() -> float:
        # A first large free: without a fixed threshold, glibc raises it to this size.
        del_first = b"x" * (4 * MIB)
        del del_first
        blocks = [b"x" * MIB for _ in range(BLOCKS)]
        held = resident_mib()
        blocks.clear()
        return held - resident_mib()

    # In a thread of a pool, as the server's file work is.
    with ThreadPoolExecutor(1) as pool:
        returned = pool.submit(churn).result()
    assert returned > BLOCKS * 0.75, returned


def test_the_file_senders_reads_stay_below_the_mmap_threshold() -> None:
    # Each read at the threshold or above would be a fresh mapping, faulted in and zeroed.
    assert sys.getsizeof(bytes(file_sender.CHUNK)) < memory.MMAP_THRESHOLD


def test_the_trimmer_trims_in_a_thread_until_stopped() -> None:
    seen: list[threading.Thread] = []

    async def go() -> tuple[int, threading.Thread]:
        loop = asyncio.get_running_loop()
        third = asyncio.Event()

        def fake_trim() -> bool:
            seen.append(threading.current_thread())
            if len(seen) == 3:
                loop.call_soon_threadsafe(third.set)
            return True

        trimmer = memory.Trimmer(every=0.001, trim=fake_trim)
        trimmer.start()
        async with asyncio.timeout(10):
            await third.wait()
        await trimmer.stop()
        await trimmer.stop()  # twice is fine
        return len(seen), threading.current_thread()

    done, loop_thread = asyncio.run(go())
    assert done >= 3
    assert all(thread is not loop_thread for thread in seen)


def test_what_start_up_made_is_left_out_of_full_collections() -> None:
    made_at_start = [{"n": n} for n in range(10_000)]
    try:
        memory.freeze_startup()
        assert gc.get_freeze_count() >= len(made_at_start)
    finally:
        gc.unfreeze()
