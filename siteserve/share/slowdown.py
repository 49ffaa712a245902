"""Repeated wrong passwords or share-link tokens from one address: a growing delay.

A guesser who gets an answer at once can try thousands of passwords a
minute. Here each client address has a count of recent failures; once it
has failed ``free`` times, every further attempt from that address waits
before it is answered: ``base * 2 ** (failures - free)`` seconds, at most
``cap``. The count decays (one failure is forgotten every ``decay`` seconds),
and a right answer from the address clears it. (A failure counts in full until it
is wholly forgotten.)

The wait is an ``asyncio.sleep`` of the one request, not a lock: nothing
else waits, and the right password from another address is answered at once.
An attempt that waits does so whether it is right or wrong, so a guesser
cannot cut the wait short by treating a slow answer as a wrong one. Its
failure is counted before the wait, so attempts sent in parallel each see
the ones before them and wait longer.

The table of addresses is bounded: least recently seen addresses are dropped
past ``capacity`` (an LRU), so a flood of addresses costs a fixed amount of
memory. (It also lets such a flood push an address out; a guesser with
thousands of addresses on one LAN is out of reach of a per-address rule.)
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from siteserve import bounds

#: Failures an address may have before its attempts wait.
FREE_FAILURES = 5
#: The first wait, in seconds; each further failure doubles it.
BASE_DELAY = 0.1
#: The longest wait, in seconds.
MAX_DELAY = 4.0
#: Seconds after which one failure of an address is forgotten.
DECAY = 60.0
#: Addresses remembered at most (``bounds``).
CAPACITY = bounds.FAILED_ADDRESSES


@dataclass(slots=True)
class _Record:
    failures: float
    seen: float


class FailureDelays:
    """Failure counts per client address, and the delay each address's next attempt gets."""

    def __init__(
        self,
        *,
        free: int = FREE_FAILURES,
        base: float = BASE_DELAY,
        cap: float = MAX_DELAY,
        decay: float = DECAY,
        capacity: int = CAPACITY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self.decay = decay
        self.capacity = capacity
        self._clock = clock
        self._table: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def failures(self, address: str) -> int:
        """The failures of ``address`` that still count (after decay)."""
        record = self._table.get(address)
        if record is None:
            return 0
        return math.ceil(self._decayed(record, self._clock()))

    def delay_for(self, failures: int) -> float:
        """The wait, in seconds, of an attempt from an address with ``failures`` so far."""
        if failures < self.free:
            return 0.0
        return min(self.cap, self.base * 2.0 ** (failures - self.free))

    def attempt(self, address: str | None, *, succeeded: bool) -> float:
        """Note one attempt with credentials; answer how long it waits before its answer."""
        if address is None:
            return 0.0  # no address to hold it against (a test, a Unix socket)
        now = self._clock()
        record = self._table.get(address)
        failures = 0.0 if record is None else self._decayed(record, now)
        # A failure counts until it is wholly forgotten (a moment after five, still five).
        wait = self.delay_for(math.ceil(failures))
        if succeeded:
            self._table.pop(address, None)
            return wait
        if record is None:
            record = self._table[address] = _Record(0.0, now)
            if len(self._table) > self.capacity:
                self._table.popitem(last=False)  # the address seen longest ago
        else:
            self._table.move_to_end(address)
        record.failures = failures + 1
        record.seen = now
        return wait

    def _decayed(self, record: _Record, now: float) -> float:
        return max(0.0, record.failures - (now - record.seen) / self.decay)
