"""The ``siteserve`` entry point, and serving a Config once the command line is read.

Most launches are a plain ``siteserve [serve] DIR --flag VALUE ...``. Such a
line is read here from the declarations in ``siteserve.options`` (the same
flags, kinds and multiplicity typer's parameters are made from), without
importing typer: typer and the command built from it cost about a seventh of a
static serve's start-up. Every other line (``--help``, ``--version``,
``build``, an unknown or malformed option, a value typer would refuse, ``--``,
grouped short flags) goes to ``siteserve.cli``, which decides and words its
errors as always. :func:`quick_args` only answers for lines on which typer
would hand ``cli.serve`` exactly the same values; ``tests/unit/test_launch.py``
holds the two side by side.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from siteserve.options import ConfigError, Flag, Option, for_command, on_command_line

if TYPE_CHECKING:
    from siteserve.config import Config
    from siteserve.console import Console, ServerAddress

EXIT_USAGE = 2

#: The options ``siteserve DIR`` takes on its command line.
SERVE_OPTIONS = on_command_line(for_command("serve"))
_BY_FLAG = {flag: option for option in SERVE_OPTIONS for flag in option.flags}


def console() -> Console:
    """The terminal; rich (and the config it needs) loads only when something is shown
    through it, so ``--version`` and ``--help`` stay light."""
    from siteserve.console import Console

    return Console()


def _value(option: Option, text: str) -> object | None:
    """``text`` as typer's parameter type reads it; None: typer would refuse it (or might)."""
    cli_type = option.kind.cli_type
    if cli_type is int:
        try:
            return int(text)  # what click's integer type does, and nothing else
        except ValueError:
            return None
    if cli_type is Path:
        return Path(text)
    return text if cli_type is str else None


def quick_args(args: list[str]) -> tuple[Path, dict[str, object]] | None:
    """``(DIR, what typer would pass to cli.serve)`` for a plain serve line, else None.

    Only the spellings the declarations give are taken: ``--long VALUE``,
    ``--long=VALUE``, ``-s VALUE``, flags, one folder; a value that starts with
    ``-`` is left to typer. The last of a repeated single option wins, as in typer.
    """
    if args[:1] == ["serve"]:
        args = args[1:]
    if any(name.startswith("_SITESERVE") for name in os.environ):
        return None  # a shell-completion request: click answers it
    given: dict[str, object] = {
        option.name: False if isinstance(option.kind, Flag) else None for option in SERVE_OPTIONS
    }
    folder: Path | None = None
    words = iter(args)
    for word in words:
        if not word.startswith("-"):
            if folder is not None or word == "build":
                return None
            folder = Path(word)
            continue
        flag, equals, text = word.partition("=") if word.startswith("--") else (word, "", "")
        option = _BY_FLAG.get(flag)
        if option is None:
            return None
        if isinstance(option.kind, Flag):
            if equals:
                return None
            given[option.name] = True
            continue
        if not equals:
            text = next(words, "-")
            if text.startswith("-"):
                return None
        value = _value(option, text)
        if value is None:
            return None
        if option.kind.many:
            values = given[option.name]
            given[option.name] = [*(values if isinstance(values, list) else ()), value]
        else:
            given[option.name] = value
    return (Path(".") if folder is None else folder), given


def cli_options(given: dict[str, object]) -> dict[str, object]:
    """What typer handed over -> build_config's keywords (a flag not given is None)."""
    return {option.name: option.cli_value(given[option.name]) for option in SERVE_OPTIONS}


def serve_config(config: Config) -> None:
    """Serve ``config``'s folder until Ctrl-C or SIGTERM: the app, the banner, the runner."""
    # Imported here so that --help, --version and option errors stay fast.
    from siteserve.assemble import build_app, has_access_check, new_run_secrets
    from siteserve.console import local_url
    from siteserve.server.runner import run
    from siteserve.share.banner import share_notes

    terminal = console()
    # With workers, each worker process builds its own app (server.workers) around the
    # share link and reload token the supervisor made.
    site_app = build_app(config) if config.workers == 1 else None
    shared = None
    if site_app is None:
        shared = new_run_secrets(config)
        link = shared.link
    elif has_access_check(config):
        from siteserve.share.auth import access_layer  # hmac and the links: only with one

        access = access_layer(site_app)
        link = None if access is None else access.link
    else:
        link = None
    tls_setup = None
    if config.tls:
        from siteserve.share.tls import setup_tls  # cryptography loads only for --tls

        tls_setup = setup_tls(config)

    def on_ready(info: ServerAddress) -> None:
        notes = share_notes(config, info, tls=tls_setup, link=link)
        if site_app is None:
            from siteserve.server.workers import banner_note

            notes = [banner_note(config), *notes]
        terminal.banner(config.root, info, notes=notes)
        if config.open_browser:
            url = local_url(info.host, info.port, info.scheme)
            import webbrowser  # only for --open

            # webbrowser.open may wait for the browser to start: keep it off the event loop.
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    access_log = None if config.quiet else terminal.access
    # Start-up is over (see main): collections run again while serving, the first one
    # in the runner, which then leaves what start-up made out of later ones.
    gc.enable()
    if site_app is None:
        from siteserve.server.workers import run_workers

        run_workers(config, on_ready=on_ready, access_log=access_log, shared=shared)
        return
    run(
        config,
        site_app,
        on_ready=on_ready,
        access_log=access_log,
        ssl_context=None if tls_setup is None else tls_setup.context,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m siteserve`` and the ``siteserve`` command; returns the exit status."""
    args = sys.argv[1:] if argv is None else list(argv)
    quick = quick_args(args)
    if quick is None:
        from siteserve.cli import main as typer_main

        return typer_main(args)
    folder, given = quick
    # Imports and the app make tens of thousands of objects that live as long as the
    # process, and next to no garbage: automatic collections would walk them again and
    # again (5 M instructions of a launch's 455 M) for nothing. serve_config turns them
    # back on before serving; the runner's first collection takes what little there is.
    gc.disable()
    # What siteserve.cli.main and typer's command would do around cli.serve, in the same order.
    try:
        from siteserve.config import build_config

        serve_config(build_config(folder, **cli_options(given)))
    except ConfigError as error:
        console().error(str(error))
        return EXIT_USAGE
    except EOFError:
        print(file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        from typer._click.utils import PacifyFlushWrapper

        sys.stdout = PacifyFlushWrapper(sys.stdout)
        sys.stderr = PacifyFlushWrapper(sys.stderr)
        return 1
    finally:
        gc.enable()  # also when start-up failed before serve_config turned it on
    return 0
