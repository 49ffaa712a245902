"""Content codings for static files: negotiation, on-the-fly gzip and brotli, precompressed files.

A body is compressed once per version: the compressed bytes are kept in a bounded LRU
keyed by the ETag of the uncoded representation (which changes whenever the file does:
the file's own, or that of the page as shown with live reload's script) and the coding.
Each coding is a different representation, so it gets its own ETag (RFC 9110 section
8.8.3: a strong tag names one exact byte sequence) and every response that could have
been coded differently says ``Vary: Accept-Encoding`` (section 12.5.5).
"""

from __future__ import annotations

import asyncio
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Final, Literal

from siteserve import bounds
from siteserve.http.negotiation import weighted
from siteserve.site.mime import is_textual

Coding = Literal["br", "gzip", "identity"]

#: Below this, a coded body saves less than the header and round trip cost.
MIN_SIZE: Final = 1024
#: Largest file compressed on the fly. Above it the file is sent as it is, with
#: sendfile, a Content-Length, and Range support, unless a precompressed sibling exists.
#: Streaming gzip would keep memory flat but would spend a CPU core on every request
#: for a large file (nothing to cache: a 100 MB result does not fit the budget), drop
#: Content-Length (no download progress) and Range (no resuming), and let any client
#: burn our CPU by asking repeatedly. A preview server's links are local or LAN, where
#: the bytes saved are worth less than that; who wants a 100 MB text file compressed
#: can put ``file.gz`` or ``file.br`` next to it.
MAX_SIZE: Final = 16 * 1024 * 1024
#: Total size of the compressed-body cache, and how many bodies it keeps (``bounds``).
CACHE_BYTES: Final = bounds.COMPRESSED_BYTES
CACHE_ENTRIES: Final = bounds.COMPRESSED_ENTRIES
#: Bodies larger than this are compressed in a worker thread (zlib and brotli release
#: the GIL), so a first request for a big bundle does not stall every other connection.
THREAD_THRESHOLD: Final = 64 * 1024

# Brotli quality 5 compresses a little better than gzip -6 at similar speed; 11 would
# shave a few more percent at 20-50x the time, paid again after every edit in dev.
BROTLI_QUALITY: Final = 5
GZIP_LEVEL: Final = 6

#: The codings we offer, most preferred first: the order breaks q-value ties.
OFFERED: Final[tuple[Coding, ...]] = ("br", "gzip")
#: The file name suffix of a precompressed sibling.
SIBLING_SUFFIX: Final[dict[Coding, str]] = {"br": ".br", "gzip": ".gz"}
_ETAG_SUFFIX: Final[dict[Coding, str]] = {"br": "-br", "gzip": "-gz"}

# Binary types that are not text but still shrink well.
_COMPRESSIBLE_BINARY = frozenset({"application/wasm", "font/ttf", "font/otf"})


def is_compressible(content_type: str) -> bool:
    """Whether a type is worth coding: text, JS, CSS, JSON, XML, SVG, manifests, wasm."""
    media_type = content_type.partition(";")[0].strip().lower()
    return is_textual(media_type) or media_type in _COMPRESSIBLE_BINARY


def coded_etag(etag: str, coding: Coding) -> str:
    """``"tag"`` -> ``"tag-br"``: a distinct tag per representation, weakness kept."""
    if coding == "identity":
        return etag
    return etag[:-1] + _ETAG_SUFFIX[coding] + '"'


# -- negotiation (RFC 9110 section 12.5.3) ---------------------------------------------


def _weights(accept_encoding: str) -> tuple[dict[str, float], float | None]:
    """Coding -> q, and the q of ``*`` (None when absent). Unparseable items are skipped."""
    weights: dict[str, float] = {}
    star: float | None = None
    for name, q in weighted(accept_encoding):
        if name == "x-gzip":
            name = "gzip"  # section 8.4.1.3: the same coding
        if name == "*":
            star = q
        else:
            weights[name] = q
    return weights, star


@lru_cache(maxsize=256)
def choose_coding(accept_encoding: str | None, available: tuple[Coding, ...] = OFFERED) -> Coding:
    """The coding to send: highest q wins; ties go br, then gzip, then identity.

    Without an Accept-Encoding field the RFC lets us pick any coding, but the clients
    that omit it (curl, scripts, some proxies) are the ones that cannot decode: they
    get identity. When every coding, identity included, is refused (``identity;q=0``
    with nothing else acceptable), we disregard the field and send identity, which the
    RFC allows instead of a 406 and is what a user would rather see.
    """
    if accept_encoding is None:
        return "identity"
    weights, star = _weights(accept_encoding)
    best: Coding = "identity"
    # Identity is acceptable unless excluded by name or by "*;q=0" (section 12.5.3), but
    # a client that lists only "gzip;q=0.8" still prefers gzip: unnamed, identity
    # weighs nothing and is only the fallback.
    best_q = weights.get("identity", star if star is not None else 0.0)
    chosen_q = -1.0
    for coding in available:
        q = weights.get(coding, star if star is not None else 0.0)
        if q > 0 and q >= best_q and q > chosen_q:
            best, chosen_q = coding, q
    return best


# -- compressing ----------------------------------------------------------------------


def compress(data: bytes, coding: Coding) -> bytes:
    """Code ``data``; the same input always gives the same bytes.

    Determinism matters: the coded ETag is derived from the file's, so after a
    restart the same tag must still name the same bytes. gzip's header would carry a
    timestamp, hence ``mtime=0``.
    """
    # Each codec is imported the first time a body is coded with it: a server that
    # never codes one (or a --help) does not load it.
    if coding == "br":
        import brotli

        result: bytes = brotli.compress(data, quality=BROTLI_QUALITY)
        return result
    if coding == "gzip":
        import gzip

        return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)
    return data


#: What the cache holds for a coding that did not make the body smaller.
NOT_SMALLER: Final = b""


class CompressionCache:
    """Compressed bodies, bounded by total size, least recently used evicted first.

    Keyed by (representation, coding), the representation named by its identity ETag
    and the device of its file (``Representation.cache_key``): a new version of a file
    has a new tag, so a stale body is never served and simply ages out. ``NOT_SMALLER``
    (empty bytes) records a body that coding would not shrink, so we do not try again;
    those count against ``max_entries``, as they weigh nothing against ``max_bytes``.
    """

    def __init__(self, max_bytes: int = CACHE_BYTES, max_entries: int = CACHE_ENTRIES) -> None:
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0
        self._entries: OrderedDict[tuple[str, Coding], bytes] = OrderedDict()
        self._pending: dict[tuple[str, Coding], asyncio.Future[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, coding: Coding) -> bytes | None:
        """The cached body (or NOT_SMALLER), or None when it has not been made yet.

        ``key`` names the uncoded representation (``Representation.cache_key``).
        """
        entry = (key, coding)
        body = self._entries.get(entry)
        if body is not None:
            self._entries.move_to_end(entry)
        return body

    def put(self, key: str, coding: Coding, body: bytes) -> None:
        # One body may not take more than a quarter of the budget, or a single big
        # file would flush everything else at every request.
        if len(body) > self.max_bytes // 4:
            return
        entry = (key, coding)
        previous = self._entries.pop(entry, None)
        if previous is not None:
            self.size -= len(previous)
        self._entries[entry] = body
        self.size += len(body)
        while self.size > self.max_bytes or len(self._entries) > self.max_entries:
            _, evicted = self._entries.popitem(last=False)
            self.size -= len(evicted)

    def forget(self, key: str) -> None:
        """Drop every coding of one representation (its file changed: it will not be asked
        for again, and would otherwise hold memory until it is the least recently used)."""
        for coding in OFFERED:
            body = self._entries.pop((key, coding), None)
            if body is not None:
                self.size -= len(body)

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0

    def compress_now(self, key: str, coding: Coding, data: bytes) -> bytes:
        """Compress on the calling thread (small bodies), cache, and answer the body."""
        cached = self.get(key, coding)
        if cached is not None:
            return cached
        body = compress(data, coding)
        if len(body) >= len(data):
            body = NOT_SMALLER
        self.put(key, coding, body)
        return body

    async def compressed(self, key: str, coding: Coding, read: Callable[[], bytes]) -> bytes:
        """The coded body for a file version, made at most once however many ask at once.

        ``read`` gives the identity bytes; it runs, with the compressor, in a worker
        thread when the body is large, so the event loop keeps serving.
        """
        cached = self.get(key, coding)
        if cached is not None:
            return cached
        entry = (key, coding)
        pending = self._pending.get(entry)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._pending[entry] = future
        try:
            body = await asyncio.to_thread(self._make, read, coding)
            self.put(key, coding, body)
            future.set_result(body)
            return body
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            # Nobody else may be waiting; mark the exception retrieved.
            future.exception()
            raise
        finally:
            del self._pending[entry]

    @staticmethod
    def _make(read: Callable[[], bytes], coding: Coding) -> bytes:
        data = read()
        body = compress(data, coding)
        return NOT_SMALLER if len(body) >= len(data) else body


# -- precompressed siblings -----------------------------------------------------------


def find_sibling(path: Path, coding: Coding, not_before_ns: int) -> os.stat_result | None:
    """The stat of ``path.br`` / ``path.gz`` when it exists and is not older than ``path``.

    An older sibling was made from an earlier version of the file: serving it would
    show stale content exactly when someone is editing, so the original wins.
    """
    suffix = SIBLING_SUFFIX.get(coding)
    if suffix is None:
        return None
    try:
        info = os.stat(str(path) + suffix)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_mtime_ns < not_before_ns:
        return None
    return info
