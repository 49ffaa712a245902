"""HTTP/1.1 as bytes in, requests out; responses out as bytes.

Nothing here knows about sockets or files: the server layer feeds bytes and
hands the encoded responses to a transport. httptools is imported here only.
"""

from __future__ import annotations

from siteserve.http.headers import Headers
from siteserve.http.request import Body, BytesBody, Request
from siteserve.http.response import (
    Channel,
    FileBody,
    Response,
    UpgradedConnection,
    UpgradeHandler,
)

__all__ = [
    "Body",
    "BytesBody",
    "Channel",
    "FileBody",
    "Headers",
    "Request",
    "Response",
    "UpgradeHandler",
    "UpgradedConnection",
]
