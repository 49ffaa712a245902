"""Writing the hosts' files for what a finished crawl put in the output.

``_headers`` and ``_redirects`` (Netlify, Cloudflare Pages), each with the site's
own rules, and an empty ``.nojekyll``: GitHub Pages, when it publishes a branch,
runs Jekyll first, which drops every name starting with ``_``
(``__siteserve/highlight.css``) unless that file is there.
"""

from __future__ import annotations

from collections.abc import Iterable

from siteserve.build.crawl import NOT_FOUND_KEY, Crawl
from siteserve.build.host_rules import (
    CLOUDFLARE_HEADER_RULES,
    CLOUDFLARE_REDIRECTS,
    HEADERS_FILE,
    NOSNIFF,
    REDIRECTS_FILE,
    Redirect,
    Served,
    file_urls,
    header_rules,
    headers_text,
    page_headers,
    redirects_text,
    removals,
    static_headers,
)
from siteserve.build.jobs import NOT_FOUND_PAGE
from siteserve.build.manifest import Manifest
from siteserve.build.output import OutputFolder
from siteserve.build.report import BuildReport
from siteserve.build.site_headers import site_headers, without_decided
from siteserve.config import Config
from siteserve.rules.model import HeaderRule
from siteserve.site.cache_policy import extra_headers
from siteserve.site.names import strip_template_suffix
from siteserve.site.spa import SpaFallback

NO_JEKYLL = ".nojekyll"


def served_files(config: Config, crawl: Crawl) -> list[Served]:
    """Every file of the output with the URLs a host answers with it and its headers."""
    pages: dict[str, Served] = {}
    for url, record in crawl.visits.items():
        if record.out is None or record.kind == "file":
            continue
        if url == NOT_FOUND_KEY:
            pages[record.out] = Served(record.out, ("/" + NOT_FOUND_PAGE,), (NOSNIFF,))
        elif record.location is not None:  # a redirect() page's little HTML file
            urls = tuple(dict.fromkeys((url, *file_urls(record.out))))
            pages[record.out] = Served(record.out, urls, (NOSNIFF,))
        else:
            urls = tuple(dict.fromkeys((url, *file_urls(record.out))))
            headers = page_headers(record.headers) + page_removals(config, record.template)
            pages[record.out] = Served(record.out, urls, headers)
    served = list(pages.values())
    siblings = (".gz", ".br")
    for rel in crawl.files:
        if rel in pages or rel == NO_JEKYLL or (rel.endswith(siblings) and rel[:-3] in crawl.files):
            continue
        served.append(Served(rel, file_urls(rel), static_headers(config, rel)))
    return sorted(served, key=lambda entry: entry.out)


def page_removals(config: Config, template: str | None) -> tuple[tuple[str, str], ...]:
    """What ``[headers]`` removes from a page live (matched by the name it is served as)."""
    if not config.headers or template is None:
        return ()
    folder, _, name = template.rpartition("/")
    served = strip_template_suffix(name) or name
    return removals(extra_headers(config, f"{folder}/{served}" if folder else served))


def page_redirects(crawl: Crawl) -> list[Redirect]:
    redirects = []
    for url, record in crawl.visits.items():
        if record.kind == "page" and record.location is not None and record.out is not None:
            sources = tuple(dict.fromkeys((url, *file_urls(record.out))))
            redirects.append(Redirect(sources, record.location, record.status))
    return redirects


def spa_fallbacks(config: Config, crawl: Crawl) -> list[Redirect]:
    """The history fallback of ``[spa]`` as rewrite rules: ``/app/* /app/index.html 200``.

    The target is the file the entry was written as (``--layout folder`` writes
    ``app.html.jinja`` as ``app/index.html``); the longest prefix comes first, as
    live, where ``/admin/`` wins over ``/`` for ``/admin/users``.
    """
    fallbacks = []
    for prefix, entry in SpaFallback(config.spa).entries:
        target = entry
        source = crawl.static_urls.get(entry)
        record = crawl.visits.get(entry)
        if record is not None and record.kind == "alias" and record.location is not None:
            record = crawl.visits.get(record.location)  # /app/index.html -> /app/
        if source is not None:
            target = file_urls(source.rel)[0]
        elif record is not None and record.out is not None and 200 <= record.status < 300:
            target = file_urls(record.out)[0]
        fallbacks.append(Redirect((prefix + "*",), target, 200))
    return fallbacks


def hidden_rule_files(config: Config) -> set[str]:
    """The site's rule files that the live server reads and does not serve (``serve.json``)."""
    from siteserve.rules.load import has_rules, load_rules

    return set(load_rules(config).hidden) if has_rules(config) else set()


def site_redirects(config: Config) -> list[str]:
    """The site's own redirect rules (what ``siteserve.rules`` applies live, in its order of
    precedence) as ``_redirects`` lines: from, query conditions, to, status (``!``: forced)."""
    from siteserve.rules.load import has_rules, load_rules

    if not has_rules(config):
        return []  # most sites: no rule file to read
    lines = []
    for rule in load_rules(config).redirects:
        conditions = [f"{name}={value}" for name, value in rule.query]
        status = f"{rule.status}{'!' if rule.force else ''}"
        source = rule.source.text.replace("**", "*")  # serve.json's glob: Netlify's splat
        lines.append(" ".join([source, *conditions, rule.to, status]))
    return lines


RULE_FILES = (NO_JEKYLL, HEADERS_FILE, REDIRECTS_FILE)


def write_host_rules(
    config: Config, crawl: Crawl, output: OutputFolder, report: BuildReport
) -> None:
    crawl.files[NO_JEKYLL], _ = output.write(NO_JEKYLL, b"")
    site_rules = site_headers(config)
    refused_rule_warnings(site_rules.refused, report)
    rules = header_rules(without_decided(served_files(config, crawl), site_rules.rules))
    if rules or site_rules.lines:
        text = headers_text(rules, site_rules.lines)
        state, _ = output.write(HEADERS_FILE, text.encode())
        crawl.files[HEADERS_FILE] = state
    redirects = page_redirects(crawl)
    fallbacks = spa_fallbacks(config, crawl)
    site = site_redirects(config)
    if redirects or fallbacks or site:
        text = redirects_text(redirects, fallbacks, site)
        state, _ = output.write(REDIRECTS_FILE, text.encode())
        crawl.files[REDIRECTS_FILE] = state
    rule_notes(crawl, output, report)


def refused_rule_warnings(refused: Iterable[HeaderRule], report: BuildReport) -> None:
    for rule in refused:
        report.warn(
            rule.origin,
            f"header rule {rule.source.text} cannot be written in {HEADERS_FILE}"
            " (a name or value it cannot hold); hosts will not apply it",
        )


def keep_host_rules(
    config: Config, crawl: Crawl, output: OutputFolder, previous: Manifest, report: BuildReport
) -> bool:
    """A build that changed nothing keeps the rule files of the last one, as they are.

    False (write them again) when one of them is not the file the last build wrote.
    The warnings about the site's rules are said again, as a build that wrote them says
    them (a compiler that skips an unchanged unit replays its warnings): they still hold,
    and ``--strict`` must fail the same on both builds.
    """
    kept = {}
    for name in RULE_FILES:
        recorded = previous.files.get(name)
        state = output.state(name)
        if recorded is None and name != NO_JEKYLL:
            continue
        if state is None or (state.size, state.mtime_ns) != recorded:
            return False
        kept[name] = state
    crawl.files.update(kept)
    refused_rule_warnings(site_headers(config).refused, report)
    rule_notes(crawl, output, report)
    return True


def rule_notes(crawl: Crawl, output: OutputFolder, report: BuildReport) -> None:
    """What the summary says about the rule files and the not-found page."""
    for name, limit in (
        (HEADERS_FILE, CLOUDFLARE_HEADER_RULES),
        (REDIRECTS_FILE, CLOUDFLARE_REDIRECTS),
    ):
        if name not in crawl.files:
            continue
        with open(output.path_of(name), encoding="utf-8") as handle:
            count = sum(1 for line in handle if line.startswith("/"))
        if count > limit:
            report.notes.append(
                f"{name} has {count} rules; Cloudflare Pages reads the first {limit}"
            )
    not_found = crawl.visits.get(NOT_FOUND_KEY)
    if not_found is not None and not_found.out and not_found.template != NOT_FOUND_PAGE:
        report.differs.extend(file_urls(NOT_FOUND_PAGE))
        report.notes.append(
            f"{not_found.template} is written as {NOT_FOUND_PAGE}, the page hosts show for a"
            f" missing URL; live, /{NOT_FOUND_PAGE} answers something else"
        )
