"""``siteserve build [DIR] [-o OUT]``: the command, options -> BuildSettings -> build_site.

A refusal (OUT inside DIR, DIR inside OUT, a non-empty OUT no build made) or a
bad siteserve.toml prints one line and exits with status 2, having touched
nothing. Otherwise the summary is printed and the status is 1 when a template
failed (or, with ``--strict``, for any warning or broken link), else 0.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from siteserve.build.output import BuildRefused
from siteserve.build.progress import progress_for
from siteserve.build.report import BuildReport
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings, build_clock
from siteserve.config import ConfigError
from siteserve.console import Console


class LayoutName(StrEnum):
    html = "html"
    folder = "folder"


EXAMPLES = """\
Examples:

\b
  siteserve build site            write site/ as plain files into ./dist
  siteserve build site -o public --precompress
                                  into ./public, with .gz and .br next to text files
  siteserve build . -o _site      a folder inside the site needs a name starting with _
  siteserve build site --strict   exit 1 on any warning or broken link (for CI)

Upload OUT as it is: it holds _headers and _redirects for Netlify and Cloudflare
Pages, and 404.html for every host. [build] paths = [...] in siteserve.toml lists
pages no link leads to. To serve a folder named build: siteserve serve build.
"""

build_app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@build_app.command(
    help="Write the site as plain files for any static host: pages rendered, files copied.",
    epilog=EXAMPLES,
)
def build_command(
    folder: Annotated[
        Path, typer.Argument(metavar="DIR", help="The site folder.", show_default=True)
    ] = Path("."),
    output: Annotated[
        Path,
        typer.Option("--output", "-o", metavar="OUT", help="Where to write the site."),
    ] = Path("dist"),
    force: Annotated[
        bool,
        typer.Option("--force", help="Write into a non-empty OUT that no build made."),
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 on any warning or broken link.")
    ] = False,
    precompress: Annotated[
        bool,
        typer.Option("--precompress", help="Also write .gz and .br next to each text file."),
    ] = False,
    layout: Annotated[
        LayoutName,
        typer.Option(
            "--layout",
            help="html: about.html.jinja -> about.html (/about and /about.html on nginx"
            " try_files, GitHub Pages, Netlify, Cloudflare Pages); folder: -> about/index.html"
            " (/about/ on every host, python -m http.server too).",
            case_sensitive=False,
        ),
    ] = LayoutName.html,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            metavar="N",
            help="Processes that render pages [default: one per CPU].",
            show_default=False,
            min=0,
        ),
    ] = 0,
) -> int:
    if not folder.is_dir():
        what = "not a folder" if folder.exists() else "folder not found"
        raise ConfigError(f"{what}: {folder}")
    settings = BuildSettings(
        root=folder.resolve(),
        out=output.resolve(),
        layout=layout.value,
        force=force,
        strict=strict,
        precompress=precompress,
        jobs=jobs,
        clock=build_clock(),
    )
    console = Console()
    progress = progress_for(console.rich)
    try:
        report = build_site(settings, progress)
    except BuildRefused as refusal:
        raise ConfigError(str(refusal)) from None
    print_summary(console, report)
    return report.exit_status(strict=strict)


_HEADINGS = {"Warnings": "yellow", "Broken": "yellow", "Errors": "bold red"}


def print_summary(console: Console, report: BuildReport) -> None:
    for index, line in enumerate(report.summary()):
        style = "bold" if index == 0 else _HEADINGS.get(line.split(" ", 1)[0], "")
        console.rich.print(Text(line, style=style))
