"""siteserve: serve a site folder with exact HTTP, Jinja pages and live reload."""

from __future__ import annotations

__version__ = "0.1.0"
