"""``--precompress``: a ``.gz`` and a ``.br`` next to each text file of the output.

nginx (``gzip_static on``, and ``brotli_static on`` with its brotli module) and
siteserve itself send such a sibling instead of compressing on every request.
The rules are the live server's (``site/compression.py``): which types are worth
it, the smallest body worth it, and the same deterministic encoders, so a sibling
is only kept when it is smaller. siteserve serves a sibling only when it is not
older than its file, so an unchanged sibling of a rewritten file gets a new mtime.
"""

from __future__ import annotations

import os

from siteserve.build.output import FileState, OutputFolder
from siteserve.site.compression import MIN_SIZE, OFFERED, SIBLING_SUFFIX, compress, is_compressible
from siteserve.site.mime import content_type

#: A written sibling: its path in OUT, its state, and whether its bytes changed.
Written = tuple[str, FileState, bool]


def wants_siblings(rel: str, size: int) -> bool:
    return size >= MIN_SIZE and is_compressible(content_type(rel.rpartition("/")[2]))


def write_siblings(output: OutputFolder, rel: str, data: bytes, mtime_ns: int) -> list[Written]:
    """Write the coded siblings of the file ``rel`` (whose bytes are ``data``)."""
    if not wants_siblings(rel, len(data)):
        return []
    written: list[Written] = []
    for coding in OFFERED:
        body = compress(data, coding)
        if len(body) >= len(data):
            continue
        sibling = rel + SIBLING_SUFFIX[coding]
        state, changed = output.write(sibling, body)
        if state.mtime_ns < mtime_ns:
            os.utime(output.path_of(sibling))  # not older than its file, or siteserve skips it
            state = output.state(sibling) or state
        written.append((sibling, state, changed))
    return written
