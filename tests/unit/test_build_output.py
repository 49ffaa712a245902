"""The output folder: the refusals touch nothing, and no write ever leaves OUT.

Temporary folders only. Every refusal is checked against a snapshot of both
folders (names, sizes, mtimes) taken before and after.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from siteserve.build.manifest import MARKER, Manifest, VisitRecord, read_manifest, write_manifest
from siteserve.build.output import (
    BuildRefused,
    FileState,
    OutputError,
    OutputFolder,
    check_folders,
    remove_stale,
    same_mtime,
)


def snapshot(*folders: Path) -> dict[str, tuple[int, int]]:
    seen: dict[str, tuple[int, int]] = {}
    for folder in folders:
        if not folder.exists():
            seen[str(folder)] = (-1, -1)
            continue
        for dirpath, dirnames, filenames in os.walk(folder):
            for name in dirnames + filenames:
                info = os.lstat(os.path.join(dirpath, name))
                seen[os.path.join(dirpath, name)] = (info.st_size, info.st_mtime_ns)
    return seen


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "sub").mkdir(parents=True)
    (root / "index.html").write_text("home")
    return root


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("site/dist", "inside the site folder, where it would be served"),
        ("site/sub/out", "inside the site folder"),
        ("site", "the site folder"),
        (".", "is inside the output folder"),
    ],
)
def test_refused_folders_are_left_as_they_are(
    tmp_path: Path, site: Path, out: str, message: str
) -> None:
    target = (tmp_path / out).resolve()
    before = snapshot(site, target)
    with pytest.raises(BuildRefused, match=message):
        check_folders(site.resolve(), target, force=False)
    with pytest.raises(BuildRefused):
        check_folders(site.resolve(), target, force=True)  # --force never allows these
    assert snapshot(site, target) == before


@pytest.mark.parametrize("name", ["_site", ".out", "_build/deep"])
def test_an_output_folder_inside_the_site_may_be_hidden(site: Path, name: str) -> None:
    assert check_folders(site.resolve(), (site / name).resolve(), force=False) is None


def test_a_non_empty_folder_no_build_made_needs_force(tmp_path: Path, site: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    before = snapshot(out)
    with pytest.raises(BuildRefused, match="not empty and was not made by siteserve build"):
        check_folders(site.resolve(), out, force=False)
    assert snapshot(out) == before
    assert check_folders(site.resolve(), out, force=True) is None


def test_an_output_that_is_a_file_is_refused(tmp_path: Path, site: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("x")
    with pytest.raises(BuildRefused, match="not a folder"):
        check_folders(site.resolve(), out, force=True)


def test_a_marker_makes_the_folder_a_builds_and_carries_the_record(
    tmp_path: Path, site: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").write_text("built")
    record = VisitRecord("page", status=200, out="about.html", links=["/"], folder=("", "d1"))
    write_manifest(out, Manifest(settings="s", files={"index.html": (5, 7)}, visits={"/a": record}))
    manifest = check_folders(site.resolve(), out, force=False)
    assert manifest is not None
    assert manifest.files == {"index.html": (5, 7)}
    assert manifest.visits["/a"] == record
    (out / MARKER).write_text("{not json")
    with pytest.raises(BuildRefused, match="not a siteserve build marker"):
        check_folders(site.resolve(), out, force=False)


def test_a_marker_of_another_format_keeps_only_the_file_list(tmp_path: Path) -> None:
    (tmp_path / MARKER).write_text(
        '{"format": 99, "made_by": "siteserve build 9", "files": {"a.html": [1, 2]}}'
    )
    manifest = read_manifest(tmp_path / MARKER)
    assert manifest.files == {"a.html": (1, 2)} and manifest.visits == {}


# -- writing inside OUT only -------------------------------------------------------------


def test_writes_never_pass_through_a_planted_symlink(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    victim = elsewhere / "victim.html"
    victim.write_text("precious")
    (out / "blog").symlink_to(elsewhere, target_is_directory=True)
    (out / "about.html").symlink_to(victim)
    before = snapshot(elsewhere)
    folder = OutputFolder(out)
    with pytest.raises(OutputError, match="symlink where the build needs a folder"):
        folder.write("blog/post.html", b"post")
    state, written = folder.write("about.html", b"about")
    assert written and state.size == 5
    assert not (out / "about.html").is_symlink() and (out / "about.html").read_bytes() == b"about"
    assert snapshot(elsewhere) == before
    assert not folder.remove("blog/victim.html")  # a symlinked folder: nothing removed there
    assert victim.read_text() == "precious"


def test_paths_must_be_plain_and_relative(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path)
    for bad in ("../x.html", "/etc/passwd", "a//b", "a/./b", ""):
        with pytest.raises(OutputError):
            folder.write(bad, b"x")


def test_an_unchanged_file_keeps_its_mtime(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path)
    _, written = folder.write("a/b.html", b"same")
    assert written
    os.utime(tmp_path / "a" / "b.html", ns=(1, 1_000_000_000))
    again, written = folder.write("a/b.html", b"same")
    assert not written and again.mtime_ns == 1_000_000_000
    _, written = folder.write("a/b.html", b"different")
    assert written and (tmp_path / "a" / "b.html").read_bytes() == b"different"


def test_a_copy_keeps_the_mtime_and_is_skipped_when_unchanged(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(200_000))
    os.utime(source, ns=(1, 1_234_567_891_000))
    folder = OutputFolder(tmp_path / "out")
    folder.ensure_root()
    info = source.stat()
    state, copied = folder.copy(str(source), "x/y.bin", info.st_size, info.st_mtime_ns)
    assert copied and state.mtime_ns == info.st_mtime_ns
    assert (tmp_path / "out" / "x" / "y.bin").read_bytes() == source.read_bytes()
    _, copied = folder.copy(str(source), "x/y.bin", info.st_size, info.st_mtime_ns)
    assert not copied


def _no_lstat(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every lstat from here on: the list of paths looked at."""
    looked: list[str] = []
    real = os.lstat

    def lstat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        looked.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "lstat", lstat)
    return looked


def test_a_new_copy_is_made_without_a_look_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(5_000))
    os.utime(source, ns=(1, 1_234_567_891_000))
    folder = OutputFolder(tmp_path / "out")
    folder.ensure_root()
    info = source.stat()
    looked = _no_lstat(monkeypatch)
    state, copied = folder.copy(str(source), "x/y.bin", info.st_size, info.st_mtime_ns, new=True)
    assert looked == [] and copied and state == FileState(info.st_size, info.st_mtime_ns)
    assert (tmp_path / "out" / "x" / "y.bin").read_bytes() == source.read_bytes()
    assert os.stat(tmp_path / "out" / "x" / "y.bin").st_mtime_ns == info.st_mtime_ns


def test_a_new_copy_looks_at_what_is_there_after_all(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"fresh bytes")
    info = source.stat()
    out = tmp_path / "out"
    folder = OutputFolder(out)
    folder.ensure_root()
    # The same file already there (a build over a folder whose marker was lost): kept.
    folder.copy(str(source), "same.bin", info.st_size, info.st_mtime_ns)
    _, copied = folder.copy(str(source), "same.bin", info.st_size, info.st_mtime_ns, new=True)
    assert not copied
    # Another file: replaced.
    (out / "other.bin").write_bytes(b"old")
    _, copied = folder.copy(str(source), "other.bin", info.st_size, info.st_mtime_ns, new=True)
    assert copied and (out / "other.bin").read_bytes() == b"fresh bytes"
    # A symlink: the link goes, never what it points to.
    target = tmp_path / "outside.txt"
    target.write_bytes(b"not ours")
    (out / "link.bin").symlink_to(target)
    _, copied = folder.copy(str(source), "link.bin", info.st_size, info.st_mtime_ns, new=True)
    assert copied and not (out / "link.bin").is_symlink()
    assert target.read_bytes() == b"not ours" and (out / "link.bin").read_bytes() == b"fresh bytes"
    # A folder: refused, as without the hint.
    (out / "dir.bin").mkdir()
    with pytest.raises(OutputError, match="is a folder where the build writes a file"):
        folder.copy(str(source), "dir.bin", info.st_size, info.st_mtime_ns, new=True)


def test_a_new_copy_of_a_missing_source_leaves_nothing(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path / "out")
    folder.ensure_root()
    with pytest.raises(FileNotFoundError):
        folder.copy(str(tmp_path / "gone.txt"), "gone.txt", 10, 1, new=True)
    assert not (tmp_path / "out" / "gone.txt").exists()


def test_stale_files_go_and_their_empty_folders_with_them(tmp_path: Path) -> None:
    folder = OutputFolder(tmp_path)
    folder.write("old/deep/a.html", b"a")
    folder.write("old/keep.html", b"k")
    (tmp_path / "mine.txt").write_text("not the build's")
    removed = remove_stale(folder, ["old/deep/a.html", "missing.html"])
    assert removed == ["old/deep/a.html"]
    assert not (tmp_path / "old" / "deep").exists() and (tmp_path / "old" / "keep.html").exists()
    assert (tmp_path / "mine.txt").exists()


def test_same_mtime() -> None:
    assert same_mtime(1_000_000_000_123, 1_000_000_000_456)
    assert same_mtime(5_000_000_000, 5_123_456_789)  # a file system that keeps seconds
    assert not same_mtime(5_100_000_000, 5_200_000_000)
