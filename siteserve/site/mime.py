"""Content types: our own table first, then Python's built-in table, then octet-stream.

The order matters because the usual fallbacks disagree with browsers: the
``mimetypes`` module answers from /etc/mime.types and, on Windows, from the
registry, where an installed editor can make ``.js`` ``text/plain`` and break
every module script (browsers refuse module scripts with a non-JavaScript type).
"""

from __future__ import annotations

import mimetypes
from functools import lru_cache

# Types a browser or a tool acts on; these are the answers we stand behind.
_OWN_TYPES: dict[str, str] = {
    # Documents
    ".html": "text/html",
    ".htm": "text/html",
    ".xhtml": "application/xhtml+xml",
    ".css": "text/css",
    ".txt": "text/plain",
    ".md": "text/markdown",  # RFC 7763
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".xml": "application/xml",  # RFC 7303 prefers application/xml over text/xml
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".json": "application/json",
    ".jsonld": "application/ld+json",
    ".geojson": "application/geo+json",
    ".map": "application/json",  # source maps are JSON documents
    ".webmanifest": "application/manifest+json",
    ".yaml": "application/yaml",  # RFC 9512
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".ics": "text/calendar",
    ".vtt": "text/vtt",
    ".pdf": "application/pdf",
    ".epub": "application/epub+zip",
    ".rtf": "application/rtf",
    # Office documents, which Python's table (3.11) does not know and a shared
    # folder often holds.
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    # Scripts: RFC 9239 makes text/javascript the one JavaScript type, for all
    # three module flavours.
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".cjs": "text/javascript",
    ".wasm": "application/wasm",
    # ".ts" is registered to MPEG transport streams (video/mp2t), what HLS players
    # request; TypeScript has no registered type and no browser runs it, so the
    # registered answer is the honest one.
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    # Images
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".ico": "image/vnd.microsoft.icon",
    ".bmp": "image/bmp",
    ".apng": "image/apng",
    # Fonts (RFC 8081)
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    # Audio and video
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".ogv": "video/ogg",
    ".mov": "video/quicktime",
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".wav": "audio/wav",
    ".flac": "audio/flac",
    # Archives: served as themselves, never as a Content-Encoding of something else
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".tgz": "application/gzip",
    ".br": "application/octet-stream",
    ".tar": "application/x-tar",
    ".7z": "application/x-7z-compressed",
}

# Beyond the types named here, these suffixes mark a textual type (RFC 6839).
_TEXT_EXACT = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/xml",
        "application/manifest+json",
        "application/yaml",
        "application/toml",
        "image/svg+xml",
        "application/vnd.apple.mpegurl",
    }
)

DEFAULT_TYPE = "application/octet-stream"

_fallback: mimetypes.MimeTypes | None = None


def _python_table() -> mimetypes.MimeTypes:
    """Python's built-in table only.

    A ``MimeTypes`` instance starts from the module's compiled-in defaults and
    reads only the files passed to it; with none, no /etc/mime.types and no
    Windows registry entry can change an answer from one machine to the next.
    """
    global _fallback
    if _fallback is None:
        _fallback = mimetypes.MimeTypes(filenames=())
    return _fallback


def is_textual(media_type: str) -> bool:
    """Whether the type is text a browser decodes, and so should name its charset."""
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_EXACT
        or media_type.endswith(("+json", "+xml"))
    )


def _extension(name: str) -> str:
    dot = name.rfind(".")
    if dot <= 0 or dot < name.rfind("/") + 1:
        # No dot, or a leading dot only (".bashrc"): no extension.
        return ""
    return name[dot:].lower()


@lru_cache(maxsize=512)
def _type_for_extension(extension: str) -> str:
    media_type = _OWN_TYPES.get(extension)
    if media_type is None and extension:
        table = _python_table()
        media_type = table.types_map[True].get(extension) or table.types_map[False].get(extension)
    if media_type is None:
        media_type = DEFAULT_TYPE
    if is_textual(media_type):
        # Every text file we serve is assumed UTF-8: it is what editors write
        # and what the WHATWG encoding standard asks new content to be.
        return media_type + "; charset=utf-8"
    return media_type


def content_type(name: str) -> str:
    """The Content-Type value for a file served under ``name`` (a name or a path)."""
    return _type_for_extension(_extension(name))
