"""vercel ``serve.json`` (serve-handler): ``rewrites``, ``redirects``, ``headers`` and switches.

``source`` patterns are globs or path-to-regexp paths (``/app/**``, ``/user/:id``);
both become ``model`` patterns. ``redirects`` take ``type`` (301 when left out),
``rewrites`` are 200 rules, and ``cleanUrls``, ``trailingSlash`` and
``directoryListing`` (true or false) are kept as switches. A key that is not one
of these (``public``, ``unlisted``, ``symlinks``, ``etag``...) is reported.
"""

from __future__ import annotations

import json

from siteserve.rules.model import (
    HeaderRule,
    Problem,
    RuleSet,
    compile_pattern,
    pattern_is_valid,
)
from siteserve.rules.redirects_file import checked_rule
from siteserve.site.cache_policy import configurable

KNOWN = ("rewrites", "redirects", "headers", "cleanUrls", "trailingSlash", "directoryListing")


def parse_serve_json(text: str, file: str = "serve.json") -> RuleSet:
    rules = RuleSet(hidden={file})
    try:
        data = json.loads(text)
    except ValueError as error:
        rules.problems.append(Problem(file, getattr(error, "lineno", 1), "not valid JSON"))
        return rules
    if not isinstance(data, dict):
        rules.problems.append(Problem(file, 1, "not a JSON object"))
        return rules
    for key in data:
        if key not in KNOWN:
            rules.problems.append(Problem(file, _line(text, key), f"{key} is not supported"))
    for kind, status in (("redirects", None), ("rewrites", 200)):
        for item in _items(data, kind):
            _redirect(rules, text, file, kind, item, status)
    for item in _items(data, "headers"):
        _header(rules, text, file, item)
    for key in ("cleanUrls", "trailingSlash", "directoryListing"):
        value = data.get(key)
        if value is not None and not isinstance(value, bool):
            rules.problems.append(Problem(file, _line(text, key), f"{key} must be true or false"))
    rules.clean_urls = data.get("cleanUrls") is True
    trailing = data.get("trailingSlash")
    rules.trailing_slash = trailing if isinstance(trailing, bool) else None
    rules.directory_listing = data.get("directoryListing") is not False
    return rules


def _items(data: dict[str, object], key: str) -> list[dict[str, object]]:
    value = data.get(key, [])
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _line(text: str, needle: str) -> int:
    """The line of the first ``"needle"`` (json gives no positions for values)."""
    index = text.find(f'"{needle}"')
    return 1 if index < 0 else text.count("\n", 0, index) + 1


def _source(item: dict[str, object]) -> str | None:
    source = item.get("source")
    if not isinstance(source, str):
        return None
    source = source if source.startswith("/") else "/" + source
    return source if pattern_is_valid(source) else None


def _redirect(
    rules: RuleSet, text: str, file: str, kind: str, item: dict[str, object], status: int | None
) -> None:
    source, to = _source(item), item.get("destination")
    line = _line(text, str(item.get("source")))
    if source is None or not isinstance(to, str):
        rules.problems.append(Problem(file, line, f"{kind}: needs a source and a destination"))
        return
    code = item.get("type", 301) if status is None else status
    if not isinstance(code, int) or code not in (200, 301, 302, 303, 307, 308):
        rules.problems.append(Problem(file, line, f"{kind}: type {code!r} is not a redirect"))
        return
    rule = checked_rule(source, to, code, status == 200, (), f"{file}:{line}")
    if isinstance(rule, str):
        rules.problems.append(Problem(file, line, rule))
    else:
        rules.redirects.append(rule)


def _header(rules: RuleSet, text: str, file: str, item: dict[str, object]) -> None:
    source, values = _source(item), item.get("headers")
    line = _line(text, str(item.get("source")))
    if source is None or not isinstance(values, list):
        rules.problems.append(Problem(file, line, "headers: needs a source and headers"))
        return
    pairs = []
    for entry in values:
        if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
            rules.problems.append(Problem(file, line, "headers: each needs a key and a value"))
            continue
        name, value = str(entry["key"]), entry.get("value")
        if not configurable(name):
            rules.problems.append(Problem(file, line, f"{name} is the server's to set"))
        elif isinstance(value, str):
            pairs.append((name, value))
    rules.headers.append(HeaderRule(compile_pattern(source), tuple(pairs), (), f"{file}:{line}"))
