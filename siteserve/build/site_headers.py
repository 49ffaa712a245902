"""The site's own header rules (``_headers``, ``serve.json``) as rules of OUT's ``_headers``.

Live, ``siteserve.rules`` puts them on every answer whose URL they match, on top of
the server's headers (which already hold siteserve.toml's ``[headers]``): a name a
matching rule sets or removes replaces what the server sent, and the values of a
name that several rules set are joined, in the order of precedence (``_headers``,
then ``serve.json``). A host that reads ``_headers`` joins every rule that matches
too, so the site's rules are written as they are, after the build's own, and the
build's rules leave out, for each URL, every name a site rule decides there.

A rule is written only when reading it back gives the same rule; one that cannot
be written (a value with a line break or edge spaces, a name with a space) is
named in a warning instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from siteserve.build.host_rules import Served
from siteserve.config import Config
from siteserve.rules.headers_file import parse_headers
from siteserve.rules.model import HeaderRule


@dataclass(frozen=True, slots=True)
class SiteHeaders:
    """The site's header rules that ``_headers`` can carry, as its lines, and those it cannot."""

    rules: tuple[HeaderRule, ...] = ()
    lines: tuple[str, ...] = ()
    refused: tuple[HeaderRule, ...] = ()


def site_headers(config: Config) -> SiteHeaders:
    """The header rules live applies for ``config``'s site, in their order of precedence."""
    from siteserve.rules.load import has_rules, load_rules

    if not has_rules(config):
        return SiteHeaders()  # most sites: no rule file to read
    return written_rules(load_rules(config).headers)


def written_rules(rules: Iterable[HeaderRule]) -> SiteHeaders:
    kept: list[HeaderRule] = []
    lines: list[str] = []
    refused: list[HeaderRule] = []
    for rule in rules:
        if not rule.headers and not rule.remove:
            continue  # a serve.json rule whose every header was refused: nothing to say
        text = rule_lines(rule)
        if _reads_back(rule, text):
            kept.append(rule)
            lines += ["", *text]
        else:
            refused.append(rule)
    return SiteHeaders(tuple(kept), tuple(lines), tuple(refused))


def rule_lines(rule: HeaderRule) -> list[str]:
    """A rule in ``_headers`` syntax: its pattern, then ``! Name`` and ``Name: value`` lines.

    Removals come first, as live, where a rule's removals are applied before its own values.
    """
    pattern = rule.source.text.replace("**", "*")  # serve.json's glob: the hosts' splat
    return [
        pattern,
        *(f"  ! {name}" for name in rule.remove),
        *(f"  {name}: {value}" for name, value in rule.headers),
    ]


def _reads_back(rule: HeaderRule, lines: list[str]) -> bool:
    found = parse_headers("\n".join(lines) + "\n")
    if found.problems or len(found.headers) != 1:
        return False
    again = found.headers[0]
    return (
        again.source.regex.pattern == rule.source.regex.pattern
        and again.headers == rule.headers
        and again.remove == rule.remove
    )


def decided_names(rules: Iterable[HeaderRule], url: str) -> frozenset[str]:
    """The header names (lower case) that the rules matching ``url`` set or remove."""
    names: set[str] = set()
    for rule in rules:
        if rule.source.match(url) is not None:
            names.update(name.lower() for name in rule.remove)
            names.update(name.lower() for name, _ in rule.headers)
    return frozenset(names)


def without_decided(entries: Iterable[Served], rules: tuple[HeaderRule, ...]) -> list[Served]:
    """``entries`` without the headers a site rule replaces, split by URL where that differs
    (a rule for ``/about`` decides nothing for ``/about.html``)."""
    if not rules:
        return list(entries)
    result: list[Served] = []
    for entry in entries:
        groups: dict[frozenset[str], list[str]] = {}
        for url in entry.urls:
            groups.setdefault(decided_names(rules, url), []).append(url)
        if list(groups) == [frozenset()]:
            result.append(entry)
            continue
        for names, urls in groups.items():
            headers = tuple(item for item in entry.headers if item[0].lower() not in names)
            result.append(Served(entry.out, tuple(urls), headers))
    return result
