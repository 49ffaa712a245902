"""The loop's background pool runs below the loop's CPU priority (server.background)."""

from __future__ import annotations

import asyncio
import os
import sys
import threading

import pytest

from siteserve.server.background import (
    BACKGROUND_NICE,
    SWITCH_INTERVAL,
    background_executor,
    favour_the_loop,
)


def _nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
def test_background_threads_run_below_the_loop_and_the_loop_keeps_its_priority() -> None:
    async def scenario() -> tuple[int, int, int]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(background_executor())
        before = _nice_of_this_thread()
        in_pool = await asyncio.to_thread(_nice_of_this_thread)
        return before, in_pool, _nice_of_this_thread()

    loop_before, pool, loop_after = asyncio.run(scenario())
    assert pool == min(loop_before + BACKGROUND_NICE, 19)
    assert loop_after == loop_before


@pytest.mark.skipif(sys.platform != "linux", reason="a scheduling policy per thread is Linux's")
def test_a_waking_background_thread_does_not_preempt_the_loop() -> None:
    def policy() -> int:
        return os.sched_getscheduler(threading.get_native_id())

    async def scenario() -> tuple[int, int]:
        asyncio.get_running_loop().set_default_executor(background_executor())
        return await asyncio.to_thread(policy), policy()

    in_pool, loop = asyncio.run(scenario())
    assert in_pool == os.SCHED_BATCH
    assert loop == os.SCHED_OTHER


def test_the_loop_gets_the_gil_back_sooner() -> None:
    before = sys.getswitchinterval()
    try:
        favour_the_loop()
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
        assert SWITCH_INTERVAL < 0.005  # CPython's default
    finally:
        sys.setswitchinterval(before)
