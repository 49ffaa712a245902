"""What a page sees: ``request``, ``params``, ``session``, ``response`` and the helpers.

``site``, ``data``, ``now``, ``url``, ``redirect`` and ``abort`` are the same for
every render and live in the Environment's globals (``site_globals``); the rest
is made per request (``page_context``). Everything here is read lazily: a page
that never looks at the form never parses it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, unquote, urlencode

from siteserve.config import Config
from siteserve.http import Headers, Request
from siteserve.http.location import safe_location
from siteserve.site.data_files import DataView
from siteserve.site.forms import (
    DEFAULT_FORM_LIMITS,
    FormLimits,
    MultiDict,
    TooManyFields,
    UploadedFile,
    media_type,
    parse_cookies,
    parse_form,
    parse_query,
)
from siteserve.site.jinja_env import mark_query, mark_volatile, note_input
from siteserve.site.sessions import Session

T = TypeVar("T")

#: Redirect codes a page may use (RFC 9110 section 15.4).
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
#: Header fields a page may not set: the writer owns framing and connection handling.
WRITER_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "date", "server", "keep-alive"}
)
# RFC 9110 section 5.1: a field name is a token.
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# RFC 6265 section 4.1.1 cookie-octet; anything else in a value is percent-encoded.
_COOKIE_SAFE = "!#$&'()*+-./:<=>?@[]^_`{|}~"


class PageAbort(Exception):
    """Raised by ``abort(code)``: the page answers with the error page for ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(f"abort({status})")
        self.status = status


class PageRedirect(Exception):
    """Raised by ``redirect(url, code)``: the page answers with a redirect instead."""

    def __init__(self, location: str, status: int) -> None:
        super().__init__(f"redirect({location!r}, {status})")
        self.location = location
        self.status = status


def abort(code: int) -> NoReturn:
    if not isinstance(code, int) or not 400 <= code <= 599:
        raise ValueError(f"abort() needs a status from 400 to 599, not {code!r}")
    raise PageAbort(code)


def redirect(location: str, code: int = 302) -> NoReturn:
    if code not in REDIRECT_CODES:
        raise ValueError(f"redirect() needs one of {sorted(REDIRECT_CODES)}, not {code!r}")
    raise PageRedirect(safe_location(_header_value(str(location))), code)


def now(utc: bool = False) -> datetime:
    """The current time, timezone-aware: local by default, UTC with ``now(utc=True)``."""
    mark_volatile("now")
    current = datetime.now(UTC)
    return current if utc else current.astimezone()


def url(path: str, **query: Any) -> str:
    """A link to a path of this site: ``url("blog/my post", page=2)`` -> ``/blog/my%20post?page=2``.

    Absolute URLs (``https://...``) and fragments pass through; what is already
    percent-encoded stays as it is.
    """
    if "://" in path or path.startswith(("#", "mailto:")):
        return path
    path, hash_mark, fragment = path.partition("#")
    link = quote(path if path.startswith("/") else "/" + path, safe="/%:@!$&'()*+,;=~")
    if query:
        link += "?" + urlencode(query, doseq=True)
    return link + hash_mark + fragment


def site_globals(config: Config, data: DataView) -> dict[str, Any]:
    return {
        "site": config.site,
        "data": data,
        "now": now,
        "url": url,
        "redirect": redirect,
        "abort": abort,
    }


def _header_value(value: str) -> str:
    # A CR or LF in a value would let a page split the response (RFC 9110 section 5.5).
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError("header values cannot contain CR, LF or NUL")
    return value


class PageRequest:
    """The request as a page reads it: ``request.args.q``, ``request.form.name``, ...

    Reading anything but ``path``, ``host`` and ``scheme`` (the URL a kept render
    is found by, see ``reuse``) and the query (``args``, ``query_string``: the
    render is then kept for its query only) marks it as one not to be reused.
    """

    def __init__(
        self, request: Request, body: bytes, form_limits: FormLimits = DEFAULT_FORM_LIMITS
    ) -> None:
        self._request = request
        self._body = body
        self._limits = form_limits
        self.scheme = request.scheme

    @property
    def body(self) -> bytes:
        mark_volatile("request.body")
        return self._body

    @property
    def method(self) -> str:
        mark_volatile("request.method")
        return self._request.method

    @property
    def headers(self) -> Headers:
        mark_volatile("request.headers")
        return self._request.headers

    @cached_property
    def path(self) -> str:
        """The path, percent-decoded (``/blog/caf%C3%A9`` -> ``/blog/café``)."""
        return unquote(self._request.path)

    @property
    def url(self) -> str:
        mark_volatile("request.url")  # it has the query
        return self._request.url

    @property
    def host(self) -> str:
        note_input("request.host")  # a build renders for one host: it says which
        return self._request.host

    @property
    def query_string(self) -> str:
        mark_query("request.args")
        return self._request.query

    @property
    def client(self) -> str | None:
        """The client's address (no port), or None when unknown."""
        mark_volatile("request.client")
        return self._request.client[0] if self._request.client else None

    @property
    def args(self) -> MultiDict[str]:
        mark_query("request.args")
        return self._args

    @cached_property
    def _args(self) -> MultiDict[str]:
        # Too many fields in the target: longer than we will interpret (RFC 9110 15.5.15).
        query = self._request.query
        return _or_bad_request(lambda: parse_query(query, self._limits.fields), too_many=414)

    @property
    def cookies(self) -> dict[str, str]:
        mark_volatile("request.cookies")
        return self.session_cookies

    @cached_property
    def session_cookies(self) -> dict[str, str]:
        """The cookies, for the server's own use (opening the session): no mark."""
        return parse_cookies(self._request.headers.get("cookie"))

    @cached_property
    def _form(self) -> tuple[MultiDict[str], MultiDict[UploadedFile]]:
        return _or_bad_request(
            lambda: parse_form(self._body, self._request.headers.get("content-type"), self._limits)
        )

    @property
    def form(self) -> MultiDict[str]:
        """Fields of a urlencoded or multipart body (empty for other bodies)."""
        mark_volatile("request.form")
        return self._form[0]

    @property
    def files(self) -> MultiDict[UploadedFile]:
        """Files of a multipart body: ``filename``, ``content_type`` and ``size`` of each."""
        mark_volatile("request.files")
        return self._form[1]

    @property
    def json(self) -> Any:
        """The body parsed as JSON when it says it is JSON; None otherwise."""
        mark_volatile("request.json")
        return self._json

    @cached_property
    def _json(self) -> Any:
        kind = media_type(self._request.headers.get("content-type"))
        if kind != "application/json" and not kind.endswith("+json"):
            return None
        # Not JSON, not UTF-8, a number of more digits than int() takes, or nested
        # deeper than the parser's recursion limit (RecursionError): all the client's.
        return _or_bad_request(lambda: json.loads(self._body))


def _or_bad_request(parse: Callable[[], T], *, too_many: int = 413) -> T:
    """``parse()``, or the page aborts: 400 for a body or query it cannot take, and
    ``too_many`` (413 for a body, RFC 9110 section 15.5.14) over the field limits."""
    try:
        return parse()
    except TooManyFields:
        raise PageAbort(too_many) from None
    except (ValueError, RecursionError):  # FormError is a ValueError
        raise PageAbort(400) from None


class PageResponse:
    """What a page may change about its response: status, headers, cookies.

    Jinja cannot assign attributes, so a template calls methods:
    ``{% do response.set_status(201) %}``, ``{% do response.set_header("X-A", "b") %}``
    (or ``response.headers.update({...})``), ``{% do response.set_cookie("theme", "dark") %}``.
    """

    def __init__(self) -> None:
        self.status = 200
        self.headers: dict[str, str] = {}
        self.cookies: list[str] = []
        #: A setter was called: the render is never answered again (``reuse``).
        self.changed = False

    def set_status(self, status: int) -> str:
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise ValueError(f"a page's status must be from 200 to 599, not {status!r}")
        self.changed = True
        self.status = status
        return ""

    def set_header(self, name: str, value: Any) -> str:
        self.changed = True
        self.headers[name] = str(value)
        return ""

    def set_cookie(
        self,
        name: str,
        value: Any = "",
        max_age: int | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: str | None = "Lax",
    ) -> str:
        """Add a Set-Cookie (RFC 6265 section 4.1); the value is percent-encoded as needed."""
        self.changed = True
        if not _TOKEN.match(name):
            raise ValueError(f"not a valid cookie name: {name!r}")
        parts = [f"{name}={quote(str(value), safe=_COOKIE_SAFE)}"]
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        parts.append(f"Path={_attribute(path)}")
        if domain:
            parts.append(f"Domain={_attribute(domain)}")
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite:
            if samesite.capitalize() not in ("Lax", "Strict", "None"):
                raise ValueError(f"samesite must be Lax, Strict or None, not {samesite!r}")
            parts.append(f"SameSite={samesite.capitalize()}")
        self.cookies.append("; ".join(parts))
        return ""

    def delete_cookie(self, name: str, path: str = "/", domain: str | None = None) -> str:
        return self.set_cookie(name, "", max_age=0, path=path, domain=domain, samesite=None)

    def header_list(self) -> list[tuple[str, str]]:
        """The page's own headers, checked: names are tokens, values single lines."""
        headers = []
        for name, value in self.headers.items():
            if not _TOKEN.match(name) or name.lower() in WRITER_HEADERS:
                raise ValueError(f"a page cannot set the header {name!r}")
            headers.append((name, _header_value(value)))
        headers.extend(("Set-Cookie", cookie) for cookie in self.cookies)
        return headers


def _attribute(value: str) -> str:
    if any(char in value for char in ";\r\n\0"):
        raise ValueError(f"not a valid cookie attribute: {value!r}")
    return value


def page_context(
    request: PageRequest, params: dict[str, str], session: Session, response: PageResponse
) -> dict[str, Any]:
    """The per-render variables, next to the Environment's ``site_globals``."""
    return {"request": request, "params": params, "session": session, "response": response}
