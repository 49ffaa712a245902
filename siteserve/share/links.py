"""Share links: a URL with a random token, for a phone that would otherwise type a password.

``--share`` (or ``--share-link`` alone) makes one link per run:
``http://192.168.1.4:8000/?token=TOKEN``, with 128 random bits
(``secrets.token_urlsafe``), printed in the banner and put in the QR code.

The token rides in the query (``?token=``) rather than in a path of ours
(``/__siteserve/link/TOKEN``) so that any address of the site can be shared,
not only its front page (``/photos/2024/?token=...``), and the visitor lands
where the link points. The first visit with it gets a cookie and a
``303 See Other`` to the same URL without the token, so the token leaves
the address bar (and the history, the bookmarks, and every ``Referer``
a page of the site would send). A site whose own pages read a ``token``
parameter still gets it: a visitor already let in keeps any ``token`` that
is not the link's.

The cookie is ``HttpOnly`` (no script of the site reads it), ``SameSite=Lax``
(sent when a visitor follows a link to the site, not with another site's
requests), ``Secure`` under TLS, and lives until the link ends. Its value is
derived from the token (an HMAC), not the token itself, and its name carries
a short digest of the token too, so two siteserve on one machine (cookies do
not care about ports) never overwrite or misread each other's.

``--expire 30m`` ends the link, and every cookie it gave, at a fixed time:
the server refuses them after it, whatever the browser still keeps.
Tokens and cookies are compared with ``hmac.compare_digest``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from siteserve.http.location import safe_location
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.share.credentials import Rights
from siteserve.site import assets

#: The query parameter that carries the token.
TOKEN_PARAMETER = "token"
#: Random bytes in a token: 128 bits.
TOKEN_BYTES = 16
COOKIE_PREFIX = "siteserve_link_"
#: A scheme of our own for the challenge a 401 must carry (RFC 9110 section 11.6.1);
#: browsers do not know it, so they show the page instead of a password prompt.
CHALLENGE = 'ShareLink realm="siteserve"'


@dataclass(frozen=True, slots=True)
class ShareLink:
    """One run's link: its token, what it allows, and when it ends (wall-clock seconds)."""

    token: str
    rights: Rights
    #: ``time.time()`` at which the link and its cookies stop working; None: never.
    expires_at: float | None = None
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def new(
        cls,
        rights: Rights,
        *,
        lifetime: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> ShareLink:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        expires_at = None if lifetime is None else clock() + lifetime
        return cls(token, rights, expires_at, clock)

    @property
    def cookie_name(self) -> str:
        short = hashlib.sha256(self.token.encode("ascii")).hexdigest()[:8]
        return COOKIE_PREFIX + short

    @property
    def cookie_value(self) -> str:
        mac = hmac.new(self.token.encode("ascii"), b"siteserve share-link cookie", "sha256")
        return mac.hexdigest()

    def url(self, base: str) -> str:
        """``base`` (``http://host:port/``) with the token."""
        return f"{base}?{TOKEN_PARAMETER}={self.token}"

    def expired(self) -> bool:
        return self.expires_at is not None and self.clock() >= self.expires_at

    def ends_text(self) -> str | None:
        """When the link ends, in local time (``14:30``, or ``Mon 3 Mar 14:30`` after today)."""
        if self.expires_at is None:
            return None
        ends = datetime.fromtimestamp(self.expires_at).astimezone()
        today = datetime.fromtimestamp(self.clock()).astimezone().date()
        if ends.date() == today:
            return ends.strftime("%H:%M")
        return f"{ends:%a} {ends.day} {ends:%b %H:%M}"

    # -- checking a request --------------------------------------------------------------

    # Whether a value is the link's, ended or not (``expired`` says which): compared in
    # constant time, so how long it takes says nothing about how much of it was right.

    def token_matches(self, given: str) -> bool:
        return hmac.compare_digest(given.encode("utf-8", "replace"), self.token.encode("ascii"))

    def cookie_matches(self, given: str) -> bool:
        expected = self.cookie_value.encode("ascii")
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected)

    def set_cookie(self, *, secure: bool) -> str:
        """The Set-Cookie value (RFC 6265 section 4.1) given with the redirect."""
        parts = [f"{self.cookie_name}={self.cookie_value}", "Path=/"]
        if self.expires_at is not None:
            parts.append(f"Max-Age={max(0, int(self.expires_at - self.clock()))}")
        parts += ["HttpOnly", "SameSite=Lax"]
        if secure:
            parts.append("Secure")
        return "; ".join(parts)


def split_token(query: str) -> tuple[list[str], str]:
    """The ``token`` values of a query string, and the query without them (order kept)."""
    if TOKEN_PARAMETER not in query:
        return [], query
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=1000)
    except ValueError:
        return [], query
    tokens = [value for name, value in pairs if name == TOKEN_PARAMETER]
    rest = [(name, value) for name, value in pairs if name != TOKEN_PARAMETER]
    return tokens, urlencode(rest)


def clean_location(path: str, rest_query: str) -> str:
    """The URL the token is taken off, as a path of this server (never ``//host``)."""
    # "//evil.example/?token=..." must not redirect to another host (RFC 3986 section
    # 4.2: a leading "//" starts an authority); one leading slash is kept.
    location = safe_location(path)
    return location + ("?" + rest_query if rest_query else "")


def redirect_with_cookie(link: ShareLink, request: Request, rest_query: str) -> Response:
    """``303 See Other`` to the clean URL, with the link's cookie (RFC 9110 section 15.4.4)."""
    headers = [
        ("Location", clean_location(request.path, rest_query)),
        ("Set-Cookie", link.set_cookie(secure=request.scheme == "https")),
        ("Cache-Control", "no-store"),
        # The redirect is never a document, so nothing sends its URL as a Referer; and
        # should a client show it, it says nothing more to the next site.
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(303, headers, b"")


_ASK = "This folder is shared with a link. Scan its QR code again, or ask for the link."
_ENDED = "This share link has ended. Ask whoever shared the folder for a new one."


def link_page(*, ended: bool) -> bytes:
    """The 401 page a visitor without the link (or with an ended one) sees."""
    return assets.render(
        "error.html", status=401, reason="Unauthorized", message=_ENDED if ended else _ASK
    )


def unauthorized(body: bytes, challenges: tuple[str, ...]) -> Response:
    headers = [("WWW-Authenticate", challenge) for challenge in challenges]
    headers += [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ]
    return Response(401, headers, body)
