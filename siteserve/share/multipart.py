"""A streaming multipart/form-data parser (RFC 7578; framing of RFC 2046 section 5.1.1).

Fed chunks as they arrive, it answers events: a part begins (with its
headers), part data, a part ends, the body ends. It holds at most one part's
header block and a delimiter's length of data, so a file of any size passes
through in bounded memory. ``siteserve.site.forms.parse_multipart`` splits a
body that is already whole (a page's form); this one is for uploads, which
must never be whole in memory. Both read parameters with the same helper.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from siteserve.site.forms import _param

#: A part's header block larger than this is refused (browsers send a few hundred bytes).
MAX_PART_HEADER = 16 * 1024
#: More parts than this in one body is refused (``[limits]`` ``max_multipart_parts``).
MAX_PARTS = 1000


class MultipartError(ValueError):
    """A body that does not follow multipart framing; the upload answers 400."""


class TooManyParts(MultipartError):
    """More parts than the parser was told to take; the upload answers 413."""


@dataclass(frozen=True, slots=True)
class PartStart:
    name: str | None
    #: None for a plain field; the name as the browser sent it for a file (maybe "").
    filename: str | None
    content_type: str


@dataclass(frozen=True, slots=True)
class PartData:
    data: bytes


@dataclass(frozen=True, slots=True)
class PartEnd:
    pass


Event = PartStart | PartData | PartEnd

_FORM_ESCAPE = re.compile(r"%([01][0-9A-Fa-f]|22|7[Ff])")

_PREAMBLE, _AFTER_DELIMITER, _HEADERS, _BODY, _DONE = range(5)


def boundary_of(content_type: str | None) -> bytes:
    """The boundary parameter of a multipart Content-Type, or MultipartError."""
    boundary = _param(content_type or "", "boundary")
    # RFC 2046 section 5.1.1: 1 to 70 characters.
    if not boundary or len(boundary) > 70:
        raise MultipartError("multipart body without a usable boundary")
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        raise MultipartError("multipart boundary is not ASCII") from None


class MultipartParser:
    def __init__(self, boundary: bytes, *, max_parts: int = MAX_PARTS) -> None:
        self._max_parts = max_parts
        self._dash_boundary = b"--" + boundary
        #: Inside a body the delimiter is preceded by the CRLF that ends the data.
        self._delimiter = b"\r\n" + self._dash_boundary
        self._buffer = bytearray()
        self._state = _PREAMBLE
        self._parts = 0

    @property
    def done(self) -> bool:
        return self._state == _DONE

    def feed(self, data: bytes) -> list[Event]:
        if self._state == _DONE:
            return []  # the epilogue is ignored (RFC 2046 section 5.1.1)
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def finish(self) -> None:
        """The body ended: it must have ended with the closing delimiter."""
        if self._state != _DONE:
            raise MultipartError("multipart body is cut short")

    def _step(self, events: list[Event]) -> bool:
        """Make one move; answer whether another could follow with the data buffered."""
        buffer = self._buffer
        if self._state == _PREAMBLE:
            # The first delimiter may open the body, without a CRLF before it.
            at = buffer.find(self._dash_boundary)
            if at < 0:
                keep = len(self._dash_boundary) - 1
                if len(buffer) > keep:
                    del buffer[: len(buffer) - keep]
                return False
            del buffer[: at + len(self._dash_boundary)]
            self._state = _AFTER_DELIMITER
            return True
        if self._state == _AFTER_DELIMITER:
            if len(buffer) < 2:
                return False
            if buffer.startswith(b"--"):
                self._state = _DONE
                buffer.clear()
                return False
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                if len(buffer) > 1024:
                    raise MultipartError("malformed multipart delimiter line")
                return False
            if buffer[:line_end].strip(b" \t"):  # only transport padding may follow
                raise MultipartError("malformed multipart delimiter line")
            del buffer[: line_end + 2]
            self._parts += 1
            if self._parts > self._max_parts:
                raise TooManyParts(f"too many parts in one multipart body (over {self._max_parts})")
            self._state = _HEADERS
            return True
        if self._state == _HEADERS:
            if buffer.startswith(b"\r\n"):
                head, skip = b"", 2  # a part with no header lines
            else:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > MAX_PART_HEADER:
                        raise MultipartError("multipart part headers too large")
                    return False
                head, skip = bytes(buffer[:end]), end + 4
            if skip - 4 > MAX_PART_HEADER:
                raise MultipartError("multipart part headers too large")
            del buffer[:skip]
            events.append(_part_start(head))
            self._state = _BODY
            return True
        if self._state == _BODY:
            at = buffer.find(self._delimiter)
            if at < 0:
                # All but what could be the start of a delimiter is data.
                safe = len(buffer) - (len(self._delimiter) - 1)
                if safe > 0:
                    events.append(PartData(bytes(buffer[:safe])))
                    del buffer[:safe]
                return False
            if at:
                events.append(PartData(bytes(buffer[:at])))
            del buffer[: at + len(self._delimiter)]
            events.append(PartEnd())
            self._state = _AFTER_DELIMITER
            return True
        return False


def _part_start(head: bytes) -> PartStart:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            # Browsers send non-ASCII file names as raw UTF-8 (RFC 7578 section 4.2).
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode(
                "utf-8", "replace"
            )
    disposition = headers.get("content-disposition", "")
    filename = _param(disposition, "filename")
    if filename is not None:
        # HTML's form encoding escapes '"', CR and LF in names as %22, %0D, %0A (and
        # some clients every control character): undo that, so the name can be cleaned.
        filename = _FORM_ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), filename)
    return PartStart(
        name=_param(disposition, "name"),
        filename=filename,
        content_type=headers.get("content-type", "application/octet-stream"),
    )
