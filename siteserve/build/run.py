"""``build_site``: the site folder in, a folder of plain files out, and a report.

In order: refuse what must be refused (before anything is written); walk the
site; copy its static files (only those that changed) while worker processes
render the pages the crawl finds (once they run, they make the copies too);
write the host rules; remove what an earlier build wrote that is no longer part
of the site; write the marker file last.
A template error does not stop the build: every other page is still written,
and the report makes the exit status 1.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from siteserve import __version__
from siteserve.build.crawl import NOT_FOUND_KEY, Crawl, static_address
from siteserve.build.findings import report_findings
from siteserve.build.jobs import (
    NOT_FOUND_PAGE,
    Compress,
    CopyFiles,
    CopySpec,
    NotFoundPage,
    Outcome,
    copy_files,
)
from siteserve.build.links import CSS_TYPES, HTML_TYPES, extract_links
from siteserve.build.manifest import MARKER, Manifest, write_manifest
from siteserve.build.output import FileState, OutputFolder, check_folders, remove_stale
from siteserve.build.progress import BuildProgress, Counts, NoProgress
from siteserve.build.report import BuildReport
from siteserve.build.rules import (
    RULE_FILES,
    hidden_rule_files,
    keep_host_rules,
    write_host_rules,
)
from siteserve.build.settings import (
    BUILD_HOST,
    BuildSettings,
    available_cpus,
    public_origin,
    site_resolver,
)
from siteserve.build.site_files import SiteTree, SourceFile, walk_site
from siteserve.build.workers import PoolRunner, Runner, make_runner
from siteserve.config import CONFIG_FILE, Config
from siteserve.rules.load import RULE_FILES as SITE_RULE_FILES
from siteserve.site import routes as route_table
from siteserve.site.fallback_files import FALLBACKS, fallback_file
from siteserve.site.mime import content_type
from siteserve.site.resolver import Resolver
from siteserve.site.spa import entry_url

#: Static files copied between two looks at the workers' results, and the files of one
#: copy job handed to a worker process.
COPY_BATCH = 64
#: Seconds between two progress counts.
COUNT_INTERVAL = 0.25


@dataclass(slots=True)
class _Copy:
    source: SourceFile
    out: str


def _copy_spec(copy: _Copy) -> CopySpec:
    return (copy.source.path, copy.out, copy.source.size, copy.source.mtime_ns)


@dataclass
class _Build:
    settings: BuildSettings
    config: Config
    tree: SiteTree
    crawl: Crawl
    output: OutputFolder
    report: BuildReport
    progress: BuildProgress
    copies: deque[_Copy] = field(default_factory=deque)
    counts: Counts = field(default_factory=Counts)
    runner: Runner | None = None
    scanned: dict[str, tuple[int, int, list[str]]] = field(default_factory=dict)
    #: The host of the absolute links that are the site's own (``[build] base_url``).
    origin_host: str = BUILD_HOST
    _counted: float = 0.0
    #: Files handed to the workers to copy and not answered yet.
    _copies_sent: int = 0
    #: The output paths the earlier build wrote (its marker file's list), reusable or not.
    earlier_files: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    def run(self) -> None:
        crawl = self.crawl
        if not crawl.keep_not_found_page():
            crawl.jobs.append(NotFoundPage())
        for url in ["/", *self.tree.page_urls]:
            crawl.visit(url, None)
        for path in self.config.paths:
            crawl.visit(path if path.startswith("/") else "/" + path, None)
        for _prefix, entry in self.config.spa:
            crawl.visit(entry_url(entry), None)  # the app's entry page, for its fallback rule
        for source in self.tree.static:
            if source.rel != NOT_FOUND_PAGE:  # the not-found page's job writes that one
                self.copies.append(_Copy(source, source.rel))
            self._scan(source)
        for source in crawl.fallbacks.values():
            self.copies.append(_Copy(source, source.rel))
        self._pump()
        # Found by the crawl: route files served as files (``/files/[name].txt``), and a
        # 404.html too big to be the error page (the server serves it as a file then).
        for out, source in sorted(crawl.route_copies.items()):
            self.copies.append(_Copy(source, out))
        not_found = crawl.visits.get(NOT_FOUND_KEY)
        plain = self.tree.files.get(NOT_FOUND_PAGE)
        if (
            plain is not None
            and plain in self.tree.static
            and (not_found is None or not_found.out is None)
        ):
            self.copies.append(_Copy(plain, NOT_FOUND_PAGE))
        self._pump()
        self._count(final=True)

    def _runner(self) -> Runner:
        if self.runner is None:
            self.runner = make_runner(self.settings, self.tree.snapshot)()
        return self.runner

    def _pump(self) -> None:
        """Copy files between looks at the workers, until both are done.

        The workers' answers are taken as they come (a page's links are the next
        jobs), a batch of copies is made in between (or, once worker processes run,
        all the copies are theirs), and with no copy left this process waits for
        the workers.
        """
        while True:
            jobs = self.crawl.take_jobs()
            if jobs:
                self._runner().submit(jobs)
            runner = self.runner
            if runner is not None:
                for outcome in runner.collect(wait=not self.copies):
                    self._done(outcome)
            if self.copies:
                self._copy_some()
            self._count()
            if not self.copies and not self.crawl.jobs and (runner is None or not runner.busy):
                return

    def _copy_some(self) -> None:
        copies = self.copies
        if isinstance(self.runner, PoolRunner):
            # Worker processes are running (pages to render): they copy too, so that this
            # process, which plans and records the build, is not the one that holds it up.
            taken = list(copies)
            copies.clear()
            self.runner.submit(self._copy_jobs(taken))
            self._copies_sent += len(taken)
            return
        batch = [copies.popleft() for _ in range(min(COPY_BATCH, len(copies)))]
        for job in self._copy_jobs(batch):
            self._copied(copy_files(self.output, job))

    def _copy_jobs(self, copies: list[_Copy]) -> list[CopyFiles]:
        """Batches of at most COPY_BATCH files, those no earlier build wrote apart (they
        are created without a look first: see ``OutputFolder.copy``)."""
        earlier = self.earlier_files
        fresh = [_copy_spec(copy) for copy in copies if copy.out not in earlier]
        kept = [_copy_spec(copy) for copy in copies if copy.out in earlier]
        return [
            CopyFiles(tuple(specs[start : start + COPY_BATCH]), new=specs is fresh)
            for specs in (fresh, kept)
            for start in range(0, len(specs), COPY_BATCH)
        ]

    def _copied(self, outcome: Outcome, *, sent: bool = False) -> None:
        if sent:
            self._copies_sent -= len(outcome.copied) + len(outcome.errors)
        self.report.errors.extend(outcome.errors)
        for rel, size, mtime_ns, changed in outcome.copied:
            self.crawl.files[rel] = FileState(size, mtime_ns)
            if changed:
                self.report.files_copied += 1
            else:
                self.report.files_unchanged += 1
            self.counts.files_done += 1
            if self.settings.precompress:
                self._siblings(rel, changed)

    def _siblings(self, rel: str, changed: bool) -> None:
        """Keep the siblings of an unchanged file, else have a worker make them."""
        previous = self.crawl.previous
        if not changed and previous is not None:
            kept = {}
            for suffix in (".gz", ".br"):
                sibling = rel + suffix
                state = self.output.state(sibling) if sibling in previous.files else None
                if state is not None:
                    kept[sibling] = state
            if kept:
                self.crawl.files.update(kept)
                return
        self.crawl.jobs.append(Compress(rel))

    def _done(self, outcome: Outcome) -> None:
        if outcome.copy:
            self._copied(outcome, sent=True)
            return
        self.crawl.done(outcome)
        record = outcome.record
        if record is not None and record.out is not None and record.kind != "file":
            self.report.pages_rendered += 1

    def _scan(self, source: SourceFile) -> None:
        """Follow the links of a static HTML or CSS file, or of the sitemap."""
        name = source.rel.rpartition("/")[2]
        media = content_type(name).partition(";")[0].strip()
        if media not in HTML_TYPES and media not in CSS_TYPES and source.rel != "sitemap.xml":
            return
        previous = self.crawl.previous
        cached = None if previous is None else previous.scanned.get(source.rel)
        if cached is not None and cached[:2] == (source.size, source.mtime_ns):
            links = cached[2]
        else:
            with open(source.path, "rb") as handle:
                body = handle.read()
            links = extract_links(body, media, "/" + source.rel, self.origin_host, name)
        self.scanned[source.rel] = (source.size, source.mtime_ns, links)
        address = static_address(source.rel, self.tree)
        for link in links:
            self.crawl.visit(link, address)

    def _count(self, *, final: bool = False) -> None:
        if isinstance(self.progress, NoProgress):
            return
        now = time.monotonic()
        if not final and (now - self._counted < COUNT_INTERVAL or not self.progress.due(now)):
            return
        self._counted = now
        crawl = self.crawl
        self.counts.pages_known = len(crawl.visits) + len(crawl.pending)
        self.counts.pages_done = len(crawl.visits)
        self.counts.files_total = self.counts.files_done + len(self.copies) + self._copies_sent
        self.counts.bytes_done = sum(state.size for state in crawl.files.values())
        self.progress.update(self.counts)

    def close(self, *, interrupted: bool) -> None:
        runner, self.runner = self.runner, None
        if runner is None:
            return
        if interrupted and isinstance(runner, PoolRunner):
            runner.terminate()
        else:
            runner.close()


def fallback_sources(
    resolver: Resolver, static_urls: dict[str, SourceFile]
) -> dict[str, SourceFile]:
    """siteserve's own files the server answers where the site has none (its favicon, the
    stylesheet of Markdown code blocks), as files to copy to the same URL."""
    found: dict[str, SourceFile] = {}
    for url in FALLBACKS:
        ours = fallback_file(url)
        if ours is None or url in static_urls or resolver.resolve(url).kind != "not_found":
            continue
        info = os.stat(ours[0])
        found[url] = SourceFile(url.lstrip("/"), info.st_size, info.st_mtime_ns, str(ours[0]))
    return found


def settings_digest(settings: BuildSettings, config: Config) -> str:
    """What every page depends on: a change here renders every page again."""
    digest = hashlib.sha256()
    for part in (
        __version__,
        str(settings.root),
        settings.layout,
        str(settings.precompress),
        str(config.follow_symlinks),
        config.base_url,
        repr(config.spa),
    ):
        digest.update(part.encode("utf-8", "surrogateescape") + b"\0")
    # siteserve.toml, and the rule files the build writes into _redirects.
    for name in (CONFIG_FILE, *SITE_RULE_FILES):
        path = settings.root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


def build_site(settings: BuildSettings, progress: BuildProgress | None = None) -> BuildReport:
    """Build the site; raises ``BuildRefused`` or ``ConfigError`` before writing anything."""
    started = time.perf_counter()
    report = BuildReport(root=str(settings.root), out=str(settings.out))
    config = settings.site_config()
    previous = check_folders(settings.root, settings.out, force=settings.force)
    resolver = site_resolver(config)
    tree = walk_site(resolver.root, resolver, skip=settings.out)
    hidden = hidden_rule_files(config)
    if hidden:  # serve.json: the live rules layer never serves it, so neither does OUT
        tree.static = [source for source in tree.static if source.rel not in hidden]
    digest = settings_digest(settings, config)
    reusable = previous if previous is not None and previous.settings == digest else None
    output = OutputFolder(settings.out)
    output.ensure_root()
    crawl = Crawl(tree, output, reusable)
    crawl.fallbacks = fallback_sources(resolver, crawl.static_urls)
    build = _Build(settings, config, tree, crawl, output, report, progress or NoProgress())
    build.origin_host = public_origin(config).host
    if previous is not None:
        build.earlier_files = previous.files
    interrupted, unchanged = True, False
    try:
        build.run()
        interrupted = False
    finally:
        build.close(interrupted=interrupted)
        (progress or NoProgress()).close()
        manifest = Manifest(settings=digest, visits=dict(crawl.visits), scanned=build.scanned)
        if interrupted:
            # Keep every file either build wrote on record, so none is left unowned.
            manifest.files = dict(previous.files) if previous is not None else {}
        else:
            stale = set(previous.files) - set(crawl.files) if previous is not None else set()
            stale -= {MARKER, *RULE_FILES}
            # Nothing rendered, copied or gone: the rule files and the marker stay as they are.
            unchanged = (
                reusable is not None
                and not crawl.rendered
                and not crawl.wrote
                and report.files_copied == 0
                and not stale
                and keep_host_rules(config, crawl, output, reusable, report)
            )
            if not unchanged:
                write_host_rules(config, crawl, output, report)
                stale = set(previous.files) - set(crawl.files) if previous is not None else set()
                stale.discard(MARKER)
                report.removed = len(remove_stale(output, sorted(stale)))
        manifest.files.update(
            (rel, (state.size, state.mtime_ns)) for rel, state in crawl.files.items()
        )
        if interrupted or not unchanged:
            write_manifest(settings.out, manifest)
    routes = [
        route_table.make_route(resolver.root, tuple(rel.split("/")), resolver.is_page_file)
        for rel in tree.routes
    ]
    for conflict in route_table.conflicts(sorted(routes, key=lambda route: route.rank)):
        report.warn("routes", conflict)
    report_findings(crawl, tree, config, report)
    report.pages_unchanged = sum(
        1 for url in crawl.reused if crawl.visits[url].out and crawl.visits[url].kind != "file"
    )
    report.total_bytes = sum(state.size for state in crawl.files.values())
    report.processes = 1 if settings.jobs == 1 else (settings.jobs or available_cpus())
    report.seconds = time.perf_counter() - started
    return report
