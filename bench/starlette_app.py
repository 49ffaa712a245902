"""The starlette side of bench.asgi: StaticFiles for the folder, Jinja2Templates for the page.

    BENCH_SITE=FOLDER uvicorn bench.starlette_app:app

What a Python developer would write to serve the same generated folder with
starlette: the page route renders the same ``page.html.jinja`` with the same
data (read once, at import), autoescaped as siteserve escapes it, and every
other path is a file from ``StaticFiles``. starlette is a bench-only
dependency (``pip install starlette``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bench.sitegen import PAGE_NAME

ROOT = Path(os.environ["BENCH_SITE"])
ITEMS = ROOT / "_data" / "items.json"
# bench.static serves a folder of files only, which has no page data.
DATA = {"items": json.loads(ITEMS.read_text())} if ITEMS.exists() else {}
# siteserve escapes every HTML page; select_autoescape() would leave *.html.jinja alone.
TEMPLATES = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT), autoescape=True)
)


class PageRequest(Request):
    """The template reads ``request.args`` (siteserve's and Flask's name for the query)."""

    @property
    def args(self) -> dict[str, str]:
        return dict(self.query_params)


async def page(request: Request) -> Response:
    return TEMPLATES.TemplateResponse(
        PageRequest(request.scope, request.receive), f"{PAGE_NAME}.jinja", {"data": DATA}
    )


app = Starlette(
    routes=[Route("/page", page), Mount("/", StaticFiles(directory=ROOT))],
)
