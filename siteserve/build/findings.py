"""What a finished crawl tells the user: errors, warnings, broken links, notes.

What cannot be static is said, not hidden: a page that reads the query, the
form, the cookies, the method or the session is still written (its GET render,
as a first-time visitor would see it) and named here, by file; so are a page
that sets a cookie, a route no link reaches, a folder whose listing is written
as its index, and a page whose status a static host cannot send.
"""

from __future__ import annotations

from siteserve.build.crawl import NOT_FOUND_KEY, Crawl
from siteserve.build.links import normalized
from siteserve.build.report import BrokenLink, BuildReport
from siteserve.build.site_files import SiteTree

#: Inputs a page may read and still be the same for everyone (the build's clock).
_HARMLESS_INPUTS = frozenset({"now"})


def report_findings(
    crawl: Crawl, tree: SiteTree, build_paths: tuple[str, ...], report: BuildReport
) -> None:
    for url, record in sorted(crawl.visits.items()):
        about = record.template or url
        if record.problem:
            what = "the 404 page" if url == NOT_FOUND_KEY else url
            report.errors.append(f"{record.problem} (rendering {what})")
            continue
        if record.kind == "listing":
            report.warn(
                url,
                f"no index page: its listing is written as {record.out}; sorting, filtering and"
                " zip downloads need siteserve",
            )
        if record.kind != "page":
            continue
        inputs = sorted(set(record.inputs) - _HARMLESS_INPUTS)
        if inputs:
            report.warn(
                about,
                f"reads {', '.join(inputs)}: written as its GET render (no query, no cookies,"
                " an empty session)",
            )
        if record.sets_cookie:
            report.warn(about, "sets a cookie; a static host sends none")
        if 200 < record.status < 300:
            report.warn(about, f"answers {record.status} live; a static host answers 200")
        elif 400 <= record.status < 500 and record.status != 404:
            report.warn(about, f"{url} answers {record.status}: nothing is written for it")
    for edge in crawl.broken():
        report.broken.append(BrokenLink(edge.page, edge.target))
    for path in build_paths:
        if not crawl.answers(normalized(path if path.startswith("/") else "/" + path)):
            report.warn("siteserve.toml", f"[build] paths: {path} answers no page")
    reached = {record.template for record in crawl.visits.values() if record.template}
    reached |= {record.file for record in crawl.visits.values() if record.file}
    for route in tree.routes:
        if route not in reached:
            report.warn(
                route,
                "no URL found for this route: link to it from a page, or list its URLs"
                " in [build] paths of siteserve.toml",
            )
