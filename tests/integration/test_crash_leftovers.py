"""Crash leftovers on a real server: stale upload temp files are swept, an unreadable
folder answers 403 (and offers no upload form)."""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from siteserve.share.upload_names import is_temporary, temporary_name
from tests.conftest import RunningServer

DEADLINE = 15.0
LOCAL_URL = re.compile(r"Local +(http://127\.0\.0\.1:\d+/)")
UPLOAD_FORM = b'id="upload"'


def test_the_first_upload_into_a_folder_removes_what_a_crash_left_there(
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = tmp_path / "site"
    inbox = root / "inbox"
    inbox.mkdir(parents=True)
    # A server killed an hour ago, in the middle of an upload.
    leftover = inbox / temporary_name()
    leftover.write_bytes(b"half a video" * 1000)
    hour_ago = time.time() - 3600
    os.utime(leftover, (hour_ago, hour_ago))
    server = serve_site(root, upload=True)
    with caplog.at_level(logging.WARNING, logger="siteserve.share"):
        for name in ("a.txt", "b.txt"):
            response = httpx.post(
                server.url("/inbox/"),
                files={"file": (name, b"new")},
                headers={"Accept": "application/json"},
                timeout=DEADLINE,
            )
            assert response.status_code == 201
    assert sorted(path.name for path in inbox.iterdir()) == ["a.txt", "b.txt"]
    assert not any(is_temporary(path.name) for path in inbox.iterdir())
    lines = [r.getMessage() for r in caplog.records if r.name == "siteserve.share"]
    assert len(lines) == 1 and "1 unfinished upload(s)" in lines[0] and str(inbox) in lines[0]


# -- an unreadable folder, for real ------------------------------------------------------


def _without_root_powers() -> list[str]:
    """A command prefix that runs a program as this user but without the capabilities
    that let root read any folder (a chmod 000 folder is then refused, as for anyone)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: tests/unit covers the 403 at the seam")
    dropped = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={dropped}", f"--bounding-set={dropped}"]


@pytest.fixture
def siteserve_process(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start ``siteserve ARGS`` in a process; the URL from its banner. Stopped by PID."""
    processes: list[subprocess.Popen[str]] = []

    def start(*args: str) -> str:
        env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
        process = subprocess.Popen(
            [*_without_root_powers(), sys.executable, "-m", "siteserve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        processes.append(process)
        lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                lines.put(line)
            lines.put(None)

        threading.Thread(target=read, daemon=True).start()
        end = time.monotonic() + DEADLINE
        seen: list[str] = []
        while time.monotonic() < end:
            try:
                line = lines.get(timeout=max(0.01, end - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            match = LOCAL_URL.search(line)
            if match:
                return match.group(1)
        raise AssertionError("siteserve did not start:\n" + "".join(seen))

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(DEADLINE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(DEADLINE)
        if process.stdout is not None:
            process.stdout.close()


def test_an_unreadable_folder_is_403_and_offers_no_upload(
    tmp_path: Path, siteserve_process: Callable[..., str]
) -> None:
    root = tmp_path / "site"
    locked = root / "locked"
    locked.mkdir(parents=True)
    (locked / "secret.txt").write_text("never listed")
    (root / "open").mkdir()
    locked.chmod(0)
    try:
        url = siteserve_process(str(root), "--port", "0", "--upload", "--no-reload")
        with httpx.Client(base_url=url, timeout=DEADLINE) as client:
            shown = client.get("/open/")
            assert shown.status_code == 200 and UPLOAD_FORM in shown.content
            refused = client.get("/locked/")
            assert refused.status_code == 403
            assert UPLOAD_FORM not in refused.content and b"secret" not in refused.content
            assert client.get("/locked/", headers={"Accept": "application/json"}).status_code == 403
    finally:
        locked.chmod(0o755)
