"""Copy jobs: a batch copies what it can and names each file it could not; its weight;
which files a build copies as new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from siteserve.build.jobs import CopyFiles, Visit, copy_files
from siteserve.build.output import FileState, OutputFolder
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings
from siteserve.build.workers import COPIES_PER_PAGE, weight
from tests.unit.page_support import write_site


def _spec(path: Path, rel: str) -> tuple[str, str, int, int]:
    info = path.stat()
    return (str(path), rel, info.st_size, info.st_mtime_ns)


def test_a_batch_copies_every_file_it_can_and_names_the_others(tmp_path: Path) -> None:
    site, out = tmp_path / "site", tmp_path / "out"
    site.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (site / name).write_bytes(name.encode() * 100)
    output = OutputFolder(out)
    output.ensure_root()
    (out / "b.txt").mkdir()  # a folder where the copy of b.txt goes
    missing = site / "gone.txt"
    job = CopyFiles(
        (
            _spec(site / "a.txt", "a.txt"),
            _spec(site / "b.txt", "b.txt"),
            (str(missing), "gone.txt", 10, 1),
            _spec(site / "c.txt", "sub/c.txt"),
        )
    )
    outcome = copy_files(output, job)
    assert outcome.copy and outcome.record is None and outcome.written == []
    a, c = (site / "a.txt").stat(), (site / "c.txt").stat()
    assert outcome.copied == [
        ("a.txt", a.st_size, a.st_mtime_ns, True),
        ("sub/c.txt", c.st_size, c.st_mtime_ns, True),
    ]
    assert [error.split(":")[0] for error in outcome.errors] == ["b.txt", "gone.txt"]
    assert "is a folder where the build writes a file" in outcome.errors[0]
    assert (out / "sub" / "c.txt").read_bytes() == (site / "c.txt").read_bytes()
    assert os.stat(out / "a.txt").st_mtime_ns == a.st_mtime_ns
    assert not (out / "gone.txt").exists()


def test_a_batch_keeps_the_copies_that_are_current(tmp_path: Path) -> None:
    site, out = tmp_path / "site", tmp_path / "out"
    site.mkdir()
    (site / "a.txt").write_bytes(b"a" * 50)
    output = OutputFolder(out)
    output.ensure_root()
    job = CopyFiles((_spec(site / "a.txt", "a.txt"),))
    assert [changed for *_, changed in copy_files(output, job).copied] == [True]
    again = copy_files(output, job)
    assert [changed for *_, changed in again.copied] == [False] and again.errors == []


def test_a_copy_batch_weighs_a_page_per_few_files() -> None:
    files = tuple(("/s", f"f{i}", 1, 1) for i in range(64))
    assert weight(CopyFiles(files)) == 64 // COPIES_PER_PAGE
    assert weight(CopyFiles(files[:1])) == 1
    assert weight(CopyFiles(files[: COPIES_PER_PAGE + 1])) == 2
    assert weight(Visit("/")) == 1


def test_only_files_no_earlier_build_wrote_are_copied_as_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = write_site(tmp_path / "site", {"a.txt": "a", "b/c.txt": "c", "index.html": "<p>i</p>"})
    settings = BuildSettings(root=site.resolve(), out=tmp_path / "out", jobs=1, clock=1.0)
    seen: dict[str, bool] = {}
    real = OutputFolder.copy

    def copy(
        self: OutputFolder, source: str, rel: str, size: int, mtime_ns: int, *, new: bool = False
    ) -> tuple[FileState, bool]:
        seen[rel] = new
        return real(self, source, rel, size, mtime_ns, new=new)

    monkeypatch.setattr(OutputFolder, "copy", copy)
    first = build_site(settings)
    # The site's files and siteserve's own (its favicon...): all new to a fresh OUT.
    assert {"a.txt", "b/c.txt", "index.html"} <= set(seen) and set(seen.values()) == {True}
    assert first.files_copied == len(seen)
    earlier = set(seen)
    seen.clear()
    (site / "d.txt").write_text("d")
    report = build_site(settings)
    assert (report.files_copied, report.files_unchanged) == (1, len(earlier))
    assert seen == {**{rel: False for rel in earlier}, "d.txt": True}


def test_planning_a_build_does_not_import_multiprocessing() -> None:
    """A no-change rebuild starts no worker: it does not pay for the import either."""
    probe = "import sys, siteserve.build.run; print('multiprocessing' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"
