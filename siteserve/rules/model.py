"""The rules every rule file becomes: redirects and rewrites, header rules, and their patterns.

A path pattern is a URL path where ``:name`` stands for one segment and ``*``
for the rest of the path (the first ``*`` is ``:splat`` in a destination), as
Netlify and Cloudflare Pages write them; ``**`` is taken as ``*`` too (vercel's
globs). Patterns match the URL path as sent, still percent-encoded, so a
destination keeps the encoding the client used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

#: The statuses a redirect rule may answer (a 200 is a rewrite, a 404 a custom not-found).
STATUSES = frozenset({200, 301, 302, 303, 307, 308, 404})
_TOKEN = re.compile(r"\*\*?|:[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Problem:
    """A line of a rule file that was not understood (or a rule that was refused)."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class PathPattern:
    text: str
    regex: re.Pattern[str]

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)
        if found is None:
            return None
        return {name.removeprefix("p_"): value or "" for name, value in found.groupdict().items()}


def compile_pattern(text: str) -> PathPattern:
    """``/blog/:year/*`` -> a pattern whose groups are the placeholders and ``splat``."""
    parts: list[str] = []
    position = 0
    splat = False
    for token in _TOKEN.finditer(text):
        parts.append(re.escape(text[position : token.start()]))
        if token.group().startswith("*"):
            if splat:
                parts.append(".*")
            else:
                parts.append("(?P<p_splat>.*)")
                splat = True
        else:
            parts.append(f"(?P<p_{token.group()[1:]}>[^/]+)")
        position = token.end()
    parts.append(re.escape(text[position:]))
    pattern = "".join(parts)
    # "/a/" and "/a" are the same rule, as on the hosts; "/a/*" also matches "/a".
    if pattern.endswith("/(?P<p_splat>.*)"):
        pattern = pattern[: -len("/(?P<p_splat>.*)")] + "(?:/(?P<p_splat>.*))?"
    elif pattern.endswith("/") and len(pattern) > 1:
        pattern += "?"
    elif not pattern.endswith(".*"):
        pattern += "/?"
    return PathPattern(text, re.compile(pattern))


def fill(template: str, values: dict[str, str]) -> str:
    """A destination or header value with ``:name`` and ``:splat`` replaced by what matched."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group()), template)


def is_absolute(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def pattern_is_valid(text: str) -> bool:
    return text.startswith("/") and " " not in text


@dataclass(frozen=True, slots=True)
class RedirectRule:
    """``from`` -> ``to`` with a status; ``force`` applies it even when a file matches."""

    source: PathPattern
    to: str
    status: int = 301
    force: bool = False
    #: Query parameters that must be present: name -> literal value or ``:placeholder``.
    query: tuple[tuple[str, str], ...] = ()
    origin: str = ""

    def match(self, path: str, query: str) -> dict[str, str] | None:
        values = self.source.match(path)
        if values is None:
            return None
        if self.query:
            given = dict(parse_qsl(query, keep_blank_values=True))
            for name, expected in self.query:
                if name not in given:
                    return None
                if expected.startswith(":"):
                    values[expected[1:]] = given[name]
                elif given[name] != expected:
                    return None
        return values


@dataclass(frozen=True, slots=True)
class HeaderRule:
    """Headers for the URL paths ``source`` matches: set (``Name: value``) or removed."""

    source: PathPattern
    headers: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()
    origin: str = ""


@dataclass(slots=True)
class RuleSet:
    redirects: list[RedirectRule] = field(default_factory=list)
    headers: list[HeaderRule] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: serve.json's switches, when one was read (None: not said).
    clean_urls: bool = False
    trailing_slash: bool | None = None
    directory_listing: bool = True
    #: Files that hold rules and must not be served (serve.json has no ``_``).
    hidden: set[str] = field(default_factory=set)

    def extend(self, other: RuleSet) -> None:
        self.redirects += other.redirects
        self.headers += other.headers
        self.problems += other.problems
        self.hidden |= other.hidden

    @property
    def count(self) -> int:
        return len(self.redirects) + len(self.headers)
