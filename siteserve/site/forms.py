"""Query strings, form bodies and cookies, parsed into what a page reads.

The request body is already in memory (read on the event loop and bounded by
``limits.max_body``) by the time a page runs, so multipart is split here in a
few lines rather than with a streaming parser: nothing would be gained by
streaming a body that is already whole.

Within that size, a body of a million one-byte fields still costs a million
objects, so the number of fields and of multipart parts is bounded too
(``[limits]`` ``max_form_fields`` and ``max_multipart_parts``, see
``FormLimits``). More is ``TooManyFields``, which a page answers 413: the
content is well formed, only more than the server is willing to process
(RFC 9110 section 15.5.14), and the same form with fewer fields would do.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from email.utils import collapse_rfc2231_value
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, unquote

if TYPE_CHECKING:
    from siteserve.config import Limits

V = TypeVar("V")

#: More fields than this in one query or form is refused (a cheap denial of service otherwise).
MAX_FIELDS = 1000
#: More parts than this in one multipart body is refused.
MAX_PARTS = 1000


class FormError(ValueError):
    """A body or query that cannot be parsed; the page answers 400."""


class TooManyFields(FormError):
    """More fields or parts than ``FormLimits`` allow; the page answers 413 (414 for a query)."""


@dataclass(frozen=True, slots=True)
class FormLimits:
    """How many fields a query or form, and how many parts a multipart body, may have."""

    fields: int = MAX_FIELDS
    parts: int = MAX_PARTS

    @classmethod
    def of(cls, limits: Limits) -> FormLimits:
        return cls(int(limits.max_form_fields), int(limits.max_multipart_parts))


#: The bounds of the ``[limits]`` defaults.
DEFAULT_FORM_LIMITS = FormLimits()


class MultiDict(Mapping[str, V]):
    """A read-only mapping whose keys may repeat: ``d["tag"]`` is the first, ``getlist`` all.

    Templates read ``request.args.q`` or ``request.args["q"]``; a missing key is
    Jinja's Undefined (empty), never an error unless strict_undefined is on.
    """

    __slots__ = ("_first", "_pairs")

    def __init__(self, pairs: Iterable[tuple[str, V]] = ()) -> None:
        self._pairs = list(pairs)
        self._first: dict[str, V] = {}
        for key, value in self._pairs:
            self._first.setdefault(key, value)

    def __getitem__(self, key: str) -> V:
        return self._first[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._first)

    def __len__(self) -> int:
        return len(self._first)

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get would go through __getitem__ and an exception on a miss.
        return self._first.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._first

    def getlist(self, key: str) -> list[V]:
        return [value for name, value in self._pairs if name == key]

    def multi_items(self) -> list[tuple[str, V]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"MultiDict({self._pairs!r})"


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file sent in a multipart form: its name as the browser gave it, type and size."""

    filename: str
    content_type: str
    size: int


def parse_query(query: str, max_fields: int = MAX_FIELDS) -> MultiDict[str]:
    """``a=1&a=2&b=`` -> a MultiDict; blank values are kept (a checkbox with value="")."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, max_num_fields=max_fields)
    except ValueError:
        # Not strict: the only thing parse_qsl refuses is more fields than asked for.
        raise TooManyFields(f"more than {max_fields} fields") from None
    return MultiDict(pairs)


def parse_cookies(header: str | None) -> dict[str, str]:
    """The Cookie header (RFC 6265 section 5.4) as name -> value; the first of a name wins.

    Values are percent-decoded, the counterpart of ``PageResponse.set_cookie``,
    which percent-encodes what a cookie value may not carry.
    """
    cookies: dict[str, str] = {}
    if not header:
        return cookies
    for part in header.split(";"):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        cookies.setdefault(name, unquote(value))
    return cookies


def _param(header: str, name: str) -> str | None:
    """One parameter of a header value, parsed by the stdlib (quoting and RFC 2231 included)."""
    # Loaded with the first form or upload: a static site never needs email.message.
    from email.message import Message

    message = Message()
    message["content-type"] = header
    value = message.get_param(name)
    if value is None:
        return None
    return collapse_rfc2231_value(value)


def media_type(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def parse_form(
    body: bytes, content_type: str | None, limits: FormLimits = DEFAULT_FORM_LIMITS
) -> tuple[MultiDict[str], MultiDict[UploadedFile]]:
    """Fields and files of a urlencoded or multipart body; other bodies have none."""
    kind = media_type(content_type)
    if kind == "application/x-www-form-urlencoded":
        return parse_query(body.decode("utf-8", "replace"), limits.fields), MultiDict()
    if kind == "multipart/form-data" and content_type is not None:
        boundary = _param(content_type, "boundary")
        if not boundary:
            raise FormError("multipart body without a boundary")
        try:
            encoded = boundary.encode("latin-1")
        except UnicodeEncodeError:
            raise FormError("multipart boundary is not latin-1") from None
        return parse_multipart(body, encoded, limits)
    return MultiDict(), MultiDict()


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n"):
        name, sep, value = line.partition(b":")
        if sep:
            # Browsers send non-ASCII file names as raw UTF-8 (RFC 7578 section 4.2).
            text = value.strip().decode("utf-8", "replace")
            headers[name.strip().lower().decode("latin-1")] = text
    return headers


def parse_multipart(
    body: bytes, boundary: bytes, limits: FormLimits = DEFAULT_FORM_LIMITS
) -> tuple[MultiDict[str], MultiDict[UploadedFile]]:
    """Split a multipart/form-data body (RFC 7578, framing of RFC 2046 section 5.1.1)."""
    delimiter = b"--" + boundary
    fields: list[tuple[str, str]] = []
    files: list[tuple[str, UploadedFile]] = []
    start = body.find(delimiter)
    if start < 0:
        raise FormError("multipart body without its boundary")
    position = start + len(delimiter)
    parts = 0
    while not body.startswith(b"--", position):
        parts += 1  # every part counts, a nameless one too
        if parts > limits.parts:
            raise TooManyFields(f"more than {limits.parts} multipart parts")
        # The rest of the delimiter line may carry transport padding before its CRLF.
        line_end = body.find(b"\r\n", position)
        end = body.find(b"\r\n" + delimiter, line_end)
        if line_end < 0 or end < 0:
            raise FormError("multipart body is cut short")
        part = body[line_end + 2 : end]
        head, sep, content = part.partition(b"\r\n\r\n")
        if not sep:  # a part with no header lines starts with the blank line itself
            if not part.startswith(b"\r\n"):
                raise FormError("multipart part without a blank line after its headers")
            head, content = b"", part[2:]
        headers = _part_headers(head)
        disposition = headers.get("content-disposition", "")
        name = _param(disposition, "name")
        filename = _param(disposition, "filename")
        if name is not None:
            if filename is not None:
                # Old browsers sent the whole client path; keep only the last segment.
                base = filename.replace("\\", "/").rpartition("/")[2]
                kind = headers.get("content-type", "application/octet-stream")
                files.append((name, UploadedFile(base, kind, len(content))))
            else:
                if len(fields) >= limits.fields:
                    raise TooManyFields(f"more than {limits.fields} form fields")
                fields.append((name, content.decode("utf-8", "replace")))
        position = end + 2 + len(delimiter)
    return MultiDict(fields), MultiDict(files)
