"""The loop's thread pool for background work, at a lower CPU priority than the loop.

Zipping a folder, coding a large body, writing an upload, trimming the heaps: this work
runs in the loop's default executor while the loop answers requests. When both want
the same core they share it evenly, and every request then waits for its half: in the
soak (bench/soak.py, the server pinned to one CPU) a thread zipping a folder took 56%
of the core while the loop's probe p99 rose past 40 ms. Linux keeps a nice value per
thread, so the pool's threads start ``BACKGROUND_NICE`` above the loop's: the kernel
gives the loop the core first whenever both want it, and the pool everything the loop
leaves. They also run as ``SCHED_BATCH``, so that a pool thread that wakes (its work
came, a read returned) never preempts the loop in the middle of a burst of requests:
a trace of the soak had the loop preempted by its own pool about 55 times a second.
Page renders have their own pool (``site.pages``) and keep the loop's priority: a page
is an answer someone waits for.

A lower priority does not help while a pool thread holds the GIL: the loop then
waits for the switch interval, which ``favour_the_loop`` shortens from 5 ms to 1 ms.

A thread takes the nice value of the thread that starts it, so work that starts
threads of its own (the file watcher's observers) must not be started from the pool:
``at_loop_priority`` runs such a call in a fresh thread started by the loop's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, TypeVar

T = TypeVar("T")

#: Nice steps above the loop's thread: CFS then weighs the loop about 3 to 1.
BACKGROUND_NICE: Final = 5
#: How long a thread running Python code keeps the GIL while another waits for it
#: (``sys.setswitchinterval``; CPython's default is 5 ms). A lower priority does not
#: help the loop while a pool thread holds the GIL: it waits out this interval.
SWITCH_INTERVAL: Final = 0.001


def lower_this_thread() -> None:
    """Raise the calling thread's nice value by ``BACKGROUND_NICE`` (Linux only).

    Elsewhere ``PRIO_PROCESS`` with a thread id would name a process, so nothing is done.
    """
    if sys.platform != "linux":
        return
    thread = threading.get_native_id()
    # Lowering a priority needs no privilege; a refusal only leaves it as it was.
    with contextlib.suppress(OSError):
        # SCHED_BATCH (sched(7)): a waking pool thread never preempts the loop; it
        # runs when the loop waits, or at the next tick, at the same fair share.
        os.sched_setscheduler(thread, os.SCHED_BATCH, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.setpriority(
            os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + BACKGROUND_NICE
        )


def favour_the_loop() -> None:
    """Hand the GIL back to the loop sooner when a pool thread runs Python code (a zip)."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def background_executor() -> ThreadPoolExecutor:
    """The executor ``asyncio.to_thread`` and ``run_in_executor(None, ...)`` use."""
    return ThreadPoolExecutor(
        thread_name_prefix="siteserve-background", initializer=lower_this_thread
    )


async def at_loop_priority(call: Callable[[], T]) -> T:
    """``call()`` in a thread of its own at the loop's priority, awaited without blocking.

    For work that starts long-lived threads (they inherit the priority of the thread
    that starts them): from a pool thread, the watcher's observers ran below the loop
    and a burst of saves reached the debouncer late, as several change sets.
    """
    done: Future[T] = Future()

    def run() -> None:
        try:
            done.set_result(call())
        except BaseException as error:  # handed to the awaiting task, as to_thread does
            done.set_exception(error)

    threading.Thread(target=run, name="siteserve-start", daemon=True).start()
    return await asyncio.wrap_future(done)
