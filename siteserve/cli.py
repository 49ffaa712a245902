"""The ``siteserve`` command: options -> Config -> Site -> run(). No logic of its own.

``siteserve.launch`` is the entry point: it reads a plain serve line itself and
hands every other one to :func:`main` here; both serve through
``launch.serve_config``.

Its parameters are made from the declarations in ``siteserve.options``: typer
reads the function signature that :func:`signature` builds from them, and
``--help`` lists them under their declared headings.

``siteserve DIR`` serves, and so does ``siteserve serve DIR``, its explicit
spelling; ``siteserve build DIR`` writes the site as plain files
(``siteserve.build.cli``, made from the same declarations).

Start-up errors (a bad option, a missing folder, a taken port with
--strict-port, a broken siteserve.toml) print one line and exit with status 2.
Ctrl-C and SIGTERM stop the server gracefully and exit with status 0.
"""

from __future__ import annotations

import sys
from inspect import Parameter, Signature
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from siteserve import __version__
from siteserve.config import build_config
from siteserve.launch import EXIT_USAGE, SERVE_OPTIONS, cli_options, serve_config
from siteserve.launch import console as _console
from siteserve.options import (
    BY_NAME,
    FOLDER_HELP,
    FOLDER_METAVAR,
    HELP_FLAGS,
    VERSION_FLAG,
    VERSION_HELP,
    ConfigError,
    Flag,
    Option,
    toml_tables,
)

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter

__all__ = ["EXIT_USAGE", "SERVE_OPTIONS", "app", "main", "signature"]


def _tables() -> str:
    names = [f"[{table}]" for table in toml_tables()]
    return ", ".join(names[:-1]) + " and " + names[-1]


EXAMPLES = f"""\
Examples:

\b
  siteserve                       serve this folder on http://127.0.0.1:8000/
  siteserve sample_site --open    serve sample_site and open the browser
  siteserve site -p 3000 --strict-port
                                  port 3000 or fail (no fallback to 3001)
  siteserve site --host 0.0.0.0   share on the LAN (the banner lists addresses)
  siteserve site --cache 600 -q   browsers cache 10 minutes; no request log
  siteserve ~/Downloads --share --qr
                                  hand a folder to a phone: a QR code of a share link
  siteserve drop --share --upload --auth me:secret --tls
                                  let others upload too, over HTTPS
  siteserve photos --share --share-link ro --expire 2h --qr
                                  a read-only link for two hours, as a QR code
  siteserve build site -o public  write the site as plain files for any host
                                  (siteserve build -h); a folder named build:
                                  siteserve serve build, or siteserve ./build

Settings can also live in siteserve.toml in the site folder ({_tables()} tables);
options given on the command line override it.
"""


class GroupedCommand(TyperCommand):
    """``--help`` lists the options under the headings their declarations give, in order."""

    def format_options(self, ctx: Context, formatter: HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                heading = "Arguments"
            else:
                # What is not a declared option (--version, --help) comes last.
                declared = BY_NAME.get(param.name or "")
                heading = "Other" if declared is None else declared.group
            sections.setdefault(heading, []).append(record)
        # One column width for every section, so the help texts line up as one list.
        width = min(30, max(len(first) for records in sections.values() for first, _ in records))
        for heading, records in sections.items():
            with formatter.section(heading):
                formatter.write_dl([(first.ljust(width), text) for first, text in records])


app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": list(HELP_FLAGS)},
)


def _show_version(value: bool) -> None:
    if value:
        # A plain line (rich would print the same characters; loading it costs more).
        print(f"siteserve {__version__}", flush=True)
        raise typer.Exit()


def _parameter(option: Option) -> Parameter:
    """The typer parameter of one declared option: a flag is False, any other None, until given."""
    info = typer.Option(
        *option.flags, help=option.help_text(), metavar=option.metavar, show_default=False
    )
    cli_type = option.kind.cli_type
    annotation: object
    default: object = None
    if isinstance(option.kind, Flag):
        annotation, default = Annotated[bool, info], False
    elif option.kind.many:
        # typer reads the type at run time; mypy cannot check a type held in a variable.
        annotation = Annotated[list[cli_type] | None, info]  # type: ignore[valid-type]
    else:
        annotation = Annotated[cli_type | None, info]
    return Parameter(option.name, Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def signature(options: tuple[Option, ...], folder_help: str = FOLDER_HELP) -> Signature:
    """What typer reads to make the command: ``DIR``, the options in order, ``--version``."""
    folder = Annotated[
        Path, typer.Argument(metavar=FOLDER_METAVAR, help=folder_help, show_default=True)
    ]
    version = Annotated[
        bool,
        typer.Option(VERSION_FLAG, callback=_show_version, is_eager=True, help=VERSION_HELP),
    ]
    return Signature(
        [
            Parameter(
                "folder", Parameter.POSITIONAL_OR_KEYWORD, default=Path("."), annotation=folder
            ),
            *map(_parameter, options),
            Parameter("version", Parameter.KEYWORD_ONLY, default=False, annotation=version),
        ]
    )


def serve(folder: Path, **given: Any) -> None:
    """Serve a folder as a website: static files, Jinja pages, live reload, LAN sharing."""
    # A flag that was not given is None, so a value in siteserve.toml stands.
    serve_config(build_config(folder, **cli_options(given)))


serve.__signature__ = signature(SERVE_OPTIONS)  # type: ignore[attr-defined]
app.command(
    cls=GroupedCommand,
    help=serve.__doc__,
    epilog=EXAMPLES,
    no_args_is_help=False,
)(serve)


def main(argv: list[str] | None = None) -> int:
    """The ``siteserve`` entry point; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    chosen, prog_name = app, "siteserve"
    if args[:1] == ["build"]:
        from siteserve.build.cli import build_app

        chosen, prog_name, args = build_app, "siteserve build", args[1:]
    elif args[:1] == ["serve"]:
        prog_name, args = "siteserve serve", args[1:]
    command = typer.main.get_command(chosen)
    try:
        result = command.main(args=args, prog_name=prog_name, standalone_mode=False)
    except typer.TyperException as error:
        # Typer's own usage errors (unknown option, not a number): exit_code is 2.
        _console().error(error.format_message())
        return error.exit_code
    except ConfigError as error:
        _console().error(str(error))
        return EXIT_USAGE
    except typer.Abort:
        return 1
    return result if isinstance(result, int) else 0
