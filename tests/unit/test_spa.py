"""The history fallback's rule (site/spa.py) and its siteserve.toml shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.site.spa import SpaFallback

HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def request(path: str, method: str = "GET", accept: str | None = HTML) -> Request:
    fields = [] if accept is None else [("accept", accept)]
    return Request(method, path, path, "", Headers(fields))


SPA = SpaFallback([("/", "index.html"), ("/admin/", "admin/index.html")])


@pytest.mark.parametrize(
    ("path", "method", "accept", "entry"),
    [
        ("/users/42", "GET", HTML, "/index.html"),
        ("/", "GET", HTML, "/index.html"),
        ("/users/42/", "HEAD", HTML, "/index.html"),
        ("/admin/users", "GET", HTML, "/admin/index.html"),
        ("/admin", "GET", HTML, "/admin/index.html"),
        ("/administrator", "GET", HTML, "/index.html"),
        ("/users/v1.2", "GET", HTML, None),  # an extension: a missing file
        ("/app.js", "GET", HTML, None),
        ("/img/x.png", "GET", "image/avif,image/webp,*/*", None),
        ("/users/42", "POST", HTML, None),
        ("/users/42", "DELETE", HTML, None),
        ("/users/42", "GET", "application/json", None),
        ("/users/42", "GET", "*/*", None),  # fetch() without asking for HTML
        ("/users/42", "GET", "text/html;q=0", None),
        ("/users/42", "GET", None, None),
        ("/__siteserve/nothing", "GET", HTML, None),
    ],
)
def test_which_requests_get_the_entry(
    path: str, method: str, accept: str | None, entry: str | None
) -> None:
    assert SPA.entry_for(request(path, method, accept)) == entry


def test_off_when_no_entries() -> None:
    assert not SpaFallback(())
    assert SpaFallback(()).entry_for(request("/users")) is None


@pytest.mark.parametrize(
    ("toml", "cli", "entries"),
    [
        ("", None, ()),
        ("", True, (("/", "index.html"),)),
        ("spa = true\n", None, (("/", "index.html"),)),
        ('spa = "app.html"\n', None, (("/", "app.html"),)),
        ('[server]\nspa = "/app/main.html"\n', None, (("/", "app/main.html"),)),
        (
            '[spa]\n"/admin/" = "admin/index.html"\n"/" = "index.html"\n',
            None,
            (("/admin/", "admin/index.html"), ("/", "index.html")),
        ),
        ('[spa]\n"/docs" = "docs/app.html"\n', None, (("/docs/", "docs/app.html"),)),
    ],
)
def test_config_shapes(
    tmp_path: Path, toml: str, cli: bool | None, entries: tuple[tuple[str, str], ...]
) -> None:
    (tmp_path / "siteserve.toml").write_text(toml)
    assert build_config(tmp_path, spa=cli).spa == entries


@pytest.mark.parametrize(
    "toml",
    [
        'spa = ".secret.html"\n',
        'spa = "_layouts/app.html"\n',
        'spa = "../outside.html"\n',
        'spa = ""\n',
        "spa = 3\n",
        '[spa]\n"admin" = "admin/index.html"\n',
        '[spa]\n"/admin/" = 1\n',
    ],
)
def test_config_refuses(tmp_path: Path, toml: str) -> None:
    (tmp_path / "siteserve.toml").write_text(toml)
    with pytest.raises(ConfigError):
        build_config(tmp_path)
