"""The ``_redirects`` file of Netlify and Cloudflare Pages, line by line.

One rule a line: ``FROM [QUERY...] TO [STATUS[!]]``, ``#`` starts a comment.
``QUERY`` items are ``name=value`` or ``name=:placeholder`` (Netlify); the status is
301 when left out; ``!`` forces the rule even when a file exists at ``FROM``.
Conditions on country, language or role (``Country=us``) are not understood:
they are reported, as is any other line this reader cannot take whole.
"""

from __future__ import annotations

from siteserve.rules.model import (
    STATUSES,
    Problem,
    RedirectRule,
    RuleSet,
    compile_pattern,
    is_absolute,
    pattern_is_valid,
)

_CONDITIONS = ("country=", "language=", "role=", "cookie=")


def parse_redirects(text: str, file: str = "_redirects") -> RuleSet:
    rules = RuleSet()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip() if raw.lstrip().startswith("#") else raw.strip()
        if not line:
            continue
        rule = _rule(line.split(), f"{file}:{number}")
        if isinstance(rule, str):
            rules.problems.append(Problem(file, number, rule))
        else:
            rules.redirects.append(rule)
    return rules


def _rule(tokens: list[str], origin: str) -> RedirectRule | str:
    if len(tokens) < 2:
        return "a rule needs a path and a destination"
    source, *rest = tokens
    if not pattern_is_valid(source):
        return f"{source!r} is not a path"
    query: list[tuple[str, str]] = []
    while rest and "=" in rest[0] and not rest[0].startswith(("/", "http")):
        name, _, value = rest.pop(0).partition("=")
        query.append((name, value))
    if not rest:
        return "a rule needs a destination"
    to, *tail = rest
    status, force = 301, False
    if tail:
        word = tail.pop(0)
        force = word.endswith("!")
        word = word.rstrip("!")
        if not word.isdigit() or int(word) not in STATUSES:
            return f"status {word!r} is not one of {sorted(STATUSES)}"
        status = int(word)
    if tail:
        if any(item.lower().startswith(_CONDITIONS) for item in tail):
            return "conditions (Country, Language, Role, Cookie) are not supported"
        return f"not understood: {' '.join(tail)}"
    if any(name.lower() + "=" in _CONDITIONS for name, _ in query):
        return "conditions (Country, Language, Role, Cookie) are not supported"
    return checked_rule(source, to, status, force, tuple(query), origin)


def checked_rule(
    source: str,
    to: str,
    status: int,
    force: bool,
    query: tuple[tuple[str, str], ...],
    origin: str,
) -> RedirectRule | str:
    """A rule from any format, or why it is refused (shared by every reader)."""
    if status not in STATUSES:
        return f"status {status} is not one of {sorted(STATUSES)}"
    if status in (200, 404) and is_absolute(to):
        return "a rewrite to another host (a proxy) is not supported: use --proxy"
    if not (to.startswith("/") or is_absolute(to)) or to.startswith(("//", "/\\")):
        return f"{to!r} is not a path on this site or an absolute URL"
    return RedirectRule(compile_pattern(source), to, status, force, query, origin)
