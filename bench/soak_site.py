"""The soak's site, the versions its editor writes, and the check of every body against them.

Fixed files never change: a body of one must be exactly its bytes (or the range asked
for, or those bytes coded). Edited files are rewritten, renamed over and deleted all
the time; each version's bytes say which version they are (16-byte records
``VVVVVVVV:IIIIII\\n``: version, record number), so a body, or any part of one that
holds a whole record, tells which version it came from. A body must then be bytes of
one version, of the length its head says, and its ETag must name that version and no
other (the editor notes each ETag it produced, and the version it wrote under it).
"""

from __future__ import annotations

import functools
import gzip
import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import brotli

from siteserve.site.file_version import make_etag

KIB = 1024
MIB = 1024 * KIB
RECORD = 16
_RECORD_TEMPLATE = b"VVVVVVVV:%06d\n"


@functools.lru_cache(maxsize=64)
def _template(size: int) -> bytes:
    return b"".join(_RECORD_TEMPLATE % index for index in range(size // RECORD))


@functools.lru_cache(maxsize=64)
def version_bytes(version: int, size: int) -> bytes:
    """The bytes of ``version`` of an edited file of ``size`` bytes."""
    return _template(size).replace(b"VVVVVVVV", b"%08d" % version)


_RECORD = re.compile(rb"(\d{8}):\d{6}\n")


def version_at(data: bytes, offset: int) -> int | None:
    """The version the first whole record of ``data`` (found at ``offset`` of the file) names."""
    start = (-offset) % RECORD
    match = _RECORD.match(data, start, start + RECORD)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Site:
    root: Path
    #: URL path -> bytes of every file that never changes.
    fixed: dict[str, bytes]
    #: URL path -> size of every edited file.
    edited: dict[str, int]
    probe: str = "/probe.txt"
    zip_folder: str = "/zipme/"
    uploads: str = "/uploads/"


def make_site(root: Path, seed: int = 16) -> Site:
    """Small text, medium scripts, large binaries, a folder to zip, edited files, a page."""
    rng = random.Random(seed)
    words = [
        bytes(rng.choices(b"abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9))) for _ in range(300)
    ]

    def text(size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            out += b" ".join(rng.choices(words, k=12)) + b"\n"
        return bytes(out[:size])

    fixed: dict[str, bytes] = {"/probe.txt": text(KIB)}
    for number in range(20):
        fixed[f"/files/small-{number}.txt"] = text(rng.randint(KIB, 8 * KIB))
    for number in range(5):
        fixed[f"/files/medium-{number}.js"] = text(100 * KIB)
    for number in range(3):
        fixed[f"/files/large-{number}.bin"] = rng.randbytes(2 * MIB)
    for number in range(30):
        fixed[f"/zipme/part-{number}.txt"] = text(100 * KIB)
    fixed["/index.html"] = (
        b"<!doctype html><html><head><title>soak</title></head>"
        b"<body><p>the soak's page</p></body></html>"
    )
    for url, data in fixed.items():
        path = root / url.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (root / "uploads").mkdir()
    edited = {"/edit/edited.txt": 16 * KIB, "/edit/edited.bin": MIB}
    for url, size in edited.items():
        path = root / url.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(version_bytes(0, size))
    return Site(root, fixed, edited)


class Editor(threading.Thread):
    """Every ``interval`` seconds writes a new version of each edited file, in turn by
    rewrite in place (truncate, write), by rename over it (an editor's atomic save), and
    by delete (one of the files; the next turn creates it again)."""

    MODES = ("rewrite", "rename", "rewrite", "rename", "delete")

    def __init__(self, site: Site, interval: float = 0.2) -> None:
        super().__init__(name="soak-editor", daemon=True)
        self.site = site
        self.interval = interval
        self.stop = threading.Event()
        self.version = 0
        self.edits: Counter[str] = Counter()
        #: ETag -> version written under it; None when two versions got one tag (the
        #: clock did not move between two writes of one inode: the tag proves nothing).
        self.tags: dict[str, int | None] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        turn = 0
        while not self.stop.wait(self.interval):
            self.version += 1
            mode = self.MODES[turn % len(self.MODES)]
            turn += 1
            for number, (url, size) in enumerate(self.site.edited.items()):
                path = self.site.root / url.lstrip("/")
                if mode == "delete":
                    # One file of the two per turn, in turn: a person deleting a file.
                    if number == (turn // len(self.MODES)) % len(self.site.edited):
                        path.unlink(missing_ok=True)
                        self.edits["delete"] += 1
                    continue
                data = version_bytes(self.version, size)
                if mode == "rename":
                    temporary = path.with_name(f".{path.name}.{self.version}.tmp")
                    temporary.write_bytes(data)
                    os.replace(temporary, path)
                else:
                    path.write_bytes(data)
                self.edits[mode] += 1
                info = path.stat()
                tag = make_etag(info.st_ino, info.st_size, info.st_mtime_ns)
                with self._lock:
                    known = self.tags.get(tag, self.version)
                    self.tags[tag] = self.version if known == self.version else None

    def version_of(self, tag: str) -> int | None:
        with self._lock:
            return self.tags.get(tag)


@dataclass
class Answer:
    """One response as the client read it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Verdicts:
    """What the checks found, counted; the first few wrong ones described."""

    counts: Counter[str] = field(default_factory=Counter)
    wrong_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: (identity ETag, version) of every whole body of an edited file.
    tagged: set[tuple[str, int]] = field(default_factory=set)

    def note(self, url: str, why: str) -> None:
        """Something worth a line that is not a wrong body (a request without an answer)."""
        self.counts["noted"] += 1
        if len(self.notes) < 10:
            self.notes.append(f"{time.strftime('%H:%M:%S')} {url}: {why}")

    def wrong(self, url: str, why: str) -> None:
        self.counts["wrong"] += 1
        if len(self.wrong_examples) < 20:
            self.wrong_examples.append(f"{time.strftime('%H:%M:%S')} {url}: {why}")

    def check_tags(self, editor: Editor) -> None:
        """Every whole body of an edited file holds the version its ETag was written as."""
        for tag, version in self.tagged:
            written = editor.version_of(tag)
            if written is None:
                continue
            self.counts["tags checked"] += 1
            if written != version:
                self.wrong(tag, f"ETag names version {written}, body is version {version}")


def decoded(answer: Answer) -> bytes:
    coding = answer.headers.get("content-encoding")
    if coding == "gzip":
        return gzip.decompress(answer.body)
    if coding == "br":
        return bytes(brotli.decompress(answer.body))
    return answer.body


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")
_PART_RANGE = re.compile(rb"Content-Range: bytes (\d+)-(\d+)/(\d+)")


def pieces_of(answer: Answer) -> tuple[dict[int, bytes], int] | str:
    """The body as (offset -> bytes, total size of the file), or what is wrong with it."""
    if answer.status == 200:
        body = decoded(answer)
        return {0: body}, len(body)
    content_type = answer.headers.get("content-type", "")
    if "multipart/byteranges" not in content_type:
        found = _CONTENT_RANGE.fullmatch(answer.headers.get("content-range", ""))
        if found is None:
            return "206 without a Content-Range"
        first, last, total = (int(group) for group in found.groups())
        if last - first + 1 != len(answer.body):
            return "Content-Range and body length differ"
        return {first: answer.body}, total
    boundary = content_type.partition("boundary=")[2].encode()
    pieces: dict[int, bytes] = {}
    totals = set()
    for part in answer.body.split(b"--" + boundary)[1:-1]:
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        found_part = _PART_RANGE.search(head)
        if found_part is None:
            return "a part without a Content-Range"
        first, last, total = (int(group) for group in found_part.groups())
        if last - first + 1 != len(data):
            return "a part's Content-Range and length differ"
        pieces[first] = data
        totals.add(total)
    if len(totals) != 1:
        return "parts of different totals"
    return pieces, totals.pop()


def tag_size(etag: str) -> int | None:
    """The file size our ETags carry (``"inode-size-mtime"``, maybe ``-gz``/``-br``)."""
    fields = etag.strip('W/"').split("-")
    try:
        return int(fields[1], 16)
    except (IndexError, ValueError):
        return None


def identity_tag(etag: str) -> str:
    for suffix in ('-gz"', '-br"'):
        if etag.endswith(suffix):
            return etag.removesuffix(suffix) + '"'
    return etag


def check_fixed(verdicts: Verdicts, url: str, expected: bytes, answer: Answer) -> None:
    if answer.status == 304:
        verdicts.counts["304"] += 1
        return
    if answer.status not in (200, 206):
        verdicts.wrong(url, f"status {answer.status} for a file that never changes")
        return
    pieces = pieces_of(answer)
    if isinstance(pieces, str):
        verdicts.wrong(url, pieces)
        return
    parts, total = pieces
    if total != len(expected):
        verdicts.wrong(url, f"total {total}, the file has {len(expected)}")
    for offset, data in parts.items():
        if data != expected[offset : offset + len(data)]:
            verdicts.wrong(url, f"bytes at {offset} are not the file's")
            return
    verdicts.counts["right"] += 1


def check_edited(verdicts: Verdicts, url: str, size: int, answer: Answer) -> None:
    """A body of a file being edited: bytes of one version, as its head says."""
    if answer.status in (304, 404, 503):
        verdicts.counts[str(answer.status)] += 1  # not modified; deleted just now; busy
        return
    if answer.status == 416:
        verdicts.counts["416 (caught empty)"] += 1  # between truncate and write
        return
    if answer.status not in (200, 206):
        verdicts.wrong(url, f"status {answer.status}")
        return
    pieces = pieces_of(answer)
    if isinstance(pieces, str):
        verdicts.wrong(url, pieces)
        return
    parts, total = pieces
    etag = answer.headers.get("etag", "")
    if tag_size(etag) != total:
        verdicts.wrong(url, f"ETag {etag} is of another length than {total}")
        return
    if total == 0:
        verdicts.counts["right (caught empty)"] += 1
        return
    versions = {version_at(data, offset) for offset, data in parts.items()} - {None}
    if len(versions) != 1:
        verdicts.wrong(url, f"bytes of versions {sorted(v for v in versions if v is not None)}")
        return
    version = versions.pop()
    assert version is not None
    expected = version_bytes(version, size)
    for offset, data in parts.items():
        if data != expected[offset : offset + len(data)]:
            verdicts.wrong(url, f"bytes at {offset} mix versions ({version} and others)")
            return
    if total == size:
        verdicts.counts["right"] += 1
        verdicts.tagged.add((identity_tag(etag), version))
    else:
        verdicts.counts["right (caught half-written)"] += 1
