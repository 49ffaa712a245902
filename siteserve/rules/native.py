"""``[[redirects]]`` in siteserve.toml: the native form, shaped as netlify.toml's.

Each table has ``from`` and ``to``, and may have ``status`` (301), ``force``
(false) and ``query`` (a table of name = value or ``":placeholder"``).
"""

from __future__ import annotations

from siteserve.options import ConfigError
from siteserve.rules.model import RedirectRule, pattern_is_valid
from siteserve.rules.redirects_file import checked_rule

_KEYS = frozenset({"from", "to", "status", "force", "query"})


def redirects_from(value: object, file: str = "siteserve.toml") -> tuple[RedirectRule, ...]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(f"{file}: redirects must be [[redirects]] tables")
    rules = []
    for number, item in enumerate(value, start=1):
        where = f"{file}: redirects #{number}"
        unknown = set(item) - _KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]}")
        source, to = item.get("from"), item.get("to")
        status, force = item.get("status", 301), item.get("force", False)
        query = item.get("query", {})
        if not isinstance(source, str) or not pattern_is_valid(source):
            raise ConfigError(f"{where}: from must be a path such as /old/*")
        if not isinstance(to, str):
            raise ConfigError(f"{where}: to must be a path or an absolute URL")
        if isinstance(status, bool) or not isinstance(status, int):
            raise ConfigError(f"{where}: status must be a whole number")
        if not isinstance(force, bool):
            raise ConfigError(f"{where}: force must be true or false")
        if not isinstance(query, dict) or not all(isinstance(v, str) for v in query.values()):
            raise ConfigError(f"{where}: query must be a table of name = value")
        rule = checked_rule(
            source, to, status, force, tuple(query.items()), f"{file}:redirects #{number}"
        )
        if isinstance(rule, str):
            raise ConfigError(f"{where}: {rule}")
        rules.append(rule)
    return tuple(rules)
