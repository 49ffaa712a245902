"""What a server killed mid-upload left behind: its temporary files, swept once per folder.

An upload streams into a hidden temporary file (``upload_names.TEMP_GLOB``)
that is removed when the upload fails; a server killed meanwhile cannot. The
first upload into a folder after a start removes the temporary files there
that were last written before that start, with one line in the log.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

from siteserve import bounds
from siteserve.share.upload_names import is_temporary
from siteserve.sizes import human_size

log = logging.getLogger("siteserve.share")

#: Folders remembered as swept (``bounds``).
MAX_SWEPT_FOLDERS = bounds.SWEPT_FOLDERS


class LeftoverSweep:
    """Removes what uploads cut short by a crash left in a folder, once per folder.

    Only temporary files last written before ``started`` go: an upload running
    now (in this server) always writes its file after that.
    """

    def __init__(self, started: float | None = None) -> None:
        self.started = time.time() if started is None else started
        self._swept: set[Path] = set()

    def claim(self, folder: Path) -> bool:
        """Whether ``folder`` is still to be swept (True once: two uploads at once sweep once)."""
        if folder in self._swept:
            return False
        if len(self._swept) >= MAX_SWEPT_FOLDERS:
            self._swept.clear()
        self._swept.add(folder)
        return True

    def sweep(self, folder: Path) -> int:
        """Remove the leftovers in ``folder`` (blocking: run off the loop); how many went."""
        removed = size = 0
        try:
            with os.scandir(folder) as entries:
                stale = [entry for entry in entries if is_temporary(entry.name)]
        except OSError:
            return 0
        for entry in stale:
            try:
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode) or info.st_mtime >= self.started:
                    continue  # only the plain files uploads write, and not this server's
                os.unlink(entry.path)
            except OSError:
                continue  # gone meanwhile, or not ours to remove
            removed += 1
            size += info.st_size
        if removed:
            log.warning(
                "removed %d unfinished upload(s) (%s) left in %s by a server stopped mid-upload",
                removed,
                human_size(size),
                folder,
            )
        return removed
