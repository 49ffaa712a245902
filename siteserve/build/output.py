"""The output folder: when a build may use it, and writing inside it and nowhere else.

Refused, before anything is touched (one line each, exit status 2):

- OUT inside the site folder, where it would be served and watched, unless a
  part of its path starts with ``_`` or ``.`` (never served);
- the site folder inside OUT (or the same folder);
- OUT that is not a folder, or a non-empty folder that no earlier
  ``siteserve build`` made (it has no marker file), unless ``--force``.

Every write goes through ``OutputFolder``: a path is relative, made of plain
names, and never passes through a symlink (folders are checked as they are
made, files are opened with ``O_NOFOLLOW``), so a link planted in OUT cannot
send a write elsewhere. A symlink found where a file goes is removed (that
removes the link, never what it points to).
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from siteserve.build.manifest import MARKER, Manifest, ManifestError, read_manifest

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_READ = os.O_RDONLY | _CLOEXEC | _BINARY
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY
#: mtimes closer than this are the same (file systems keep different precisions).
_MTIME_SLACK_NS = 1_000_000


class BuildRefused(Exception):
    """A build that must not start: the message is the one line the CLI prints (exit 2)."""


class OutputError(Exception):
    """A write the build cannot make (a folder of OUT is in the way of a file)."""


@dataclass(frozen=True, slots=True)
class FileState:
    size: int
    mtime_ns: int


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


def check_folders(root: Path, out: Path, *, force: bool) -> Manifest | None:
    """Refuse a build that would harm either folder; answer the earlier build's manifest.

    ``root`` and ``out`` are absolute with symlinks resolved (``out`` may not exist).
    """
    if _inside(root, out):
        what = "is" if root == out else "is inside"
        raise BuildRefused(f"the site folder {root} {what} the output folder {out}")
    if _inside(out, root):
        parts = out.relative_to(root).parts
        if not any(part.startswith(("_", ".")) for part in parts):
            raise BuildRefused(
                f"the output folder {out} is inside the site folder, where it would be served;"
                f" give it a name starting with _ (-o {root / ('_' + out.name)}) or put it"
                " outside the site"
            )
    if not out.exists():
        return None
    if not out.is_dir():
        raise BuildRefused(f"the output {out} is not a folder")
    marker = out / MARKER
    if marker.is_file() and not marker.is_symlink():
        try:
            return read_manifest(marker)
        except ManifestError as error:
            if not force:
                raise BuildRefused(f"{marker}: {error}; use --force to build over it") from None
            return None
    with os.scandir(out) as entries:
        empty = next(entries, None) is None
    if not force and not empty:
        raise BuildRefused(
            f"the output folder {out} is not empty and was not made by siteserve build;"
            " choose another folder or use --force"
        )
    return None


#: What a relative path of plain names never holds: an empty, "." or ".." part, NUL.
_NOT_PLAIN = re.compile(r"(?:^|/)\.{0,2}(?:/|$)|\x00")


def is_relative_file_path(rel: str) -> bool:
    return bool(rel) and _NOT_PLAIN.search(rel) is None


class OutputFolder:
    """Writes under one folder, never through a symlink and never outside it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_text = str(root)
        self._ready: set[str] = set()

    def path_of(self, rel: str) -> str:
        if not is_relative_file_path(rel):
            raise OutputError(f"not a path inside the output folder: {rel!r}")
        if os.sep == "/":
            return f"{self._root_text}/{rel}"
        return os.path.join(self._root_text, *rel.split("/"))

    def ensure_root(self) -> None:
        os.makedirs(self._root_text, exist_ok=True)
        if os.path.islink(self._root_text) and not os.path.isdir(self._root_text):
            raise OutputError(f"{self.root} is a broken symlink")

    def _ensure_parent(self, rel: str) -> None:
        folders = rel.split("/")[:-1]
        current = self._root_text
        done = ""
        for name in folders:
            done = f"{done}/{name}" if done else name
            current = os.path.join(current, name)
            if done in self._ready:
                continue
            try:
                os.mkdir(current)
            except FileExistsError:
                info = os.lstat(current)
                if not stat.S_ISDIR(info.st_mode):
                    kind = "symlink" if stat.S_ISLNK(info.st_mode) else "file"
                    raise OutputError(
                        f"{current} is a {kind} where the build needs a folder"
                    ) from None
            self._ready.add(done)

    def state(self, rel: str) -> FileState | None:
        """Size and mtime of the regular file at ``rel``; None when there is none."""
        try:
            info = os.lstat(self.path_of(rel))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return FileState(info.st_size, info.st_mtime_ns)

    def _open_for_writing(self, rel: str) -> int:
        self._ensure_parent(rel)
        path = self.path_of(rel)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC | _BINARY
        try:
            return os.open(path, flags, 0o644)
        except OSError as error:
            if error.errno == errno.ELOOP or (error.errno == errno.EEXIST and os.path.islink(path)):
                os.unlink(path)  # a symlink where our file goes: the link goes, not its target
                return os.open(path, flags, 0o644)
            if error.errno == errno.EISDIR:
                raise OutputError(f"{path} is a folder where the build writes a file") from None
            raise

    def _create(self, rel: str) -> int | None:
        """A descriptor of a new, empty file at ``rel`` in one call; None when something
        (a file, a link, a folder) is there already, for the caller to look at."""
        self._ensure_parent(rel)
        try:
            return os.open(self.path_of(rel), _NEW_FILE, 0o644)
        except FileExistsError:
            return None

    def write(self, rel: str, data: bytes) -> tuple[FileState, bool]:
        """Write ``data`` at ``rel`` unless the file already holds exactly that.

        Answers the file's state and whether it was written (an unchanged file keeps
        its mtime, so a deploy tool that compares dates sends nothing for it).
        """
        fd = self._create(rel)
        if fd is None:
            current = self.state(rel)
            if current is not None and current.size == len(data) and self._holds(rel, data):
                return current, False
            fd = self._open_for_writing(rel)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            info = os.fstat(fd)
        finally:
            os.close(fd)
        return FileState(info.st_size, info.st_mtime_ns), True

    def _holds(self, rel: str, data: bytes) -> bool:
        try:
            fd = os.open(self.path_of(rel), os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY)
        except OSError:
            return False
        try:
            with os.fdopen(fd, "rb", closefd=False) as handle:
                return handle.read(len(data) + 1) == data
        finally:
            os.close(fd)

    def copy(
        self, source: str, rel: str, size: int, mtime_ns: int, *, new: bool = False
    ) -> tuple[FileState, bool]:
        """Copy ``source`` to ``rel`` unless the copy there has its size and mtime already.

        The copy keeps the source's mtime, so "unchanged since the last build" is
        exactly that comparison. It uses the kernel's own copy (``copy_file_range``,
        which clones on file systems that can, then ``sendfile``), never a Python loop
        unless both are missing.

        ``new``: no earlier build wrote ``rel``, so the file is most likely not there;
        it is then created without looking first (one ``lstat`` less per file in a fresh
        OUT), and looked at only when something is there after all.
        """
        # Bare descriptors: no buffered reader (its fstat, isatty and lseek) for the kernel's copy.
        if new:
            src = os.open(source, _READ)  # first: a source gone leaves no empty copy behind
            try:
                fd = self._create(rel)
                if fd is not None:
                    return _fill(src, fd), True
            finally:
                os.close(src)
        current = self.state(rel)
        if current is not None and current.size == size and same_mtime(current.mtime_ns, mtime_ns):
            return current, False
        src = os.open(source, _READ)
        try:
            return _fill(src, self._open_for_writing(rel)), True
        finally:
            os.close(src)

    def remove(self, rel: str) -> bool:
        """Remove the file (or stray symlink) at ``rel``; never a folder, never a link's target."""
        path = self.path_of(rel)
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if stat.S_ISDIR(info.st_mode):
            return False
        expected = os.path.join(os.path.realpath(self._root_text), *rel.split("/")[:-1])
        if os.path.realpath(os.path.dirname(path)) != expected:
            return False  # a folder on the way is a symlink now: leave it be
        os.unlink(path)
        return True

    def prune_empty_folders(self, rels: list[str]) -> None:
        """Remove the folders of ``rels`` that are empty now, deepest first, never OUT itself."""
        folders: set[str] = set()
        for rel in rels:
            parts = rel.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                folders.add("/".join(parts[:depth]))
        for folder in sorted(folders, key=lambda name: name.count("/"), reverse=True):
            path = os.path.join(self._root_text, *folder.split("/"))
            try:
                if not os.path.islink(path):
                    os.rmdir(path)
            except OSError:
                continue  # not empty, or gone
            self._ready.discard(folder)


def same_mtime(a: int, b: int) -> bool:
    if abs(a - b) < _MTIME_SLACK_NS:
        return True
    # A file system that keeps whole seconds (FAT, some network mounts) truncates them.
    return (a % 1_000_000_000 == 0 or b % 1_000_000_000 == 0) and a // 10**9 == b // 10**9


def _fill(src: int, fd: int) -> FileState:
    """Copy the file open at ``src`` into ``fd`` with its mtime, close ``fd``; its state."""
    try:
        info = os.fstat(src)
        _copy_fd(src, fd, info.st_size)
        os.utime(fd, ns=(info.st_atime_ns, info.st_mtime_ns))
    finally:
        os.close(fd)
    return FileState(info.st_size, info.st_mtime_ns)


def _copy_fd(src: int, dst: int, size: int) -> None:
    copy_range = getattr(os, "copy_file_range", None)
    remaining = size
    if copy_range is not None:
        try:
            while remaining > 0:
                sent = copy_range(src, dst, remaining)
                if sent == 0:
                    break
                remaining -= sent
            if remaining <= 0:
                return
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                raise
    offset = size - remaining
    os.lseek(src, offset, os.SEEK_SET)
    os.lseek(dst, offset, os.SEEK_SET)
    os.ftruncate(dst, offset)
    sendfile = getattr(os, "sendfile", None)
    if sendfile is not None:
        try:
            while remaining > 0:
                sent = sendfile(dst, src, offset, remaining)
                if sent == 0:
                    break
                offset += sent
                remaining -= sent
            return
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSOCK, errno.EOPNOTSUPP):
                raise
            os.lseek(src, offset, os.SEEK_SET)
            os.lseek(dst, offset, os.SEEK_SET)
    with (
        os.fdopen(src, "rb", closefd=False) as reader,
        os.fdopen(dst, "wb", closefd=False) as writer,
    ):
        shutil.copyfileobj(reader, writer)


def remove_stale(folder: OutputFolder, stale: list[str]) -> list[str]:
    """Remove what an earlier build wrote and this one did not; answer what was removed."""
    removed = [rel for rel in sorted(stale) if is_relative_file_path(rel) and folder.remove(rel)]
    folder.prune_empty_folders(removed)
    return removed
