"""A temporary content site driven through the Site (resolver, pages, Markdown), no sockets."""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from siteserve.config import build_config
from siteserve.http import Response
from siteserve.site.app import Site
from tests.unit.page_support import body_text, make_request, write_site

LAYOUT = (
    "<!doctype html><title>{{ page.title }}</title>"
    "<main>{{ content }}</main><footer>{{ request.path }}</footer>"
)


class ContentSite:
    def __init__(self, root: Path, *, watched: bool = False, **options: Any) -> None:
        self.root = root
        self.config = build_config(root, **options)
        self.site = Site(self.config, watched=watched)

    def get(self, target: str, **request: Any) -> Response:
        result = self.site.handle(make_request(target, **request))
        if inspect.isawaitable(result):
            return asyncio.run(_wait(result))
        return result

    def text(self, target: str, **request: Any) -> str:
        response = self.get(target, **request)
        assert response.status == 200, (target, response.status, body_text(response)[:300])
        return body_text(response)

    def kind(self, target: str) -> str:
        return self.site.resolver.resolve(target).kind

    def write(self, name: str, text: str) -> None:
        write_site(self.root, {name: text})

    def age(self) -> None:
        """Date every file back a minute: a render of just-written files is never kept
        (``reuse.FRESH_NS``), and the tests of reuse want them kept."""
        then = time.time_ns() - 60 * 10**9
        for path in self.root.rglob("*"):
            os.utime(path, ns=(then, then))


async def _wait(result: Any) -> Response:
    response: Response = await result
    return response


@contextmanager
def content_site(
    root: Path, files: dict[str, str], *, watched: bool = False, **options: Any
) -> Iterator[ContentSite]:
    write_site(root, files)
    site = ContentSite(root, watched=watched, **options)
    try:
        yield site
    finally:
        asyncio.run(site.site.shutdown())
