"""The size a chunk declares, read from bytes llhttp has already accepted.

llhttp tells when a chunk's size line is complete (``on_chunk_header``) but not
the size it declares, and then hands the data over as it arrives: a chunk that
declares ``FFFFFFFFFFFFFFFF`` would be waited on until its bytes passed the body
bound. Knowing the size lets the parser answer 413 as soon as the line is in.

This is no second parser: every byte looked at here has been accepted by llhttp,
and RFC 9112 section 7.1 puts the size line where it can be found without one.
``chunk-size [ chunk-ext ] CRLF`` holds no LF (a quoted extension value cannot
hold one), begins right after the LF that ended the head or the previous chunk,
and ends right before the chunk's data, which llhttp hands over up to the end of
each read.
"""

from __future__ import annotations

import re

_HEX_RUN = re.compile(rb"[0-9A-Fa-f]*")
#: More significant digits than this declare more than 2**64 bytes: llhttp refuses them.
_MAX_DIGITS = 17

_OUTSIDE = 0  # not in a chunked body
_SIZE_LINE = 1  # between chunks: the next bytes are a size line
_DATA = 2  # after a size line: the chunk's data (or, after the last chunk, its trailers)


class ChunkSizes:
    """Follows one chunked body through llhttp's callbacks and the reads that fed them."""

    __slots__ = ("_carry", "_data", "_header_in_read", "_phase")

    def __init__(self) -> None:
        self._phase = _OUTSIDE
        #: The start of a size line begun in an earlier read (compacted: see _compact).
        self._carry = b""
        #: Bytes of the current chunk's data handed over in the current read.
        self._data = 0
        self._header_in_read = False

    # -- llhttp's events ---------------------------------------------------------

    def body_begins(self, chunked: bool) -> None:
        self._phase = _SIZE_LINE if chunked else _OUTSIDE
        self._carry = b""

    def chunk_header(self) -> None:
        self._phase = _DATA
        self._data = 0
        self._header_in_read = True

    def chunk_data(self, size: int) -> None:
        self._data += size

    def chunk_complete(self) -> None:
        self._phase = _SIZE_LINE
        self._carry = b""

    def body_ends(self) -> None:
        self._phase = _OUTSIDE
        self._header_in_read = False

    # -- after each read ----------------------------------------------------------

    def still_to_come(self, data: bytes) -> int | None:
        """After llhttp took all of ``data``: the bytes the chunk under way still declares.

        None when no chunk's size line was completed in ``data`` with its data
        still to come (the size of an earlier one was asked about already).
        """
        if self._phase == _OUTSIDE:
            return None  # most reads: no chunked body under way
        header_in_read, self._header_in_read = self._header_in_read, False
        if self._phase == _SIZE_LINE:
            newline = data.rfind(b"\n")
            self._carry = _compact(data[newline + 1 :] if newline >= 0 else self._carry + data)
            return None
        if self._phase != _DATA or not header_in_read:
            return None
        end = len(data) - self._data  # just past the size line's LF
        if end <= 0 or data[end - 1] != 0x0A:
            return None
        newline = data.rfind(b"\n", 0, end - 1)
        line = data[newline + 1 : end - 1] if newline >= 0 else self._carry + data[: end - 1]
        declared = _declared(line)
        # After the last chunk (size 0) come trailer lines, not data: a trailer line
        # never reads as a size line (a field name is followed by ":"), and 0 asks for nothing.
        return None if declared is None else max(0, declared - self._data)


def _declared(line: bytes) -> int | None:
    """The size of ``chunk-size [ chunk-ext ] CR``, or None if ``line`` is not one."""
    match = _HEX_RUN.match(line)
    digits = match.end() if match else 0
    if digits == 0 or line[digits : digits + 1] not in (b";", b"\r"):
        return None
    return int(line[:digits], 16)


def _compact(start: bytes) -> bytes:
    """The start of a size line, cut to what its size depends on.

    Leading zeros are dropped and digits past ``_MAX_DIGITS`` cut (either way
    the size stays above any body bound), and of what follows the digits only
    the next byte is kept: a long extension costs no memory.
    """
    match = _HEX_RUN.match(start)
    digits = match.end() if match else 0
    significant = start[:digits].lstrip(b"0") or start[:digits][:1]
    return significant[:_MAX_DIGITS] + start[digits : digits + 1]
