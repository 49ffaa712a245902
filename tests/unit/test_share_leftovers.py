"""What a crash leaves: upload temp files older than the start are swept, once per folder;
a folder that cannot be read is not listed as empty."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from siteserve.config import build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.share.leftovers import LeftoverSweep
from siteserve.share.upload_names import temporary_name
from siteserve.site import listing
from siteserve.site.app import Site


def written_long_ago(path: Path, data: bytes = b"x" * 1000) -> Path:
    """``path`` as a server killed an hour ago left it."""
    if not path.exists():
        path.write_bytes(data)
    when = time.time() - 3600
    os.utime(path, (when, when))
    return path


def test_temp_files_from_before_the_start_are_removed_with_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stale = [written_long_ago(tmp_path / temporary_name()) for _ in range(2)]
    sweep = LeftoverSweep(started=time.time() - 60)
    running = tmp_path / temporary_name()
    running.write_bytes(b"an upload of this server, in progress")
    # Not ours: a file merely named like one, a folder of that shape.
    kept = written_long_ago(tmp_path / "notes.part")
    folder = tmp_path / temporary_name()
    folder.mkdir()
    written_long_ago(folder)
    with caplog.at_level(logging.WARNING, logger="siteserve.share"):
        assert sweep.claim(tmp_path)
        assert sweep.sweep(tmp_path) == 2
    assert not any(path.exists() for path in stale)
    assert running.exists() and kept.exists() and folder.is_dir()
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and "2 unfinished upload(s)" in lines[0] and "2.0 KiB" in lines[0]
    # Once per folder: the next upload into it does not look again.
    assert not sweep.claim(tmp_path)


def test_a_folder_without_leftovers_logs_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.txt").write_text("a")
    with caplog.at_level(logging.DEBUG, logger="siteserve.share"):
        assert LeftoverSweep().sweep(tmp_path) == 0
        assert LeftoverSweep().sweep(tmp_path / "gone") == 0
    assert caplog.records == []


def _get(path: str, accept: str = "text/html") -> Request:
    headers = Headers([("host", "127.0.0.1"), ("accept", accept)])
    return Request("GET", path, path, "", headers)


def test_an_unreadable_folder_is_403_without_an_upload_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As root a chmod 000 folder is still readable, so the refusal is made at the seam
    # the listing reads through; tests/integration/test_crash_leftovers.py makes it real.
    (tmp_path / "locked").mkdir()
    (tmp_path / "open").mkdir()
    real_scandir = os.scandir

    def scandir(path: str | os.PathLike[str]) -> object:
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(listing.os, "scandir", scandir)
    site = Site(build_config(tmp_path, upload=True))
    for accept in ("text/html", "application/json"):
        response = site.handle(_get("/locked/", accept))
        assert isinstance(response, Response)
        assert response.status == 403
        assert isinstance(response.body, bytes) and b'id="upload"' not in response.body
    shown = site.handle(_get("/open/"))
    assert isinstance(shown, Response) and shown.status == 200
    assert isinstance(shown.body, bytes) and b'id="upload"' in shown.body
