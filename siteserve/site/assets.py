"""The server's own pages and assets, read from the ``siteserve.templates`` package.

They ship inside the wheel (``templates/`` is mapped to ``siteserve.templates``),
so ``importlib.resources`` finds them in a wheel, an editable install and a zip
alike. This environment renders only our pages; a site's own templates live in
a separate environment that never sees these, and the other way round.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import jinja2

PACKAGE = "siteserve.templates"


@cache
def read_bytes(name: str) -> bytes:
    """An asset's bytes; cached because our own files never change while we run."""
    return resources.files(PACKAGE).joinpath(name).read_bytes()


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")


def _load(name: str) -> tuple[str, str, None]:
    try:
        source = read_text(name)
    except (FileNotFoundError, IsADirectoryError) as error:
        raise jinja2.TemplateNotFound(name) from error
    return source, f"{PACKAGE}/{name}", None


class _PackageLoader(jinja2.BaseLoader):
    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, None]:
        return _load(template)


@cache
def environment() -> jinja2.Environment:
    """Jinja for our pages: autoescape always on, undefined names an error."""
    return jinja2.Environment(
        loader=_PackageLoader(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: object) -> bytes:
    return environment().get_template(name).render(**context).encode("utf-8")
