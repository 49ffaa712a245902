"""HTTP Basic authentication (RFC 7617) in front of everything, the reload socket included.

Every wrong answer is the same answer: a missing header, a malformed one, an
unknown user and a wrong password all get the same 401, byte for byte, and the
check does the same work for each (both digests compared with
``hmac.compare_digest`` against every known user, no early exit), so neither
the response nor its timing tells a guesser which part was wrong.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable

from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App, Layer
from siteserve.share.credentials import Credential, digest
from siteserve.share.health import HEALTH_PATH

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
        self._users = [(digest(c.user), c.password_digest) for c in credentials]

    def allows(self, header: str | None) -> bool:
        parsed = parse_basic(header)
        valid = parsed is not None
        user, password = parsed if parsed is not None else ("", "")
        user_digest, password_digest = digest(user), digest(password)
        allowed = False
        for known_user, known_password in self._users:
            # Both comparisons always run, for every user: no short-circuit to time.
            same_user = hmac.compare_digest(user_digest, known_user)
            same_password = hmac.compare_digest(password_digest, known_password)
            allowed |= same_user & same_password
        return valid & allowed


class AuthApp(Layer[App]):
    """Answers 401 unless the request carries a known user and password.

    The bound for request bodies follows: a request without credentials gets
    the ordinary ``limits.max_body`` even where an upload could be larger, so
    nobody can push a gigabyte at the server before being asked who they are.
    """

    def __init__(self, inner: App, credentials: tuple[Credential, ...]) -> None:
        super().__init__(inner)
        self.authenticator = Authenticator(credentials)

    def handle(self, request: Request) -> Response | Awaitable[Response]:
        if request.path == HEALTH_PATH:
            return self.inner.handle(request)  # exempt: see siteserve.share.health
        if not self.authenticator.allows(request.headers.get("authorization")):
            return unauthorized()
        return self.inner.handle(request)

    def body_limit(self, request: Request) -> int | None:
        if not self.authenticator.allows(request.headers.get("authorization")):
            return None  # it will be answered 401: max_body is plenty for that
        return self.inner.body_limit(request)
