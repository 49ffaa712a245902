"""The jobs a build hands to its workers, and what comes back.

Small picklable values only: a worker process gets a job and answers an
``Outcome`` (the record of a URL, and the files it wrote). Kept apart from the
renderer so that the process that plans a build never imports the pages module
unless something needs rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from siteserve.build.manifest import VisitRecord
from siteserve.build.output import FileState, OutputError, OutputFolder

#: Where the not-found page is written: what GitHub Pages, Netlify, Cloudflare
#: Pages and an ``error_page 404 /404.html`` in nginx serve for a missing URL.
NOT_FOUND_PAGE: Final = "404.html"


@dataclass(frozen=True, slots=True)
class Visit:
    """Answer this URL (normalized) as the live server would, and write what it gives."""

    url: str


@dataclass(frozen=True, slots=True)
class NotFoundPage:
    """Write the site's own not-found page as ``404.html``."""


@dataclass(frozen=True, slots=True)
class Compress:
    """Write the ``.gz`` and ``.br`` siblings of this output file."""

    rel: str


@dataclass(frozen=True, slots=True)
class CopyFile:
    """Copy the site's file ``source`` to ``rel`` in OUT, unless the copy there is current."""

    source: str
    rel: str
    size: int
    mtime_ns: int


Job = Visit | NotFoundPage | Compress | CopyFile


@dataclass(slots=True)
class Outcome:
    """What a job did: the record of the URL (None for a compress job) and the files written."""

    url: str
    record: VisitRecord | None
    #: (output path, state, bytes changed) of each file written.
    written: list[tuple[str, FileState, bool]] = field(default_factory=list)
    #: Relative paths of the files the page was made from (the caller adds their stats).
    source_paths: list[str] = field(default_factory=list)
    #: A copy job's answer: ``written`` holds the copy, or ``error`` says why there is none.
    copy: bool = False
    error: str | None = None


def copy_file(output: OutputFolder, job: CopyFile) -> Outcome:
    """Copy a file of the site into OUT (see ``OutputFolder.copy``), in any process."""
    outcome = Outcome(job.rel, None, copy=True)
    try:
        state, changed = output.copy(job.source, job.rel, job.size, job.mtime_ns)
    except (OutputError, OSError) as error:
        outcome.error = f"{job.rel}: {error}"
        return outcome
    outcome.written.append((job.rel, state, changed))
    return outcome
