"""What a finished crawl tells the user: errors, warnings, broken links, notes.

What cannot be static is said, not hidden: a page that reads the query, the
form, the cookies, the method or the session is still written (its GET render,
as a first-time visitor would see it) and named here, by file; so are a page
that sets a cookie, a route no link reaches, a folder whose listing is written
as its index, and a page whose status a static host cannot send. A page that
reads ``request.host`` is named once when no ``[build] base_url`` says the
public host (it was rendered for ``localhost``). A link to a URL of ``[build]
missing`` (a demo of the not-found page) is not reported as broken.
"""

from __future__ import annotations

from siteserve.build.crawl import NOT_FOUND_KEY, Crawl
from siteserve.build.links import normalized
from siteserve.build.report import BrokenLink, BuildReport
from siteserve.build.settings import BUILD_HOST
from siteserve.build.site_files import SiteTree
from siteserve.config import Config

#: Inputs a page may read and still be the same for everyone (the build's clock, the
#: host: one per build, said below when it is not the public one).
_HARMLESS_INPUTS = frozenset({"now", "request.host"})


def report_findings(crawl: Crawl, tree: SiteTree, config: Config, report: BuildReport) -> None:
    build_paths = config.paths
    host_readers: set[str] = set()
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
        if "request.host" in record.inputs and not config.base_url:
            host_readers.add(about)
        if record.sets_cookie:
            report.warn(about, "sets a cookie; a static host sends none")
        if 200 < record.status < 300:
            report.warn(about, f"answers {record.status} live; a static host answers 200")
        elif 400 <= record.status < 500 and record.status != 404:
            report.warn(about, f"{url} answers {record.status}: nothing is written for it")
    for about in sorted(host_readers):
        report.warn(
            about,
            f"reads request.host: rendered for {BUILD_HOST}; give the public URL with"
            " --base-url or [build] base_url in siteserve.toml",
        )
    expected = {normalized(_rooted(path)) for path in config.missing}
    for edge in crawl.broken():
        if edge.unservable or edge.target not in expected:
            report.broken.append(BrokenLink(edge.page, edge.target))
    for path in build_paths:
        if not crawl.answers(normalized(_rooted(path))):
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


def _rooted(path: str) -> str:
    return path if path.startswith("/") else "/" + path
