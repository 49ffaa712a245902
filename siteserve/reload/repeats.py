"""A reused render answered again through the reload layer, its work done once.

A render the Site keeps (``site.reuse``) comes back for every request of its URL as a
new ``Response`` around the very same body. What the reload layer makes of it (the
page graph's note of the files it was made from, the script put in) depends on that
body, the status, headers, sources and warnings around it, the URL, ``Referer`` and
``Host``, and the page graph as it stood: it is done for the first answer and kept
here. The next answer of the same render, to a request with the same URL, ``Referer``
and ``Host``, gets the injected copy, and only its serving time goes into the graph
(``PageGraph.served_again``: a tab's catch-up compares it with the change sets), while
the graph's epoch stands (``PageGraph.epoch``: a change set, a burst's start, or a
note dropped or replaced moves it). The script is the same in every answer of a page
(the socket's token is not in the page: ``reload.ws_token``), so a kept copy is what
injecting again would make.

Kept by the identity of the Site's body, bounded by entries and bytes; an entry holds
its body, so no other body can take its id while it is here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from siteserve import bounds
from siteserve.http.request import Request
from siteserve.http.response import Response

MAX_ENTRIES = bounds.INJECTED_ENTRIES
MAX_BYTES = bounds.INJECTED_BYTES


@dataclass(frozen=True, slots=True)
class _Kept:
    #: What the Site answered, and to what.
    body: bytes
    status: int
    headers: list[tuple[str, str]]
    sources: tuple[Path, ...]
    warnings: tuple[str, ...]
    path: str
    referer: str | None
    host: str
    #: The page graph's epoch when its note was made.
    epoch: int
    #: What the reload layer sent (the script in it).
    answer: Response

    @property
    def size(self) -> int:
        body = self.answer.body
        return len(self.body) + (len(body) if isinstance(body, bytes) else 0)


class PageRepeats:
    """The reload layer's answers to renders the Site answers again, by body identity."""

    def __init__(self, *, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self._kept: OrderedDict[int, _Kept] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._kept)

    def get(self, request: Request, response: Response, epoch: int) -> Response | None:
        """The answer sent for this render before, when nothing it depended on changed."""
        body = response.body
        kept = self._kept.get(id(body))
        if (
            kept is None
            or kept.body is not body
            or kept.epoch != epoch
            or kept.status != response.status
            or kept.path != request.path
            or kept.host != request.host
            or kept.sources != response.sources
            or kept.warnings != response.warnings
            or kept.headers != response.headers
            or kept.referer != request.headers.get("referer")
        ):
            return None
        self._kept.move_to_end(id(body))
        answer = kept.answer
        # A fresh Response and header list: layers outside may change theirs.
        return Response(
            answer.status,
            list(answer.headers),
            answer.body,
            None,
            answer.upgrade,
            answer.close,
            answer.sources,
        )

    def keep(self, request: Request, response: Response, answer: Response, epoch: int) -> None:
        """Keep ``answer``, what the reload layer made of ``response`` (to a GET or HEAD
        ``request``) with the graph at ``epoch``."""
        body = response.body
        if not isinstance(body, bytes) or not isinstance(answer.body, bytes):
            return
        kept = _Kept(
            body,
            response.status,
            list(response.headers),
            response.sources,
            response.warnings,
            request.path,
            request.headers.get("referer"),
            request.host,
            epoch,
            answer,
        )
        if kept.size > self._max_bytes // 4:
            return  # one page may not push all the others out
        self._drop(id(body))
        self._kept[id(body)] = kept
        self._bytes += kept.size
        while len(self._kept) > self._max_entries or self._bytes > self._max_bytes:
            _, evicted = self._kept.popitem(last=False)
            self._bytes -= evicted.size

    def clear(self) -> None:
        self._kept.clear()
        self._bytes = 0

    def _drop(self, key: int) -> None:
        old = self._kept.pop(key, None)
        if old is not None:
            self._bytes -= old.size
