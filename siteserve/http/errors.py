"""Protocol errors: a request the server answers with a 4xx/5xx and then closes."""

from __future__ import annotations


class ProtocolError(Exception):
    """The bytes on the wire cannot be served; answer ``status`` and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
