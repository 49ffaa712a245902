"""Read every rule file of a site folder, in the order of precedence.

Redirects: the first rule that matches wins, and they are tried in this order:
``[[redirects]]`` of siteserve.toml, ``_redirects``, ``serve.json``. Headers: every
rule that matches applies, in the same order (siteserve.toml's ``[headers]`` are
applied by the Site itself, below these), a later one winning for the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from siteserve.config import Config

if TYPE_CHECKING:
    from siteserve.rules.model import RuleSet

#: The rule files read from the site root, in this order. Their readers load only
#: for a site that has rules (``readers``): most sites have none.
RULE_FILES = ("_redirects", "_headers", "serve.json")


def readers() -> dict[str, Callable[[str, str], RuleSet]]:
    """Each of ``RULE_FILES`` and its reader."""
    from siteserve.rules.headers_file import parse_headers
    from siteserve.rules.redirects_file import parse_redirects
    from siteserve.rules.vercel import parse_serve_json

    return {
        "_redirects": parse_redirects,
        "_headers": parse_headers,
        "serve.json": parse_serve_json,
    }


def has_rules(config: Config) -> bool:
    """Whether the site has rules at start: a rule file in its root, or ``[[redirects]]``."""
    return bool(config.redirects) or any((config.root / name).is_file() for name in RULE_FILES)


def load_rules(config: Config) -> RuleSet:
    from siteserve.rules.model import RuleSet

    rules = RuleSet()
    rules.redirects += config.redirects
    for name, parse in readers().items():
        path = config.root / name
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue  # no such file (or not readable): no rules from it
        found = parse(text, name)
        if name == "serve.json":
            rules.clean_urls = found.clean_urls
            rules.trailing_slash = found.trailing_slash
            rules.directory_listing = found.directory_listing
        rules.extend(found)
    return rules


def summary(rules: RuleSet, config: Config) -> list[str]:
    """The start-up lines: how many rules were read, and each line not understood."""
    files = [name for name in RULE_FILES if (config.root / name).is_file()]
    if config.redirects:
        files.insert(0, "siteserve.toml")
    if not files:
        return []
    lines = [f"rules: {rules.count} read from {', '.join(files)}"]
    lines += [f"rules: not understood: {problem}" for problem in rules.problems]
    return lines
