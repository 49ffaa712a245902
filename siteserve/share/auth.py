"""Who may come in: HTTP Basic passwords (RFC 7617) and share links, in front of everything.

One layer decides for every path, the reload socket included (the browser
sends the link's cookie and its cached password with the WebSocket handshake
too). A request is let in by a known user and password, by the share link's
cookie, or by the link's token in the query (answered with the cookie and a
redirect to the clean URL, ``siteserve.share.links``); it then carries the
rights of what let it in (``Request.read_only`` for ``ro``). The health path
is exempt (``siteserve.share.health``).

Every wrong answer is the same answer: a missing header, a malformed one, an
unknown user and a wrong password all get the same 401, byte for byte, and the
check does the same work for each (both digests compared with
``hmac.compare_digest`` against every known user, no early exit), so neither
the response nor its timing tells a guesser which part was wrong. Repeated
failures from one address are slowed down (``siteserve.share.slowdown``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer
from siteserve.share import links
from siteserve.share.credentials import READ_ONLY, READ_WRITE, Credential, Rights, digest
from siteserve.share.health import HEALTH_PATH
from siteserve.share.links import ShareLink
from siteserve.share.slowdown import FailureDelays
from siteserve.site.forms import parse_cookies

log = logging.getLogger("siteserve.share")

REALM = "siteserve"
#: RFC 7617 section 2.1: charset="UTF-8" tells the browser how to encode user and password.
CHALLENGE = f'Basic realm="{REALM}", charset="UTF-8"'

_UNAUTHORIZED_BODY = b"401 Unauthorized: this server needs a user name and password.\n"


def unauthorized() -> Response:
    """The one answer for every failed attempt (RFC 9110 section 11.6.1)."""
    headers = [
        ("WWW-Authenticate", CHALLENGE),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(401, headers, _UNAUTHORIZED_BODY)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """``Basic base64(user:password)`` -> (user, password); None for anything else."""
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":  # the scheme is case-insensitive (RFC 9110 section 11.1)
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


class Authenticator:
    """Checks a request's Authorization header against the known credentials."""

    def __init__(self, credentials: tuple[Credential, ...]) -> None:
        if not credentials:
            raise ValueError("at least one credential is needed")
        self._users = [(digest(c.user), c.password_digest, c.rights) for c in credentials]

    def allows(self, header: str | None) -> bool:
        return self.rights(header) is not None

    def rights(self, header: str | None) -> Rights | None:
        """The rights of the user the header names, when the password is right; else None."""
        parsed = parse_basic(header)
        valid = parsed is not None
        user, password = parsed if parsed is not None else ("", "")
        user_digest, password_digest = digest(user), digest(password)
        allowed = False
        rights: Rights = READ_ONLY
        for known_user, known_password, known_rights in self._users:
            # Both comparisons always run, for every user: no short-circuit to time.
            same_user = hmac.compare_digest(user_digest, known_user)
            same_password = hmac.compare_digest(password_digest, known_password)
            match = same_user & same_password
            allowed |= match
            rights = known_rights if match else rights
        return rights if valid & allowed else None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the credentials of one request come to."""

    #: What they allow; None: they let nobody in.
    rights: Rights | None
    #: Whether the request offered any (a password, the link's cookie, a token):
    #: only those count as attempts, so a browser's first, bare request is no failure.
    offered: bool
    #: The link's token was in the query: answer with the cookie and this clean query.
    clean_query: str | None = None


class AuthApp(Layer[App]):
    """Answers 401 unless the request carries a known password or the share link.

    The bound for request bodies follows: a request without credentials gets
    the ordinary ``limits.max_body`` even where an upload could be larger, so
    nobody can push a gigabyte at the server before being asked who they are.
    """

    def __init__(
        self,
        inner: App,
        credentials: tuple[Credential, ...] = (),
        *,
        link: ShareLink | None = None,
        delays: FailureDelays | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        super().__init__(inner)
        if not credentials and link is None:
            raise ValueError("a password or a share link is needed")
        self.authenticator = Authenticator(credentials) if credentials else None
        self.link = link
        self.delays = delays if delays is not None else FailureDelays()
        self._sleep = sleep
        self._ending: asyncio.TimerHandle | None = None
        if link is None:
            self._refused, self._ended = unauthorized(), unauthorized()
        else:
            challenges: tuple[str, ...] = (CHALLENGE,) if credentials else ()
            challenges += (links.CHALLENGE,)
            self._refused = links.unauthorized(links.link_page(ended=False), challenges)
            self._ended = links.unauthorized(links.link_page(ended=True), challenges)

    # -- App protocol ------------------------------------------------------------------

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.path == HEALTH_PATH:
            return self.inner.handle(request)  # exempt: see siteserve.share.health
        verdict = self.check(request)
        wait = 0.0
        if verdict.offered:
            address = request.client[0] if request.client else None
            wait = self.delays.attempt(address, succeeded=verdict.rights is not None)
        if wait > 0:
            return self._answer_after(wait, request, verdict)
        return self._answer(request, verdict)

    def body_limit(self, request: Request) -> int | None:
        verdict = self.check(request)
        if verdict.rights is None or verdict.clean_query is not None:
            return None  # answered 401 or with a redirect: max_body is plenty for that
        request.read_only = verdict.rights == READ_ONLY
        return self.inner.body_limit(request)

    async def startup(self) -> None:
        await self.inner.startup()
        link = self.link
        if link is not None and link.expires_at is not None:
            remaining = max(0.0, link.expires_at - link.clock())
            self._ending = asyncio.get_running_loop().call_later(remaining, _say_ended)

    async def shutdown(self) -> None:
        if self._ending is not None:
            self._ending.cancel()
        await self.inner.shutdown()

    # -- the check -----------------------------------------------------------------------

    def check(self, request: Request) -> Verdict:
        """Password, cookie and token of ``request``; records nothing (see ``handle``)."""
        granted: list[Rights] = []
        offered = False
        clean_query: str | None = None
        link = self.link
        if self.authenticator is not None:
            header = request.headers.get("authorization")
            if header is not None:
                offered = True
                rights = self.authenticator.rights(header)
                if rights is not None:
                    granted.append(rights)
        if link is not None:
            ended = link.expired()
            given = parse_cookies(request.headers.get("cookie")).get(link.cookie_name)
            if given is not None:
                right = link.cookie_matches(given)
                if right and not ended:
                    granted.append(link.rights)
                # The ended link's own cookie is no guess: a phone that kept it is not
                # slowed down for reloading.
                offered |= not (right and ended)
            tokens, rest = links.split_token(request.query)
            if tokens:
                # Each one compared: a repeated parameter cannot hide the link's token.
                right = sum(link.token_matches(token) for token in tokens) > 0
                if right and not ended:
                    granted.append(link.rights)
                    clean_query = rest
                offered |= not (right and ended)
        if not granted:
            return Verdict(None, offered)
        # Let in twice (a read-only user holding a read-write link): the larger rights.
        best: Rights = READ_WRITE if READ_WRITE in granted else READ_ONLY
        return Verdict(best, offered, clean_query)

    def _answer(self, request: Request, verdict: Verdict) -> Response | Awaitable[Response]:
        if verdict.rights is None:
            ended = self.link is not None and self.link.expired()
            model = self._ended if ended else self._refused
            # A fresh Response each time: layers outside may add headers to it.
            return Response(model.status, list(model.headers), model.body)
        if verdict.clean_query is not None and self.link is not None:
            return links.redirect_with_cookie(self.link, request, verdict.clean_query)
        request.read_only = verdict.rights == READ_ONLY
        return self.inner.handle(request)

    async def _answer_after(self, wait: float, request: Request, verdict: Verdict) -> Response:
        # Only this request waits: no lock, so every other client is answered meanwhile.
        await self._sleep(wait)
        answer = self._answer(request, verdict)
        return await answer if inspect.isawaitable(answer) else answer


def _say_ended() -> None:
    log.warning("the share link has ended (--expire): visitors need a new link")


def access_layer(app: App) -> AuthApp | None:
    """The password and share-link layer of a stack from ``build_app``, if it has one."""
    while isinstance(app, Layer):
        if isinstance(app, AuthApp):
            return app
        layer: Layer[App] = app
        app = layer.inner
    return None
