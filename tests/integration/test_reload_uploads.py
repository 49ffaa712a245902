"""An upload with live reload on: the server's own writes are not changes.

While an upload streams into its hidden temporary file, the watcher sees every
block written; none of it may become a change set, and no request may wait for
one. Once the upload is placed under its name, that is the one change.
"""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import httpx

from siteserve.reload.app import ReloadApp
from siteserve.reload.changes import ChangeSet
from siteserve.share.upload_names import is_temporary
from siteserve.share.uploads import WRITE_BLOCK
from tests.conftest import RunningServer, find_layer
from tests.integration.waiting import DEADLINE, until

#: Pieces the client sends the upload's data in. Each is two of the server's write
#: blocks, so each makes the server write to disk at least once (the watcher sees it).
PIECES = 4


def written(folder: Path) -> int:
    """Bytes in the upload's temporary file so far (0 before it exists)."""
    sizes = [path.stat().st_size for path in folder.iterdir() if is_temporary(path.name)]
    return max(sizes, default=0)


def test_requests_during_an_upload_are_answered_and_the_upload_is_one_change(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    root = tmp_path / "site"
    (root / "inbox").mkdir(parents=True)
    (root / "small.txt").write_text("small and quick")
    server = serve_site(root, reload=True, upload=True, quiet=True)
    reload = find_layer(server.app, ReloadApp)
    changes: list[ChangeSet] = []
    lock = threading.Lock()

    def record(change: ChangeSet) -> None:
        with lock:
            changes.append(change)

    reload.listeners.append(record)

    boundary = b"sl0w"
    opening = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="video.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    closing = b"\r\n--" + boundary + b"--\r\n"
    piece = b"v" * (2 * WRITE_BLOCK)
    length = len(opening) + PIECES * len(piece) + len(closing)
    head = (
        b"POST /inbox/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
        b"Content-Type: multipart/form-data; boundary=" + boundary + b"\r\n"
        b"Content-Length: " + str(length).encode() + b"\r\n\r\n"
    )
    inbox = root / "inbox"
    answered = 0
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as upload,
        httpx.Client(base_url=server.base_url, timeout=DEADLINE) as client,
    ):
        upload.sendall(head + opening)
        # The body goes in pieces: after each, the server writes to disk (the watcher
        # sees it) while the client holds the rest back.
        for number in range(1, PIECES):
            before = written(inbox)
            upload.sendall(piece)
            until(lambda: written(inbox) > before, f"piece {number} on disk")  # noqa: B023
            for _ in range(3):
                response = client.get("/small.txt")
                assert response.status_code == 200
                assert response.content == b"small and quick"
                answered += 1
            # Still in progress: the upload has no answer yet, and nothing counted as a change.
            assert select.select([upload], [], [], 0)[0] == []
            with lock:
                assert changes == []
        upload.sendall(piece + closing)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.endswith(b"}"):
            data = upload.recv(65536)
            assert data, f"the upload's answer was cut short: {reply!r}"
            reply += data
    assert answered == 3 * (PIECES - 1)
    assert reply.startswith(b"HTTP/1.1 201 ")
    created = json.loads(reply.partition(b"\r\n\r\n")[2])["created"]
    assert [item["name"] for item in created] == ["video.bin"]
    final = inbox / "video.bin"
    assert final.stat().st_size == PIECES * len(piece)

    # The placed file is one change; anything else the upload caused would come before
    # the change set of a later edit.
    until(lambda: any(final in change.paths for change in changes), "the upload's change")
    marker = root / "marker.txt"
    marker.write_text("after the upload")
    until(lambda: any(marker in change.paths for change in changes), "the marker's change")
    with lock:
        assert [change.paths for change in changes] == [{final}, {marker}]
