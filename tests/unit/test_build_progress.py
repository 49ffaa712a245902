"""The build's progress: counts made only when a line or a bar is due, and a last one."""

from __future__ import annotations

import io
import time
from pathlib import Path

from siteserve.build.progress import PLAIN_INTERVAL, Counts, PlainProgress
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings


class _Never:
    """A progress that is never due: the build must still hand it the final counts."""

    def __init__(self) -> None:
        self.asked = 0
        self.updates: list[Counts] = []

    def due(self, now: float) -> bool:
        self.asked += 1
        return False

    def update(self, counts: Counts) -> None:
        self.updates.append(Counts(**{name: getattr(counts, name) for name in counts.__slots__}))

    def close(self) -> None:
        pass


def test_a_plain_line_is_due_once_its_interval_has_passed() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)
    now = time.monotonic()
    assert not progress.due(now)
    assert progress.due(now + PLAIN_INTERVAL + 1)
    progress.update(Counts(pages_done=1, pages_known=2))
    assert out.getvalue() == ""  # not due yet: nothing written


def test_counts_are_made_only_when_due_and_once_at_the_end(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "static").mkdir(parents=True)
    for number in range(70):  # more than one batch of copies: the build looks again
        (site / "static" / f"f{number}.txt").write_text(str(number))
    (site / "index.html.jinja").write_text("<a href='/static/f1.txt'>one</a>")
    progress = _Never()
    settings = BuildSettings(root=site, out=tmp_path / "out", jobs=1, clock=1.0)
    report = build_site(settings, progress)
    assert progress.asked >= 1
    assert len(progress.updates) == 1  # the final counts only
    final = progress.updates[0]
    # The copies (siteserve's favicon and highlight.css too) and what was written so far.
    assert final.files_done == final.files_total == report.files_copied >= 70
    assert 0 < final.bytes_done <= report.total_bytes
