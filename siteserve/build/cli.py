"""``siteserve build [DIR] [-o OUT]``: the command, options -> Config -> build_site.

Its options are declared with every other in ``siteserve.options`` (those whose
``commands`` name "build"), and its parameters are made from them as those of
``siteserve DIR`` are. A refusal (OUT inside DIR, DIR inside OUT, a non-empty OUT
no build made) or a bad option prints one line and exits with status 2, having
touched nothing. Otherwise the summary is printed, and the status is 1 when a
template failed (or, with ``--strict``, for any warning or broken link), else 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.text import Text

from siteserve.build.output import BuildRefused
from siteserve.build.progress import progress_for
from siteserve.build.report import BuildReport
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings, Layout, build_clock
from siteserve.cli import GroupedCommand, signature
from siteserve.config import ConfigError, build_config
from siteserve.console import Console
from siteserve.options import (
    BUILD_FOLDER_HELP,
    HELP_FLAGS,
    Option,
    for_command,
    on_command_line,
)

#: The options ``siteserve build`` takes on its command line.
BUILD_OPTIONS = on_command_line(for_command("build"))

EXAMPLES = """\
Examples:

\b
  siteserve build site            write site/ as plain files into ./dist
  siteserve build site -o public --precompress
                                  into ./public, with .gz and .br next to text files
  siteserve build . -o _site      a folder inside the site needs a name starting with _
  siteserve build site --strict   exit 1 on any warning or broken link (for CI)

Upload OUT as it is: it holds _headers and _redirects for Netlify and Cloudflare
Pages, and 404.html for every host. To serve a folder named build: siteserve serve
build.
"""


def toml_epilog(options: tuple[Option, ...]) -> str:
    """What ``[build]`` in siteserve.toml may hold, from the options' declarations: the
    keys of the flags above by name, and those with no flag with their help."""
    in_table = [option for option in options if option.table == "build"]
    flagged = ", ".join(option.name for option in in_table if option.flags)
    lines = [f"[build] in siteserve.toml may hold {flagged} (the options above), and:", "", "\b"]
    for option in in_table:
        if not option.flags:
            key = f"{option.name} = [...]" if option.kind.many else f"{option.name} = ..."
            lines.append(f"  {key:<17}{option.help}")
    return "\n".join(lines) + "\n"


build_app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": list(HELP_FLAGS)},
)


def build_command(folder: Path, **given: Any) -> int:
    """Write the site as plain files for any static host: pages rendered, files copied."""
    # A flag that was not given is None, so a value in siteserve.toml stands.
    options = {option.name: option.cli_value(given[option.name]) for option in BUILD_OPTIONS}
    config = build_config(folder, **{**options, "reload": False})
    layout: Layout = "folder" if config.layout == "folder" else "html"
    settings = BuildSettings(
        root=config.root,
        out=Path(config.output).expanduser().resolve(),
        layout=layout,
        force=config.force,
        strict=config.strict,
        precompress=config.precompress,
        jobs=config.jobs,
        clock=build_clock(),
        options=tuple((name, value) for name, value in options.items() if value is not None),
    )
    console = Console()
    try:
        report = build_site(settings, progress_for(console.rich))
    except BuildRefused as refusal:
        raise ConfigError(str(refusal)) from None
    print_summary(console, report)
    return report.exit_status(strict=settings.strict)


build_command.__signature__ = signature(  # type: ignore[attr-defined]
    BUILD_OPTIONS, folder_help=BUILD_FOLDER_HELP
)
build_app.command(
    cls=GroupedCommand,
    help=build_command.__doc__,
    epilog=EXAMPLES + "\n" + toml_epilog(for_command("build")),
)(build_command)

_HEADINGS = {"Warnings": "yellow", "Broken": "yellow", "Errors": "bold red"}


def print_summary(console: Console, report: BuildReport) -> None:
    for index, line in enumerate(report.summary()):
        style = "bold" if index == 0 else _HEADINGS.get(line.split(" ", 1)[0], "")
        console.rich.print(Text(line, style=style))
