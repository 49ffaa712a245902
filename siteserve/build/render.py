"""Rendering one URL: the live server's own Site, asked as a visitor would ask it.

A ``Renderer`` holds a Site built from the site's Config (live reload off, no
uploads, sessions in memory) and answers jobs: visit a URL, write the not-found
page, compress a file. A URL is resolved by the Site's resolver and answered by
``Site.handle`` with a GET that has no query, no cookies and an empty session,
so a page comes out exactly as the server sends it. What the build needs to know
about the answer (where it was written, its links, what it was made from, what of
the request it read) comes back as a ``VisitOutcome``; the caller decides what
else to visit.

Every ``now()`` answers the build's one instant, so the same URL gives the same
bytes in any process. A template error is logged by the pages module as the
server logs it (``file:line: Kind: message``); the renderer keeps that line.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import os
from collections.abc import AsyncIterable
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from siteserve.build import precompress
from siteserve.build.jobs import (
    NOT_FOUND_PAGE,
    Compress,
    CopyFiles,
    Job,
    Outcome,
    Visit,
    copy_files,
)
from siteserve.build.layout import canonical_url, decoded_path, page_output, split_url
from siteserve.build.links import LinkFinder, internal_path
from siteserve.build.manifest import VisitRecord
from siteserve.build.output import OutputFolder
from siteserve.build.redirect_page import redirect_page
from siteserve.build.settings import (
    LOCAL_ORIGIN,
    BuildSettings,
    Origin,
    public_origin,
    site_resolver,
)
from siteserve.build.site_files import TreeSnapshot
from siteserve.http import Headers, Request, Response
from siteserve.http.response import FileBody
from siteserve.site.app import Site
from siteserve.site.errors import site_not_found_page
from siteserve.site.jinja_env import mark_volatile
from siteserve.site.mime import content_type
from siteserve.site.names import is_route_name
from siteserve.site.page_context import REDIRECT_CODES
from siteserve.site.pages import Pages
from siteserve.site.resolver import Resolved
from siteserve.site.reuse import Key, ReusedRenders

#: Response fields a host sets by itself (or that only mean something live).
_NOT_REPEATED = frozenset(
    {
        "set-cookie",
        "content-length",
        "etag",
        "last-modified",
        "vary",
        "location",
        "accept-ranges",
    }
)


class PinnedClock:
    """``now()`` for a build: the one instant of the build, noted as an input of the page."""

    def __init__(self, instant: float) -> None:
        self._utc = datetime.fromtimestamp(instant, UTC)

    def __call__(self, utc: bool = False) -> datetime:
        mark_volatile("now")
        return self._utc if utc else self._utc.astimezone()


class _NoReuse(ReusedRenders):
    """A build renders each URL once: keeping a render (a stat of each of its sources,
    and its body held in memory) would only cost."""

    @staticmethod
    def key(request: Request, path: Path, served_as: str) -> Key | None:
        return None


class _Problems(logging.Handler):
    """Keeps the error lines the site's loggers write while a job runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line = f"{line}: {type(error).__name__}: {error}"
        self.lines.append(line)


def build_request(url: str, origin: Origin = LOCAL_ORIGIN) -> Request:
    """A GET for ``url`` as a first-time visitor sends it: no query, no cookies, no body."""
    return Request("GET", url, url, "", Headers([("host", origin.host)]), scheme=origin.scheme)


class Renderer:
    """A Site in this process, answering build jobs one at a time."""

    def __init__(self, settings: BuildSettings, snapshot: TreeSnapshot | None = None) -> None:
        self.settings = settings
        self.config = config = settings.site_config()
        # One page at a time: render inline, never through the pages' thread pool.
        self.pages = Pages(config, workers=1, inline_budget=math.inf)
        self.pages.environment.globals["now"] = PinnedClock(settings.clock)
        # Templates do not change during a build: no up-to-date check at every render.
        self.pages.environment.auto_reload = False
        self.pages.reuse = _NoReuse()
        # watched: nothing changes under a build, so nothing is asked of the disk twice.
        self.site = Site(config, pages=self.pages, watched=True)
        # The folder holds still: route files looked for once, and (with the walk's
        # snapshot) no system call for a file the resolver tries that is not there.
        self.site.resolver = self.resolver = site_resolver(config, snapshot=snapshot)
        self.root = self.site.root
        self._root_prefix = str(self.root).rstrip(os.sep) + os.sep
        self._relatives: dict[str, str] = {}
        self.origin = public_origin(config)
        self.links = LinkFinder(self.origin.host)
        self.output = OutputFolder(settings.out)
        self._loop = asyncio.new_event_loop()
        self._problems = _Problems()
        self._logger = logging.getLogger("siteserve")
        self._logger.addHandler(self._problems)

    def close(self) -> None:
        self._logger.removeHandler(self._problems)
        self.pages.close()
        self._loop.close()

    def run(self, jobs: list[Job]) -> list[Outcome]:
        return [self.run_one(job) for job in jobs]

    def run_one(self, job: Job) -> Outcome:
        if isinstance(job, CopyFiles):
            return copy_files(self.output, job)
        self._problems.lines.clear()
        url = job.url if isinstance(job, Visit) else job.rel if isinstance(job, Compress) else ""
        try:
            if isinstance(job, Visit):
                return self._visit(job.url)
            if isinstance(job, Compress):
                return self._compress(job.rel)
            return self._not_found_page()
        except Exception as error:  # a bug must not stop the other pages: say it, exit 1
            record = VisitRecord("missing", problem=f"{url}: {type(error).__name__}: {error}")
            return Outcome(url, record)

    # -- answering ---------------------------------------------------------------------

    def _answer(self, request: Request, *, error_status: int | None = None) -> Response:
        answer = (
            self.site.handle(request)
            if error_status is None
            else self.site.error(request, error_status)
        )
        if inspect.isawaitable(answer):
            return self._loop.run_until_complete(answer)
        return answer

    def _page(self, request: Request, resolved: Resolved) -> Response:
        """A page, straight from the pages module when it renders at once.

        What ``Site.handle`` adds for a GET of a page is not needed here: the URL is
        resolved already (by the same resolver), GET is a page's method, and the
        template is there (the folder holds still while it builds). The first render
        of each template goes through ``Site.handle`` (the pages module learns what it
        costs there), and so does anything unexpected, which it answers as it would live.
        """
        try:
            answer = self.pages.render_now(request, resolved)
        except Exception:
            answer = None
        if answer is None:
            return self._answer(request)
        if inspect.isawaitable(answer):
            return self._loop.run_until_complete(answer)
        return answer

    def _body(self, response: Response) -> bytes:
        body = response.body
        if isinstance(body, bytes):
            return body
        if isinstance(body, FileBody):
            if body.file is not None:  # the open file the answer was made from
                with body.file, open(body.file.fileno(), "rb", closefd=False) as handle:
                    handle.seek(body.offset)
                    return handle.read(body.length)
            with open(body.path, "rb") as handle:
                handle.seek(body.offset)
                return handle.read(body.length)
        return self._loop.run_until_complete(_gather(body))

    def _relative(self, path: Path | str | None) -> str | None:
        """``path`` relative to the site folder, with ``/`` (absolute when outside it)."""
        if path is None:
            return None
        text = str(path)
        known = self._relatives.get(text)
        if known is None:
            if text.startswith(self._root_prefix):
                known = text[len(self._root_prefix) :].replace(os.sep, "/")
            else:
                known = Path(text).as_posix()
            self._relatives[text] = known
        return known

    # -- jobs --------------------------------------------------------------------------

    def _visit(self, url: str) -> Outcome:
        resolved = self.resolver.resolve(url)
        folder = _folder_of(url)
        if resolved.kind == "not_found":
            return Outcome(url, VisitRecord("missing", status=404, folder=folder))
        if resolved.kind == "redirect":
            return Outcome(url, VisitRecord("redirect", location=resolved.location, folder=folder))
        if resolved.kind == "file":
            file = self._relative(resolved.path)
            record = VisitRecord("file", out=decoded_path(url), file=file, folder=folder)
            record.routes = "route" if file is not None and _is_route(file) else None
            return Outcome(url, record)
        canonical = canonical_url(url, resolved, self.resolver)
        if canonical != url:
            return Outcome(url, VisitRecord("alias", location=canonical, folder=folder))
        template = self._relative(resolved.path) if resolved.kind == "page" else None
        kind = "page" if resolved.kind == "page" else "listing"
        request = build_request(url, self.origin)
        response = self._page(request, resolved) if kind == "page" else self._answer(request)
        record = VisitRecord(kind, status=response.status, template=template, folder=folder)
        if template is not None and _is_route(template):
            record.routes = "route"
        record.inputs = sorted(response.inputs)
        record.sets_cookie = response.header("set-cookie") is not None
        outcome = Outcome(url, record, source_paths=self._source_paths(response, template))
        served_as = resolved.served_as or "index.html"
        status = response.status
        if 200 <= status < 300:
            out = page_output(url, served_as, self.settings.layout, self._folder_answers)
            body = self._body(response)
            self._write(outcome, out, body)
            media = (response.header("content-type") or "").partition(";")[0].strip().lower()
            record.links = self.links.links(body, media, url, out.rpartition("/")[2])
            record.headers = repeated_headers(response, out, record.sets_cookie)
        elif status in REDIRECT_CODES and response.header("location"):
            location = response.header("location") or "/"
            out = page_output(url, served_as, self.settings.layout, self._folder_answers)
            record.location = _same_site(location, self.origin.host)
            self._write(outcome, out, redirect_page(record.location))
            target = internal_path(location, url, self.origin.host)
            record.links = [] if target is None else [target]
        elif status >= 500:
            record.problem = "; ".join(self._problems.lines) or f"{url} answered {status}"
        return outcome

    def _not_found_page(self) -> Outcome:
        request = build_request("/" + NOT_FOUND_PAGE, self.origin)
        template = self.pages.error_template(404)
        plain = site_not_found_page(self.root, follow_symlinks=self.config.follow_symlinks)
        record = VisitRecord("not_found_page", folder=("", ""))
        if template is None and plain is None:
            return Outcome("", record)  # the host's own not-found page it is
        response = self._answer(request, error_status=404)
        record.status = response.status
        record.template = self._relative(template) if template is not None else NOT_FOUND_PAGE
        outcome = Outcome("", record, source_paths=self._source_paths(response, record.template))
        if response.status == 404:
            body = self._body(response)
            self._write(outcome, NOT_FOUND_PAGE, body)
            record.links = self.links.links(body, "text/html", request.path)
        else:
            answered = f"the 404 page answered {response.status}"
            record.problem = "; ".join(self._problems.lines) or answered
        return outcome

    def _compress(self, rel: str) -> Outcome:
        state = self.output.state(rel)
        outcome = Outcome(rel, None)
        if state is None or not precompress.wants_siblings(rel, state.size):
            return outcome
        with open(self.output.path_of(rel), "rb") as handle:
            data = handle.read()
        outcome.written = precompress.write_siblings(self.output, rel, data, state.mtime_ns)
        return outcome

    # -- helpers -----------------------------------------------------------------------

    def _write(self, outcome: Outcome, rel: str, body: bytes) -> None:
        assert outcome.record is not None
        outcome.record.out = rel
        state, changed = self.output.write(rel, body)
        outcome.written.append((rel, state, changed))
        if self.settings.precompress:
            siblings = precompress.write_siblings(self.output, rel, body, state.mtime_ns)
            outcome.written.extend(siblings)

    def _folder_answers(self, url: str) -> bool:
        return self.resolver.resolve(url).kind != "not_found"

    def _source_paths(self, response: Response, template: str | None) -> list[str]:
        paths = {self._relative(path) or "" for path in response.sources}
        if template is not None:
            paths.add(template)
        return sorted(path for path in paths if path)


async def _gather(body: AsyncIterable[bytes]) -> bytes:
    return b"".join([chunk async for chunk in body])


def _folder_of(url: str) -> tuple[str, str]:
    """The folder (relative to the site) holding what ``url`` names; its digest comes later."""
    split = split_url(url)
    if split is None:
        return ("", "")
    segments, trailing = split
    folder = segments if trailing else segments[:-1]
    return ("/".join(folder), "")


@lru_cache(maxsize=4096)  # a build has few templates, each asked for every URL it renders
def _is_route(rel: str) -> bool:
    return any(is_route_name(part) for part in rel.split("/"))


def _same_site(location: str, host: str) -> str:
    """A redirect to the build's own host, as a path (the deployed site may have another)."""
    for scheme in ("http://", "https://"):
        prefix = scheme + host
        if location.startswith(prefix) and location[len(prefix) : len(prefix) + 1] in ("/", ""):
            return location[len(prefix) :] or "/"
    return location


def repeated_headers(response: Response, out: str, sets_cookie: bool) -> list[tuple[str, str]]:
    """The headers of a page that a host rule must repeat (what a static host would not send)."""
    name = out.rpartition("/")[2]
    kept: list[tuple[str, str]] = []
    for field_name, value in response.headers:
        lower = field_name.lower()
        if lower in _NOT_REPEATED:
            continue
        if lower == "content-type" and value == content_type(name):
            continue  # what the file's extension gives anyway
        if lower == "cache-control" and (
            value == "no-cache" or (sets_cookie and value == "no-store")
        ):
            continue  # revalidate: what the hosts do by default
        kept.append((field_name, value))
    return kept
