"""The server's own pages and assets, read from the ``siteserve.templates`` package.

They ship inside the wheel (``templates/`` is mapped to ``siteserve.templates``),
so ``importlib.resources`` finds them in a wheel, an editable install and a zip
alike. This environment renders only our pages; a site's own templates live in
a separate environment that never sees these, and the other way round.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.abc import Traversable

    import jinja2

PACKAGE = "siteserve.templates"


@cache
def _folder() -> Traversable:
    # importlib.resources (and tempfile, random, shutil with it) load with the first asset.
    from importlib import resources

    try:
        return resources.files(PACKAGE)
    except ModuleNotFoundError:
        # ``python -m siteserve`` run inside a source checkout imports the
        # checkout's package, which has no mapped subpackage; the same files
        # are the checkout's top-level templates/ folder.
        return Path(__file__).resolve().parents[2] / "templates"


@cache
def read_bytes(name: str) -> bytes:
    """An asset's bytes; cached because our own files never change while we run."""
    return _folder().joinpath(name).read_bytes()


def path_of(name: str) -> Path | None:
    """The asset as a file on disk, to be served like a site's file; None when it is
    not one (the package inside a zip)."""
    found = _folder().joinpath(name)
    path = Path(str(found))
    return path if isinstance(found, Path) or path.is_file() else None


def read_text(name: str) -> str:
    return read_bytes(name).decode("utf-8")


def _load(name: str) -> tuple[str, str, None]:
    try:
        source = read_text(name)
    except (FileNotFoundError, IsADirectoryError) as error:
        import jinja2

        raise jinja2.TemplateNotFound(name) from error
    return source, f"{PACKAGE}/{name}", None


@cache
def environment() -> jinja2.Environment:
    """Jinja for our pages: autoescape always on, undefined names an error.

    Jinja is imported here, at the first page of ours rendered (an error page, a
    listing), so a server that answers only files never loads it.
    """
    import jinja2

    class PackageLoader(jinja2.BaseLoader):
        def get_source(
            self, environment: jinja2.Environment, template: str
        ) -> tuple[str, str | None, None]:
            return _load(template)

    return jinja2.Environment(
        loader=PackageLoader(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: object) -> bytes:
    return environment().get_template(name).render(**context).encode("utf-8")
