"""The one reading of a ``?download`` query, for the sharing layer and the reload injector.

The injector must know before the Site answers whether a file goes out as a
download (its bytes as they are on disk) or as a page (with the reload script);
the sharing layer marks the response ``attachment`` afterwards. Both read the
query here, so they can never disagree.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

#: More fields than this is not a download request (nor anything else we read).
MAX_FIELDS = 20


def download_wanted(query: str) -> str | None:
    """The value of ``download`` in ``query`` (``""`` for a bare ``?download``), or None."""
    if "download" not in query:
        return None
    try:
        fields = parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        return None
    return dict(fields).get("download")
