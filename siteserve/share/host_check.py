"""The host check, the outermost layer: a request is served only when sent to a name of ours.

This is what stops DNS rebinding (``siteserve.hosts`` has the rule and the
why): files, pages, listings, zips, uploads and the reload socket all sit
inside it. Both names a request may carry are checked: its ``Host``, and the
authority of an absolute-form target (``GET http://evil.example/ HTTP/1.1``),
which RFC 9112 section 3.2.2 makes the one that counts.

Choices made here:

- A name that is not ours gets **403** (RFC 9110 section 15.5.4: understood,
  and refused), not 421. 421 Misdirected Request (15.5.20) is meant for a
  client that reused a connection for an origin it was not made for, and a
  client may repeat the request on a new connection, which Chromium does: the
  same refused request twice, for nothing. A malformed ``Host`` is a 400
  (RFC 9112 section 3.2).
- The refusal says which option allows the name, is never cached, and closes
  a connection whose body is still coming (an upload is not read only to be
  dropped).
- The terminal gets one line per refused name, then at most one a minute for
  it, and no more than a few lines a minute in all: a page that floods us with
  requests does not flood the terminal.
- ``/__siteserve/health`` answers whatever the name: container and load
  balancer probes use whatever name they have (a service name, a node name),
  a probe refused with 403 restarts a healthy container, and the answer is a
  fixed ``{"status":"ok"}`` that tells a rebinding page nothing it could not
  learn from whether the port answers at all.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from siteserve import bounds
from siteserve.hosts import AllowedHosts, Authority, parse_authority
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.http.writer import text_response
from siteserve.layers import App, Layer
from siteserve.origins import shown
from siteserve.share.health import HEALTH_PATH

log = logging.getLogger("siteserve.hosts")

#: Host values remembered with their verdict (a bound: clients choose the keys).
VERDICTS = bounds.HOST_VERDICTS
#: A refused name is logged again at most this often, in seconds.
QUIET_SECONDS = 60.0
#: ... and no more than this many lines a minute are logged for all names together.
LINES_PER_MINUTE = 10

_FINE, _BAD, _FOREIGN = 0, 400, 403


class HostCheck(Layer[App]):
    """Refuses requests whose ``Host`` (or absolute-form authority) is not one of ``hosts``."""

    def __init__(
        self,
        inner: App,
        hosts: AllowedHosts,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner)
        self.hosts = hosts
        self._verdicts: dict[str | None, int] = {}
        self._said = RefusalLog(clock)

    def reusable_answers(self) -> bool:
        # The verdict is the Host's (part of the request's bytes) and never changes.
        return self.inner.reusable_answers()

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        host = request.headers.get("host")
        # The usual case in one look-up: a Host seen before and found ours, origin-form.
        if self._verdicts.get(host) == _FINE and request.target.startswith("/"):
            return self.inner.handle(request)
        status = _FINE
        if host is not None:
            status = self._verdicts.get(host, -1)
            if status < 0:
                status = self._judge(host)
        name = host
        if status == _FINE and request.target[:1] not in ("/", "*"):
            # Absolute-form: the target's authority names the host (RFC 9112 section 3.2.2).
            name = _authority_text(request.target)
            status = self._verdict(parse_authority(name))
        if status == _FINE or (request.path == HEALTH_PATH and request.method in ("GET", "HEAD")):
            return self.inner.handle(request)
        return self._refuse(name or "", status, request)

    def _judge(self, host: str) -> int:
        if len(self._verdicts) >= VERDICTS:
            self._verdicts.clear()
        status = self._verdicts[host] = self._verdict(parse_authority(host))
        return status

    def _verdict(self, authority: Authority | None) -> int:
        if authority is None or not authority.host:
            return _BAD
        return _FINE if self.hosts.allows(authority.host) else _FOREIGN

    def _refuse(self, name: str, status: int, request: Request) -> Response:
        # A body still on its way is not read only to be dropped: the connection closes.
        close = not request.body.complete
        if status == _BAD:
            return text_response(400, f"{shown(name)!r} is not a host name", close=close)
        authority = parse_authority(name)
        host = shown(authority.host if authority is not None else name)
        self._said.refused(host)
        message = (
            f"this server does not answer to the name {host}. If that is a name you gave it"
            f" (a tunnel, a reverse proxy, a container), start it with --allowed-host {host}"
            f' or add allowed_hosts = ["{host}"] to the [server] table of siteserve.toml.'
        )
        return text_response(403, message, close=close)


class RefusalLog:
    """One terminal line per refused name, then quiet: per name, and for all names at once."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, names: int = bounds.REFUSED_NAMES
    ) -> None:
        self._clock = clock
        self._names = names
        self._last: OrderedDict[str, float] = OrderedDict()
        self._window = -QUIET_SECONDS
        self._lines = 0
        self._held = 0

    def refused(self, host: str) -> bool:
        """Log the refusal of ``host`` unless it is too soon; answer whether a line was written."""
        now = self._clock()
        last = self._last.get(host)
        if now - self._window >= QUIET_SECONDS:
            self._window, self._lines = now, 0
        if (last is not None and now - last < QUIET_SECONDS) or self._lines >= LINES_PER_MINUTE:
            self._held += 1
            return False
        self._last[host] = now
        self._last.move_to_end(host)
        if len(self._last) > self._names:
            self._last.popitem(last=False)
        self._lines += 1
        held, self._held = self._held, 0
        more = f"; {held} more refused requests not shown" if held else ""
        log.warning(
            "refused a request for host %s: not a name of this server"
            " (--allowed-host %s allows it)%s",
            host,
            host,
            more,
        )
        return True


def _authority_text(target: str) -> str:
    rest = target.partition("://")[2]
    end = len(rest)
    for mark in "/?#":
        found = rest.find(mark)
        if 0 <= found < end:
            end = found
    return rest[:end]
