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


#: One file to copy: the site's file (where to read it), its path in OUT, and the size
#: and mtime the walk saw. A plain tuple: a batch of them pickles as strings and numbers,
#: not as an object per file.
CopySpec = tuple[str, str, int, int]


@dataclass(frozen=True, slots=True)
class CopyFiles:
    """Copy each of these files of the site into OUT, unless the copy there is current."""

    files: tuple[CopySpec, ...]
    #: No earlier build wrote any of them: each is created without a look first.
    new: bool = False


Job = Visit | NotFoundPage | Compress | CopyFiles


@dataclass(slots=True)
class Outcome:
    """What a job did: the record of the URL (None for a compress job) and the files written."""

    url: str
    record: VisitRecord | None
    #: (output path, state, bytes changed) of each file written.
    written: list[tuple[str, FileState, bool]] = field(default_factory=list)
    #: Relative paths of the files the page was made from (the caller adds their stats).
    source_paths: list[str] = field(default_factory=list)
    #: A copy job's answer: (output path, size, mtime_ns, bytes changed) of each copy
    #: made or kept, and why each other file has none (``written`` stays empty).
    copy: bool = False
    copied: list[tuple[str, int, int, bool]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def copy_files(output: OutputFolder, job: CopyFiles) -> Outcome:
    """Copy files of the site into OUT (see ``OutputFolder.copy``), in any process."""
    outcome = Outcome("", None, copy=True)
    copied, errors, copy, new = outcome.copied, outcome.errors, output.copy, job.new
    for source, rel, size, mtime_ns in job.files:
        try:
            state, changed = copy(source, rel, size, mtime_ns, new=new)
        except (OutputError, OSError) as error:
            errors.append(f"{rel}: {error}")
            continue
        copied.append((rel, state.size, state.mtime_ns, changed))
    return outcome
