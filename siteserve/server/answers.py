"""Whole answers kept per request, for requests that repeat byte for byte.

A browser asks for a page's files with the same bytes every time, and so does a
benchmark. When a request that came alone in one read was answered at once by
the normal path (parser, layers, Site, writer), with a 200 or a 304 whose
``Response.still_valid`` says how to tell it still holds, its encoded head
(without the Date line) and its body are kept here, keyed by the request's
bytes. The next read with the same bytes is answered from here after one call
to that check (for a static file: the URL resolves to the same file, and one
``os.stat`` says it is the same version), the Date line put in, in one write:
no parsing, no layers, no encoding. An answer with a large body goes out as one
``sendfile`` from a private in-memory copy of the whole answer (``wire_files``).

Only when every layer allows it (``App.reusable_answers``: live reload, the
password check and the proxy never do). What is kept is what the normal path
made from one version of the file, so an answer never mixes two (issue #16).
A revalidation (If-None-Match, If-Modified-Since) is kept too: its 304 or 200 is
decided from the request's own bytes, which are the key, and the file's version,
which the check compares. Requests with a body, ``Expect``, an upgrade, If-Match,
If-Unmodified-Since or a Range are never kept (writes and resumed downloads, whose
answers are not worth keeping or are slices of the file), nor answers after
which the connection closes for a reason other than the request's own
``Connection: close``. The table is bounded by entries and bytes
(``bounds``), least recently used first out.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from siteserve import bounds
from siteserve.http.request import Request
from siteserve.http.response import FileBody, Response
from siteserve.http.writer import Framing
from siteserve.server.connection_state import CloseReason
from siteserve.server.response_sender import JOIN_BELOW, frame
from siteserve.server.wire_files import WireFile, WireFiles

MAX_ENTRIES: Final = bounds.ANSWERS
MAX_BYTES: Final = bounds.ANSWER_BYTES
MAX_BODY: Final = bounds.ANSWER_BODY
MAX_KEY: Final = bounds.ANSWER_KEY

#: Request fields of writes and resumed downloads (RFC 9110 section 13.1.1, 13.1.4:
#: preconditions for a change; 13.1.5 and 14.2: ranges), or of a body: such requests are
#: always made anew.
_NEVER_KEPT: Final = frozenset(
    {
        "if-match",
        "if-unmodified-since",
        "if-range",
        "range",
        "expect",
        "content-length",
        "transfer-encoding",
        "upgrade",
    }
)


#: A whole body, and the answer to a revalidation that found the client's copy current
#: (RFC 9110 section 15.4.5).
_KEPT_STATUSES: Final = (200, 304)

#: The reasons to close that the request's own bytes give (RFC 9112 sections 9.3, 9.6).
_KEPT_CLOSES: Final = (None, CloseReason.CLIENT_CLOSE, CloseReason.HTTP10)


class Answer:
    """One kept answer: the bytes around the Date line, and how to tell it still holds."""

    __slots__ = (
        "after_date",
        "closes",
        "large_body",
        "method",
        "size",
        "status",
        "status_line",
        "still_valid",
        "target",
        "wire",
    )

    def __init__(
        self,
        status_line: bytes,
        head_rest: bytes,
        body: bytes,
        still_valid: Callable[[], bool],
        request: Request,
        status: int,
        closes: CloseReason | None,
    ) -> None:
        self.status_line = status_line
        large = len(body) >= JOIN_BELOW
        #: The rest of the head after the Date line, and a small body (none for HEAD)...
        self.after_date = head_rest if large else head_rest + body
        #: ...or a large one, written after the head without a copy into it.
        self.large_body = body if large else None
        #: The whole answer for one Date line, to send a large body without a copy
        #: (``wire_files``), made when first wanted.
        self.wire: WireFile | None = None
        self.still_valid = still_valid
        #: Why the connection closes after it (the request said so), or None.
        self.closes = closes
        #: For the request log.
        self.method = request.method
        self.target = request.target
        self.status = status
        self.size = len(body)

    @property
    def memory(self) -> int:
        large = self.large_body
        return len(self.status_line) + len(self.after_date) + (0 if large is None else len(large))


class AnswerCache:
    """Kept answers by request bytes, bounded by ``MAX_ENTRIES`` and ``MAX_BYTES``."""

    __slots__ = ("_answers", "_bytes", "_wires", "reused")

    def __init__(self) -> None:
        self._answers: OrderedDict[bytes, Answer] = OrderedDict()
        self._bytes = 0
        self._wires = WireFiles()
        #: Answers given again (counted by the connection that sent them).
        self.reused = 0

    def __len__(self) -> int:
        return len(self._answers)

    @property
    def size(self) -> int:
        """Bytes held: keys, heads and bodies."""
        return self._bytes

    def get(self, request_bytes: bytes) -> Answer | None:
        answer = self._answers.get(request_bytes)
        if answer is not None:
            self._answers.move_to_end(request_bytes)
        return answer

    def forget(self, request_bytes: bytes) -> None:
        answer = self._answers.pop(request_bytes, None)
        if answer is not None:
            self._dropped(request_bytes, answer)

    def _dropped(self, request_bytes: bytes, answer: Answer) -> None:
        self._bytes -= len(request_bytes) + answer.memory
        self._wires.close(answer.wire)
        answer.wire = None

    @property
    def wire_files(self) -> int:
        """Wire files open (``wire_files``), at most ``wire_files.MAX_OPEN``."""
        return len(self._wires)

    def wire(self, answer: Answer, date_line: bytes) -> WireFile | None:
        """``answer`` (one with a ``large_body``) whole, with ``date_line``, in a wire file:
        the one made for this Date line, or a new one; None when none can be open now."""
        wire = answer.wire
        if wire is not None:
            if wire.date_line == date_line and wire.fd >= 0:
                return wire  # (one the sweep closed at the turn of a second is made again)
            self._wires.close(wire)  # the Date moved on: never rewritten, see wire_files
        large = answer.large_body
        assert large is not None
        answer.wire = wire = self._wires.make(
            date_line, (answer.status_line, date_line, answer.after_date, large)
        )
        return wire

    def keep(
        self,
        request_bytes: bytes,
        request: Request,
        response: Response,
        closes: CloseReason | None,
        framing: Framing | None = None,
    ) -> None:
        """Keep ``response``, sent just now to ``request`` (which came alone as
        ``request_bytes``), when it may be given again. ``closes``: why the connection
        closes after it, None when it stays open; only a close the request asked for
        (``Connection: close``, HTTP/1.0) is kept, as the same bytes ask for it again.
        ``framing``: the head the sender writes (``response_sender.frame``), if made."""
        still_valid = response.still_valid
        if still_valid is None or response.status not in _KEPT_STATUSES:
            return
        if len(request_bytes) > MAX_KEY:
            return
        if closes not in _KEPT_CLOSES or response.close:
            return
        if not request.headers.lacks(_NEVER_KEPT):
            return
        body = response.body
        if isinstance(body, FileBody):
            if body.length > MAX_BODY:
                return
        elif not isinstance(body, bytes) or len(body) > MAX_BODY:
            return
        # The head the sender writes (only its Date line differs next time).
        if framing is None:
            framing = frame(request, response, closes)
        if framing.keep_alive != (closes is None) or framing.chunked:
            return
        head = framing.head
        status_end = head.index(b"\r\n") + 2
        if not head.startswith(b"Date: ", status_end):
            return  # not the writer's shape: nothing to put the Date in
        date_end = head.index(b"\r\n", status_end) + 2
        content = b""
        if framing.send_body:
            data = body if isinstance(body, bytes) else _read_body(body)
            if data is None:
                return
            content = data
        answer = Answer(
            head[:status_end],
            head[date_end:],
            content,
            still_valid,
            request,
            response.status,
            closes,
        )
        self.forget(request_bytes)
        self._answers[request_bytes] = answer
        self._bytes += len(request_bytes) + answer.memory
        while self._answers and (len(self._answers) > MAX_ENTRIES or self._bytes > MAX_BYTES):
            key, evicted = self._answers.popitem(last=False)
            self._dropped(key, evicted)


def _read_body(body: FileBody) -> bytes | None:
    """The bytes of a file body, from the open file its headers were made from, or None
    when it has none or it changed since (the answer is then not kept)."""
    file = body.file
    if file is None or body.stamp is None or file.closed:
        return None
    fd = file.fileno()
    # pread leaves the file's position alone, for the sender that sends the same slice.
    data = os.pread(fd, body.length, body.offset)
    info = os.fstat(fd)
    if len(data) != body.length or (info.st_size, info.st_mtime_ns) != body.stamp:
        return None
    return data
