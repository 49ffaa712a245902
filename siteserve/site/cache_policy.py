"""Cache-Control profiles, content-hashed names, and the site's own header rules.

Development (the default) answers ``no-cache`` on everything: a browser may store the
file but must revalidate before each use (RFC 9111 section 5.2.2.4), so a reload never
shows a stale file while a 304 keeps it cheap. ``--cache SECONDS`` is for sharing
over a slow link: ``public, max-age=SECONDS``, and a year plus ``immutable`` (RFC 8246)
for names that carry a hash of their content, since such a name never changes meaning.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Final

from siteserve.config import Config

DEVELOPMENT: Final = "no-cache"
#: One year: RFC 9111 section 5.2.2.1 suggests no more than that for "never expires".
IMMUTABLE: Final = "public, max-age=31536000, immutable"

# A name part that is a content hash, as bundlers write them:
# - hex of 8 or more digits (webpack/parcel/rollup ``[contenthash]``, esbuild, md5/sha
#   prefixes), with at least one digit and one letter, so a date like 20240115 or a
#   word like "deadbeef"/"facade" is not taken for a hash;
# - a base64url run of 6 to 12 (Vite/Rollup write 8, esbuild 8, others fewer) with
#   upper-case, lower-case and a digit, at least two of each letter case: "BH2k9x" and
#   "DhK4a9Zq" are hashes, while "Bold700", "Roboto400", "MyButton" or "v2" are not.
_HEX_HASH = re.compile(
    r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{8,64}"
    r"|(?=[0-9A-F]*[A-F])(?=[0-9A-F]*[0-9])[0-9A-F]{8,64}"
)
_BASE64_HASH = re.compile(
    r"(?=(?:[^A-Z]*[A-Z]){2})(?=(?:[^a-z]*[a-z]){2})(?=[^0-9]*[0-9])[A-Za-z0-9_]{6,12}"
)
_SEPARATORS = re.compile(r"[.-]")
# Vite and Rollup end a name with ``-`` and 8 characters of base64url (``index-BeJZfuej.js``,
# ``hero-CLDdwZDr.png``), which may themselves hold ``-`` or ``_``; esbuild with ``-`` and 8
# of upper-case base32 (``chunk-5ZQKC6GB.js``). Such a tail is a hash unless it reads as
# words someone wrote: ``MyButton``, ``Roboto40``, ``notes_v2``, ``IMPORTANT``.
_HASH_TAIL = re.compile(r"(?<=[.-])[A-Za-z0-9_-]{8}\Z")
_WORDS = re.compile(
    r"(?:[A-Z]?[a-z]+|[A-Z]+|[0-9]+)(?:[A-Z][a-z]+|[0-9]+)*(?:[_-](?:[A-Za-z][a-z]*[0-9]*|[0-9]+)?)*"
    r"|[0-9]+[A-Za-z]+|[A-Z]+[a-z]*[0-9]+[A-Za-z]*"
)

# Headers a site rule may not set: the writer owns framing and connection management
# (RFC 9112 sections 6 and 9), and the file handler owns the representation's metadata.
NOT_CONFIGURABLE: Final = frozenset(
    {
        "connection",
        "content-length",
        "transfer-encoding",
        "date",
        "server",
        "keep-alive",
        "upgrade",
        "trailer",
        "te",
        "content-encoding",
        "content-range",
        "etag",
        "last-modified",
    }
)


def has_content_hash(name: str) -> bool:
    """Whether a file name carries a content hash (``app.3f9a2c1b.js``, ``main-BH2k9x.css``).

    Only name parts after the first can be the hash: a stem alone ("Vue3Demo.js")
    is a name someone chose. A hex stem is the exception: ``0a1b2c3d4e.js`` is what
    a bundler names a chunk that has no other name.
    """
    base = name.rpartition("/")[2]
    stem, dot, _ = base.rpartition(".")
    if not dot or not stem:
        return False
    parts = _SEPARATORS.split(stem)
    if len(parts) == 1:
        return _HEX_HASH.fullmatch(stem) is not None
    if any(
        _HEX_HASH.fullmatch(part) is not None or _BASE64_HASH.fullmatch(part) is not None
        for part in parts[1:]
    ):
        return True
    tail = _HASH_TAIL.search(stem)
    return tail is not None and _is_bundler_tail(tail.group())


def _is_bundler_tail(tail: str) -> bool:
    """Whether the 8 characters that end a name (after ``-`` or ``.``) are a bundler's hash."""
    if tail[0] in "-_" or _WORDS.fullmatch(tail) is not None:
        return False
    # Random base64url almost always mixes cases; base32 is upper-case with digits 2-7.
    return (any(c.islower() for c in tail) and any(c.isupper() for c in tail)) or (
        any(c.isdigit() for c in tail) and any(c.isalpha() for c in tail)
    )


def profile(config: Config) -> str:
    """The Cache-Control value of the configured profile, for any name (a redirect, say)."""
    # Development (no cache_seconds): always revalidate, so a reload never shows a
    # stale file, yet an unchanged file still costs only a 304 (RFC 9111 5.2.2.4).
    if config.cache_seconds is None:
        return DEVELOPMENT
    return f"public, max-age={config.cache_seconds}"


def cache_control(config: Config, rel_path: str) -> str:
    """The Cache-Control value for a file response under the configured profile."""
    if config.cache_seconds is not None and has_content_hash(rel_path):
        return IMMUTABLE
    return profile(config)


def _matches(pattern: str, rel_path: str) -> bool:
    # A pattern without a slash matches the name in any folder ("*.js"), as in
    # .gitignore; one with a slash matches the path from the site root ("assets/*").
    # Case-sensitive everywhere, so a rule means the same on every OS.
    path = rel_path.lstrip("/")
    if "/" in pattern.strip("/"):
        return fnmatchcase(path, pattern.lstrip("/"))
    return fnmatchcase(path.rpartition("/")[2], pattern)


def extra_headers(config: Config, rel_path: str) -> list[tuple[str, str]]:
    """The ``[headers]`` rules of siteserve.toml that apply to ``rel_path``, in order.

    Later rules win over earlier ones for the same name; see :func:`apply_headers`.
    Headers the server must control (framing, validators) are left out.
    """
    found: list[tuple[str, str]] = []
    for pattern, values in config.headers:
        if _matches(pattern, rel_path):
            found.extend((name, value) for name, value in values if configurable(name))
    return found


#: Headers no site rule may remove or change: ``nosniff`` keeps a browser from running an
#: uploaded or mislabelled file as script (every answer carries it; see site.mime).
PROTECTED: Final = frozenset({"x-content-type-options"})


def configurable(name: str) -> bool:
    """Whether a site's rule (``[headers]``, ``_headers``, ``serve.json``) may set ``name``."""
    lowered = name.lower()
    return lowered not in NOT_CONFIGURABLE and lowered not in PROTECTED


def apply_headers(
    headers: list[tuple[str, str]], extra: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """``headers`` with each name in ``extra`` replaced by its last value there.

    An empty value removes the header, so a site can drop one of ours.
    """
    if not extra:
        return headers
    chosen: dict[str, tuple[str, str]] = {}
    for name, value in extra:
        chosen[name.lower()] = (name, value)
    result = [(name, value) for name, value in headers if name.lower() not in chosen]
    result.extend(item for item in chosen.values() if item[1] != "")
    return result
