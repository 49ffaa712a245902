"""The ``siteserve`` command: options -> Config -> Site -> run(). No logic of its own.

Start-up errors (a bad option, a missing folder, a taken port with
--strict-port, a broken siteserve.toml) print one line and exit with status 2.
Ctrl-C and SIGTERM stop the server gracefully and exit with status 0.
"""

from __future__ import annotations

import threading
import webbrowser
from pathlib import Path
from typing import Annotated, Any

import typer

from siteserve import __version__
from siteserve.config import ConfigError, build_config
from siteserve.console import Console, ServerAddress, local_url

EXIT_USAGE = 2

EXAMPLES = """\
Examples:

\b
  siteserve                       serve this folder on http://127.0.0.1:8000/
  siteserve sample_site --open    serve sample_site and open the browser
  siteserve site -p 3000 --strict-port
                                  port 3000 or fail (no fallback to 3001)
  siteserve site --host 0.0.0.0   share on the LAN (the banner lists addresses)
  siteserve site --cache 600 -q   browsers cache 10 minutes; no request log
  siteserve ~/Downloads --share --qr --auth me:secret
                                  hand a folder to a phone: LAN address, QR code, password
  siteserve drop --share --upload --auth me:secret --tls
                                  let others upload too, over HTTPS

Settings can also live in siteserve.toml in the site folder ([server], [limits],
[site] and [headers] tables); options given on the command line override it.
"""

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        Console().say(f"siteserve {__version__}")
        raise typer.Exit()


@app.command(
    help="Serve a folder as a website: static files, Jinja pages, live reload, LAN sharing.",
    epilog=EXAMPLES,
    no_args_is_help=False,
)
def serve(
    folder: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="The site folder to serve.", show_default=True),
    ] = Path("."),
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            help="Port to listen on [default: 8000]; when taken, the next free one.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to bind [default: 127.0.0.1]; 0.0.0.0 or :: shares on the LAN.",
            show_default=False,
        ),
    ] = None,
    strict_port: Annotated[
        bool, typer.Option("--strict-port", help="Fail when the port is taken.")
    ] = False,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the site in the browser once it is ready.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No request log (the banner still shows).")
    ] = False,
    no_reload: Annotated[
        bool, typer.Option("--no-reload", help="Do not watch files or reload browsers.")
    ] = False,
    poll: Annotated[
        bool,
        typer.Option("--poll", help="Watch files by polling (network and container mounts)."),
    ] = False,
    ignore: Annotated[
        list[str] | None,
        typer.Option(
            "--ignore",
            metavar="GLOB",
            help="Changes to files matching GLOB never reload (repeatable).",
            show_default=False,
        ),
    ] = None,
    follow_symlinks: Annotated[
        bool,
        typer.Option("--follow-symlinks", help="Serve symlinks that lead outside the folder."),
    ] = False,
    cache: Annotated[
        int | None,
        typer.Option(
            "--cache",
            metavar="SECONDS",
            help="Let browsers cache files this long [default: always revalidate].",
            show_default=False,
        ),
    ] = None,
    share: Annotated[
        bool,
        typer.Option(
            "--share",
            help="Share on the LAN: --host 0.0.0.0 and browsers cache an hour (unless --cache).",
        ),
    ] = False,
    qr: Annotated[
        bool, typer.Option("--qr", help="Show a QR code of the LAN address in the terminal.")
    ] = False,
    upload: Annotated[
        bool,
        typer.Option(
            "--upload", help="Let visitors upload files and create folders (never overwrites)."
        ),
    ] = False,
    max_upload: Annotated[
        str | None,
        typer.Option(
            "--max-upload",
            metavar="SIZE",
            help="Largest upload request, e.g. 500M or 4G [default: 1G].",
            show_default=False,
        ),
    ] = None,
    auth: Annotated[
        list[str] | None,
        typer.Option(
            "--auth",
            metavar="USER:PASSWORD",
            help="Ask for a password (HTTP Basic); USER:sha256:HEX keeps it out of shell history.",
            show_default=False,
        ),
    ] = None,
    auth_file: Annotated[
        Path | None,
        typer.Option(
            "--auth-file",
            metavar="FILE",
            help="Users from FILE, one USER:PASSWORD or USER:sha256:HEX a line.",
            show_default=False,
        ),
    ] = None,
    tls: Annotated[
        bool,
        typer.Option("--tls", help="HTTPS with a self-signed certificate (kept and reused)."),
    ] = False,
    cert: Annotated[
        Path | None,
        typer.Option(
            "--cert", metavar="FILE", help="HTTPS with this certificate (PEM).", show_default=False
        ),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", metavar="FILE", help="The private key for --cert (PEM).", show_default=False
        ),
    ] = None,
    cors: Annotated[
        bool, typer.Option("--cors", help="Let pages on other sites read these files (CORS).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    # A flag that was not given is None, so a value in siteserve.toml stands.
    options: dict[str, Any] = {
        "port": port,
        "host": host,
        "strict_port": True if strict_port else None,
        "open_browser": True if open_browser else None,
        "quiet": True if quiet else None,
        "reload": False if no_reload else None,
        "poll": True if poll else None,
        "ignore": tuple(ignore) if ignore else None,
        "follow_symlinks": True if follow_symlinks else None,
        "cache_seconds": cache,
        "share": True if share else None,
        "qr": True if qr else None,
        "upload": True if upload else None,
        "max_upload": max_upload,
        "auth": tuple(auth) if auth else None,
        "auth_file": auth_file,
        "tls": True if tls else None,
        "cert": cert,
        "key": key,
        "cors": True if cors else None,
    }
    config = build_config(folder, **options)

    # Imported here so that --help, --version and option errors stay fast.
    from siteserve.assemble import build_app
    from siteserve.server.runner import run
    from siteserve.share.banner import share_notes

    console = Console()
    site_app = build_app(config)
    tls_setup = None
    if config.tls:
        from siteserve.share.tls import setup_tls  # cryptography loads only for --tls

        tls_setup = setup_tls(config)

    def on_ready(info: ServerAddress) -> None:
        console.banner(config.root, info, notes=share_notes(config, info, tls=tls_setup))
        if config.open_browser:
            url = local_url(info.host, info.port, info.scheme)
            # webbrowser.open may wait for the browser to start: keep it off the event loop.
            threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()

    run(
        config,
        site_app,
        on_ready=on_ready,
        access_log=None if config.quiet else console.access,
        ssl_context=None if tls_setup is None else tls_setup.context,
    )


def main(argv: list[str] | None = None) -> int:
    """The ``siteserve`` entry point; returns the exit status."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="siteserve", standalone_mode=False)
    except typer.TyperException as error:
        # Typer's own usage errors (unknown option, not a number): exit_code is 2.
        Console().error(error.format_message())
        return error.exit_code
    except ConfigError as error:
        Console().error(str(error))
        return EXIT_USAGE
    except typer.Abort:
        return 1
    return result if isinstance(result, int) else 0
