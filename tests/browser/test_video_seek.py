"""Seeking in an mp4 in Chromium: the media element's Range requests (RFC 9110 section 14).

There is no ffmpeg here, so the test writes its own mp4: an ISO base media file (ftyp,
moov with one sound track, mdat) holding 16-bit big-endian PCM (the ``twos`` sample
entry), which Chromium's mp4 demuxer plays in a <video> element. Five minutes at 8 kHz
is 4.8 MB: large enough that a seek near the end makes a new Range request instead
of reading what is already buffered.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Response

from tests.conftest import RunningServer

pytestmark = pytest.mark.browser

SECONDS = 300
RATE = 8000
DEADLINE_MS = 15_000


def _box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I", 8 + len(body)) + kind + body


def _full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    return _box(kind, struct.pack(">I", (version << 24) | flags), *payload)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def pcm_mp4(seconds: int, rate: int, chunk_frames: int = 4000) -> bytes:
    """A mono 16-bit PCM mp4 (ISO/IEC 14496-12 boxes), moov first so playback starts early."""
    chunks = seconds * rate // chunk_frames
    frames = chunks * chunk_frames
    period = b"".join(
        struct.pack(">h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(rate // 40)
    )
    samples = (period * (frames * 2 // len(period) + 1))[: frames * 2]
    duration_ms = frames * 1000 // rate

    def moov(data_offset: int) -> bytes:
        mvhd = _full_box(
            b"mvhd",
            0,
            0,
            struct.pack(">IIIIIH", 0, 0, 1000, duration_ms, 0x10000, 0x100),
            bytes(10),
            _MATRIX,
            bytes(24),
            struct.pack(">I", 2),
        )
        tkhd = _full_box(
            b"tkhd",
            0,
            3,
            struct.pack(">IIIII", 0, 0, 1, 0, duration_ms),
            bytes(8),
            struct.pack(">hhHH", 0, 0, 0x100, 0),
            _MATRIX,
            struct.pack(">II", 0, 0),
        )
        mdhd = _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, rate, frames, 0x55C4, 0))
        hdlr = _full_box(b"hdlr", 0, 0, bytes(4), b"soun", bytes(12), b"Sound\0")
        entry = _box(
            b"twos",
            bytes(6),
            struct.pack(">HHHIHHHHI", 1, 0, 0, 0, 1, 16, 0, 0, rate << 16),
        )
        offsets = b"".join(
            struct.pack(">I", data_offset + i * chunk_frames * 2) for i in range(chunks)
        )
        stbl = _box(
            b"stbl",
            _full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
            _full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, 1)),
            _full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, chunk_frames, 1)),
            _full_box(b"stsz", 0, 0, struct.pack(">II", 2, frames)),
            _full_box(b"stco", 0, 0, struct.pack(">I", chunks), offsets),
        )
        dinf = _box(
            b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1))
        )
        minf = _box(b"minf", _full_box(b"smhd", 0, 0, bytes(4)), dinf, stbl)
        return _box(b"moov", mvhd, _box(b"trak", tkhd, _box(b"mdia", mdhd, hdlr, minf)))

    ftyp = _box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41")
    data_offset = len(ftyp) + len(moov(0)) + 8  # mdat's payload starts after its header
    return ftyp + moov(data_offset) + _box(b"mdat", samples)


def open_page(browser: Browser, *, cache: bool) -> Page:
    page = browser.new_context().new_page()
    if not cache:
        # Without its HTTP cache, every byte the media element reads comes from the
        # server, so the server's own answers are what the test observes.
        session = page.context.new_cdp_session(page)
        session.send("Network.enable")
        session.send("Network.setCacheDisabled", {"cacheDisabled": True})
    return page


def is_media(response: Response) -> bool:
    return response.url.endswith("/clip.mp4")


def is_later_media(response: Response) -> bool:
    return is_media(response) and response.request.headers.get("range", "bytes=0-") != "bytes=0-"


def wait_until_seeked(page: Page) -> None:
    page.wait_for_function(
        "(() => { const v = document.getElementById('v');"
        " return !v.seeking && v.readyState >= 2; })()",
        timeout=DEADLINE_MS,
    )


def clip_statuses(site: RunningServer, count: int) -> list[int]:
    """The statuses the server logged for the clip, once it has logged ``count`` of them.

    A response is logged when its last byte is written, which can be a moment after
    the browser has what it needs: wait for the log, with a deadline.
    """
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while True:
        statuses = [record.status for record in site.records if record.path == "/clip.mp4"]
        if len(statuses) >= count or time.monotonic() > deadline:
            return statuses
        time.sleep(0.02)


@pytest.fixture
def movie_site(tmp_path: Path, serve_site: Callable[..., RunningServer]) -> RunningServer:
    (tmp_path / "clip.mp4").write_bytes(pcm_mp4(SECONDS, RATE))
    (tmp_path / "index.html").write_text(
        '<!doctype html><video id="v" preload="auto" src="/clip.mp4"></video>'
    )
    return serve_site(tmp_path)


def test_rfc9110_14_video_seek_in_chromium_makes_206_range_requests(
    browser: Browser, movie_site: RunningServer
) -> None:
    page = open_page(browser, cache=False)
    total = (movie_site.config.root / "clip.mp4").stat().st_size

    # The element starts with an open range from byte 0 and gets a 206 for it.
    with page.expect_response(is_media, timeout=DEADLINE_MS) as first_info:
        page.goto(movie_site.url("/index.html"))
    first = first_info.value
    assert first.request.headers.get("range") == "bytes=0-"
    assert first.status == 206
    assert first.headers["content-range"] == f"bytes 0-{total - 1}/{total}"
    assert first.headers["accept-ranges"] == "bytes"
    assert first.headers["content-type"] == "video/mp4"
    page.wait_for_function("document.getElementById('v').readyState >= 1", timeout=DEADLINE_MS)
    assert page.evaluate("document.getElementById('v').duration") == SECONDS

    # Seeking near the end asks for the bytes from there on: a second 206.
    target = SECONDS - 10
    with page.expect_response(is_later_media, timeout=DEADLINE_MS) as seek_info:
        page.evaluate(f"document.getElementById('v').currentTime = {target}")
    seek = seek_info.value
    start = int(seek.request.headers["range"].removeprefix("bytes=").split("-")[0])
    # The data for second `target` lies about target * RATE * 2 bytes into the file.
    assert total // 2 < start <= target * RATE * 2 + 1024
    assert seek.status == 206
    assert seek.headers["content-range"].startswith(f"bytes {start}-")
    assert seek.headers["content-range"].endswith(f"/{total}")
    assert seek.headers["etag"] == first.headers["etag"]

    wait_until_seeked(page)
    assert page.evaluate("document.getElementById('v').currentTime") == target
    assert page.evaluate("document.getElementById('v').error") is None
    statuses = clip_statuses(movie_site, 2)
    assert len(statuses) >= 2 and set(statuses) == {206}
    page.context.close()


def test_rfc9110_13_2_2_video_seek_with_the_browser_cache_revalidates_ranges(
    browser: Browser, movie_site: RunningServer
) -> None:
    """With its cache, Chromium checks a stored part with If-None-Match plus Range.

    A matching tag answers 304 before the Range is looked at (RFC 9110 section 13.2.2,
    step 3 before step 5), and the browser plays the part it holds.
    """
    page = open_page(browser, cache=True)
    conditional: list[bool] = []
    page.on(
        "request",
        lambda request: (
            conditional.append("if-none-match" in request.all_headers())
            if request.url.endswith("/clip.mp4")
            else None
        ),
    )
    with page.expect_response(is_media, timeout=DEADLINE_MS):
        page.goto(movie_site.url("/index.html"))
    page.wait_for_function("document.getElementById('v').readyState >= 1", timeout=DEADLINE_MS)
    target = SECONDS - 10
    with page.expect_response(is_later_media, timeout=DEADLINE_MS) as seek_info:
        page.evaluate(f"document.getElementById('v').currentTime = {target}")
    assert seek_info.value.status == 206  # what the page sees, from the server or the cache
    wait_until_seeked(page)
    assert page.evaluate("document.getElementById('v').currentTime") == target
    assert page.evaluate("document.getElementById('v').error") is None
    statuses = clip_statuses(movie_site, len(conditional))
    assert statuses[0] == 206
    assert len(statuses) == len(conditional)
    for was_conditional, status in zip(conditional, statuses, strict=True):
        assert status == (304 if was_conditional else 206)
    page.context.close()
