"""The ``_headers`` file of Netlify and Cloudflare Pages.

A path pattern at the start of a line, then its headers on the lines below,
indented: ``Name: value`` sets one (a name given twice, or by two rules, is
joined with ", " as Netlify does), ``! Name`` removes one (Cloudflare Pages).
``#`` starts a comment.
"""

from __future__ import annotations

from siteserve.rules.model import HeaderRule, Problem, RuleSet, compile_pattern, pattern_is_valid
from siteserve.site.cache_policy import configurable


def parse_headers(text: str, file: str = "_headers") -> RuleSet:
    rules = RuleSet()
    source: str | None = None
    start = 0
    headers: list[tuple[str, str]] = []
    remove: list[str] = []

    def close() -> None:
        if source is not None:
            rules.headers.append(
                HeaderRule(
                    compile_pattern(source), tuple(headers), tuple(remove), f"{file}:{start}"
                )
            )

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not raw[0].isspace():
            close()
            source, start, headers, remove = None, number, [], []
            if pattern_is_valid(line):
                source = line
            else:
                rules.problems.append(Problem(file, number, f"{line!r} is not a path"))
            continue
        if source is None:
            if start == 0:
                rules.problems.append(Problem(file, number, "a header before any path"))
            continue  # under a path that was refused: reported once, there
        if line.startswith("!"):
            name = line[1:].strip()
            if not name or not configurable(name):
                rules.problems.append(Problem(file, number, f"{name!r} cannot be removed"))
            else:
                remove.append(name)
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name or " " in name:
            rules.problems.append(Problem(file, number, "not a 'Name: value' header"))
        elif not configurable(name):
            rules.problems.append(Problem(file, number, f"{name} is the server's to set"))
        else:
            headers.append((name, value))
    close()
    return rules
