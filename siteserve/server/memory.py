"""Keep the server's resident memory flat over hours of load (glibc's malloc).

Under hours of mixed load the Python heap stays flat (every table and cache is bounded,
``siteserve.bounds``) while the resident size keeps creeping up: memory freed inside
glibc's heaps is kept by the process. Two habits of glibc's malloc cause it:

- every thread that allocates (the thread pool reading, coding and zipping files) gets
  an arena of its own, up to eight per core, and memory freed in one arena serves only
  that arena's later requests;
- the first time a large block (a request body, a file's bytes) is freed, malloc raises
  its mmap threshold to that size (up to 32 MiB), so later large blocks come from the
  heaps instead of being handed back to the system when freed.

So at start (``tune``) the arenas are capped and the threshold fixed, what start-up
made is kept out of the collector's full walks (``freeze_startup``), and while the
server runs (``Trimmer``) what the heaps hold free is handed back every
``TRIM_SECONDS``. On a C library without these calls (musl, macOS, Windows) all of this
does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import logging
from collections.abc import Callable

log = logging.getLogger("siteserve.memory")

#: ``mallopt`` parameters (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
#: Arenas for all threads together: the loop's and one shared by the thread pool.
ARENA_MAX = 2
#: Blocks from this size on are mapped on their own and returned to the system when
#: freed (glibc's starting value is 128 KiB; set, it no longer rises by itself). It sits
#: above the file sender's reads (256 KiB, ``file_sender.CHUNK``): at 256 KiB each of
#: those was a fresh mapping, faulted in and zeroed page by page, and a 10 MiB answer
#: took 14% more CPU than with the heap's reuse. What the heaps keep free, ``trim`` gives back.
MMAP_THRESHOLD = 1024 * 1024
#: Free memory at a heap's top that ``free`` hands back at once. Fixing the mmap
#: threshold leaves this at glibc's 128 KiB, so each 256 KiB read freed at the top was
#: handed back and faulted in again by the next; ``Trimmer`` gives it back instead.
TRIM_THRESHOLD = 4 * MMAP_THRESHOLD
#: How often the heaps hand back what they hold free (``malloc_trim``): a trim takes a
#: millisecond or two, in a thread of the pool.
TRIM_SECONDS = 30.0


def _libc() -> ctypes.CDLL | None:
    # The symbols the process has loaded already (dlopen(NULL)): the C library the
    # interpreter is linked with, found without ctypes.util.find_library, which runs
    # ldconfig in a subprocess and imports tempfile and shutil at every start.
    try:
        libc = ctypes.CDLL(None)
    except (OSError, TypeError):  # TypeError: Windows takes no None
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None  # not glibc
    return libc


_LIBC = _libc()


def tune() -> bool:
    """Cap the arenas and fix the mmap threshold (once per process, before serving).

    False when the C library has no ``mallopt`` (nothing was changed).
    """
    if _LIBC is None:
        return False
    arenas = _LIBC.mallopt(M_ARENA_MAX, ARENA_MAX)
    threshold = _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    top = _LIBC.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    # mallopt answers 1 on success: a refusal changes nothing, and is no reason to stop.
    if not (arenas and threshold and top):
        log.debug("mallopt refused: arenas %s, thresholds %s %s", arenas, threshold, top)
    return True


def freeze_startup() -> None:
    """Move what start-up made (modules, templates, the app) out of the collector's sight.

    A full collection walks every object that lives long; most are start-up's and
    never become garbage, yet walking them took about 10-25 ms each time, a pause
    that a request arriving then waits out. Frozen, a full collection walks only what
    was made since (``gc.freeze``).
    """
    gc.collect()
    gc.freeze()


def trim() -> bool:
    """Hand the heaps' free memory back to the system; whether any was (False: no glibc)."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))


class Trimmer:
    """Calls ``trim`` every ``every`` seconds in the loop's thread pool until stopped.

    ``trim`` runs off the loop: ctypes lets go of the GIL during the call, so requests
    keep being answered while the heaps are walked.
    """

    def __init__(self, every: float = TRIM_SECONDS, trim: Callable[[], bool] = trim) -> None:
        self.every = every
        self._trim = trim
        self._task: asyncio.Task[None] | None = None
        #: Trims done so far (the tests, a debugger).
        self.trims = 0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await asyncio.to_thread(self._trim)
            self.trims += 1

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
