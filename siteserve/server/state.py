"""What every connection of one server shares: the app, the limits, the log."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from siteserve.config import Limits
from siteserve.http.limits import ParserLimits
from siteserve.layers import App
from siteserve.server.answers import AnswerCache

if TYPE_CHECKING:
    from siteserve.server.protocol import HttpConnection


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One answered request, for the request log."""

    method: str
    path: str
    status: int
    size: int
    duration_ms: float
    client: str


AccessLog = Callable[[AccessRecord], None]


@dataclass(slots=True)
class ServerState:
    app: App
    limits: Limits
    loop: asyncio.AbstractEventLoop
    scheme: str = "http"
    access_log: AccessLog | None = None
    connections: set[HttpConnection] = field(default_factory=set)
    shutting_down: bool = False
    #: Responses cut short because the client went away (normal: a closed tab, a
    #: cancelled download); counted, never logged as errors.
    disconnects: int = 0
    #: Resolved when the last connection closes during shutdown.
    drained: asyncio.Future[None] = field(init=False)
    #: ``limits`` as the request parser takes them, built once for every connection.
    parser_limits: ParserLimits = field(init=False)
    #: Whole answers kept for requests that repeat byte for byte (``answers``); None
    #: when a layer of the app does not allow it (asked once, at start).
    answers: AnswerCache | None = field(init=False)

    def __post_init__(self) -> None:
        self.drained = self.loop.create_future()
        self.parser_limits = self.limits.parser_limits()
        self.answers = AnswerCache() if self.app.reusable_answers() else None
