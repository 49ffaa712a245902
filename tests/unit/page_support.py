"""Helpers for the page tests: temporary sites, requests, and renders without sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from siteserve.config import build_config
from siteserve.http import BytesBody, Headers, Request, Response
from siteserve.site.pages import Pages
from siteserve.site.resolver import Resolver


def write_site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


#: A visitor from another machine (the default), and one on this machine, who is
#: shown the full template error page.
LAN_CLIENT = ("192.0.2.7", 50123)
LOCAL_CLIENT = ("127.0.0.1", 50123)


def make_request(
    target: str = "/",
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    scheme: str = "http",
    client: tuple[str, int] = LAN_CLIENT,
) -> Request:
    path, _, query = target.partition("?")
    return Request(
        method,
        target,
        path,
        query,
        Headers([("host", "example.test"), *(headers or [])]),
        client=client,
        scheme=scheme,
        body=BytesBody(body),
    )


class PageSite:
    """A temporary site with its Pages and a Resolver, driven one request at a time."""

    def __init__(self, root: Path, client: tuple[str, int] = LAN_CLIENT, **options: Any) -> None:
        self.client = client
        self.config = build_config(root, **options)
        self.pages = Pages(self.config)
        self.resolver = Resolver(
            self.config.root,
            follow_symlinks=self.config.follow_symlinks,
            render_globs=self.config.render,
        )

    def get(self, target: str, **request: Any) -> Response:
        request.setdefault("client", self.client)
        req = make_request(target, **request)
        resolved = self.resolver.resolve(req.path)
        assert resolved.kind == "page", f"{target} resolved to {resolved}"
        return asyncio.run(self.pages.render(req, resolved))

    def text(self, target: str, **request: Any) -> str:
        response = self.get(target, **request)
        assert isinstance(response.body, bytes)
        return response.body.decode("utf-8")


@contextmanager
def page_site(
    root: Path, files: dict[str, str], client: tuple[str, int] = LAN_CLIENT, **options: Any
) -> Iterator[PageSite]:
    write_site(root, files)
    site = PageSite(root, client, **options)
    try:
        yield site
    finally:
        site.pages.close()


def body_text(response: Response) -> str:
    assert isinstance(response.body, bytes)
    return response.body.decode("utf-8")
