"""Waiting for a condition in the integration tests: poll it, never sleep a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable

DEADLINE = 10.0


def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` until it holds; AssertionError naming ``what`` after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
