"""The marker file: proof that a folder is a build's output, and what that build did.

``.siteserve-build.json`` at the top of OUT lists every file the build wrote (so the
next build removes those that are no longer part of the site, and nothing else),
and every URL it visited with what the page was made from, so the next build
renders again only the pages whose templates, data or folder changed.

A host may publish the marker with the rest of OUT, so it names no file that is
not public: the files a page read (layouts, ``_data``) are recorded by a digest
of their path, and the rest is URLs and output paths, which OUT shows anyway.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from siteserve import __version__

MARKER = ".siteserve-build.json"
FORMAT = 1


class ManifestError(Exception):
    """The marker file is there but is not one this version can read."""


@dataclass(slots=True)
class VisitRecord:
    """What one URL answered, in the form the next build can reuse."""

    #: "page", "listing", "not_found_page", "file", "alias", "redirect", "missing"
    kind: str
    status: int = 0
    #: The output path written for it (pages, listings), or the copy (route files).
    out: str | None = None
    #: For an alias or a redirect: where it leads; for a page's redirect(): Location.
    location: str | None = None
    #: The page's template, relative to the site (the warnings name it).
    template: str | None = None
    #: (path digest, size, mtime_ns) of every file the page was made from.
    sources: list[tuple[str, int, int]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    #: Headers the host rules repeat for this page.
    headers: list[tuple[str, str]] = field(default_factory=list)
    sets_cookie: bool = False
    #: The folder the URL's last segment lives in, and its digest at the time.
    folder: tuple[str, str] = ("", "")
    #: The route table's digest when the URL was answered by a route.
    routes: str | None = None
    #: A route file's copy: the file, relative to the site.
    file: str | None = None
    #: Kept as written; a record with one is never reused.
    problem: str | None = None

    def to_json(self, source_index: Callable[[tuple[str, int, int]], int]) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind}
        for name in ("status", "out", "location", "template", "file", "problem", "routes"):
            value = getattr(self, name)
            if value:
                data[name] = value
        if self.sources:
            # Most pages share their layouts: each source is written once, in a table.
            data["sources"] = [source_index(source) for source in self.sources]
        for name in ("inputs", "links", "headers"):
            value = getattr(self, name)
            if value:
                data[name] = [list(item) if isinstance(item, tuple) else item for item in value]
        if self.sets_cookie:
            data["sets_cookie"] = True
        data["folder"] = list(self.folder)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], sources: list[tuple[str, int, int]]) -> VisitRecord:
        return cls(
            kind=str(data["kind"]),
            status=int(data.get("status", 0)),
            out=data.get("out"),
            location=data.get("location"),
            template=data.get("template"),
            sources=[sources[index] for index in data.get("sources", [])],
            inputs=[str(name) for name in data.get("inputs", [])],
            links=[str(link) for link in data.get("links", [])],
            headers=[(str(n), str(v)) for n, v in data.get("headers", [])],
            sets_cookie=bool(data.get("sets_cookie", False)),
            folder=(str(data["folder"][0]), str(data["folder"][1])),
            routes=data.get("routes"),
            file=data.get("file"),
            problem=data.get("problem"),
        )


@dataclass(slots=True)
class Manifest:
    #: Digest of everything that changes every page (settings, siteserve.toml, version).
    settings: str = ""
    #: Output path -> (size, mtime_ns) of each file the build wrote or kept.
    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: URL -> what it answered.
    visits: dict[str, VisitRecord] = field(default_factory=dict)
    #: Static HTML/CSS files scanned for links: rel -> (size, mtime_ns, links).
    scanned: dict[str, tuple[int, int, list[str]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        table: dict[tuple[str, int, int], int] = {}

        def index(source: tuple[str, int, int]) -> int:
            return table.setdefault(source, len(table))

        visits = {url: record.to_json(index) for url, record in sorted(self.visits.items())}
        return {
            "format": FORMAT,
            "made_by": f"siteserve build {__version__}",
            "note": "siteserve build's record of this folder; the next build reads it.",
            "settings": self.settings,
            "files": {rel: list(state) for rel, state in sorted(self.files.items())},
            "sources": [list(source) for source in table],
            "visits": visits,
            "scanned": {rel: list(entry) for rel, entry in sorted(self.scanned.items())},
        }


def read_manifest(path: Path) -> Manifest:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as error:
        raise ManifestError(f"not a siteserve build marker ({error})") from None
    if not isinstance(data, dict) or not str(data.get("made_by", "")).startswith("siteserve"):
        raise ManifestError("not a siteserve build marker")
    if data.get("format") != FORMAT:
        # Another format: the folder is still ours, but nothing in it can be reused.
        return Manifest(files=_files(data))
    try:
        sources = [(str(d), int(s), int(m)) for d, s, m in data.get("sources", [])]
        return Manifest(
            settings=str(data.get("settings", "")),
            files=_files(data),
            visits={
                str(url): VisitRecord.from_json(record, sources)
                for url, record in dict(data.get("visits", {})).items()
            },
            scanned={
                str(rel): (int(size), int(mtime), [str(link) for link in links])
                for rel, (size, mtime, links) in dict(data.get("scanned", {})).items()
            },
        )
    except (KeyError, TypeError, ValueError, IndexError):
        return Manifest(files=_files(data))


def _files(data: dict[str, Any]) -> dict[str, tuple[int, int]]:
    files: dict[str, tuple[int, int]] = {}
    raw = data.get("files", {})
    if isinstance(raw, dict):
        for rel, state in raw.items():
            if isinstance(state, list) and len(state) == 2:
                files[str(rel)] = (int(state[0]), int(state[1]))
    return files


def write_manifest(out: Path, manifest: Manifest) -> None:
    """Write the marker atomically (a new file renamed over the old one)."""
    text = json.dumps(manifest.to_json(), separators=(",", ":"), ensure_ascii=False)
    target = out / MARKER
    temporary = out / (MARKER + ".tmp")
    if temporary.is_symlink():
        temporary.unlink()
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    if target.is_symlink():
        target.unlink()
    os.replace(temporary, target)
