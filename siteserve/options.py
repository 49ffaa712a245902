"""Every option of siteserve, declared once.

An :class:`Option` says all there is to say about one setting: the ``Config``
field it fills, its default, its help line and README text, its command-line
flags, its siteserve.toml table and key, and the :class:`Kind` of value that
reads and checks it. The CLI (``cli.py`` builds typer's parameters from
``OPTIONS``), the siteserve.toml reader (``config.py``) and the README's options
table (:func:`markdown_table`) all derive from it, so adding an option is one
entry here, the ``Config`` field it fills, and the code that uses it.

``ConfigError`` and ``parse_size`` live here, below ``config.py``, because the
value kinds raise and use them; ``config`` re-exports both.
``python -m siteserve.options`` prints the README's options table.

This module imports nothing beyond the standard library: ``siteserve --version``
and ``--help`` load it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar, Final


class ConfigError(Exception):
    """A start-up error: a bad option, a missing folder, a taken port."""


# -- kinds of value ----------------------------------------------------------------------


class Kind:
    """How one option's value is given on the command line and in siteserve.toml, and checked.

    ``parse`` gets the value the user gave (from either place, after the
    command line has won over the file) and answers what ``Config`` holds.
    Kinds are plain classes, not dataclasses: making a dataclass costs about a
    millisecond at import, and ``siteserve --version`` imports this module.
    """

    __slots__ = ()

    #: What typer reads from the command line: one value, or a list when ``many``.
    cli_type: ClassVar[type] = str
    #: The TOML types the key accepts (a list is a list of strings).
    toml_types: ClassVar[tuple[type, ...]] = (str,)
    #: Repeatable on the command line, a list in siteserve.toml.
    many: ClassVar[bool] = False

    def from_toml(self, value: object, root: Path) -> object:
        """A type-checked siteserve.toml value, before the command line is merged in."""
        return value

    def parse(self, value: object) -> object:
        return value


class Flag(Kind):
    """An on/off switch: ``--quiet`` sets True; ``--no-reload`` (``sets=False``) sets False."""

    __slots__ = ("sets",)
    cli_type = bool
    toml_types: ClassVar[tuple[type, ...]] = (bool,)

    def __init__(self, *, sets: bool = True) -> None:
        self.sets: Final = sets


class Whole(Kind):
    """A whole number within bounds; ``error`` (with ``{value}``) says which."""

    __slots__ = ("error", "maximum", "minimum")
    cli_type = int
    toml_types = (int,)

    def __init__(self, error: str, *, minimum: int = 0, maximum: int | None = None) -> None:
        self.error: Final = error
        self.minimum: Final = minimum
        self.maximum: Final = maximum

    def parse(self, value: object) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < self.minimum
            or (self.maximum is not None and value > self.maximum)
        ):
            raise ConfigError(self.error.replace("{value}", str(value)))
        return value


class Text(Kind):
    """A string; ``empty`` is the error for an empty one (None: empty is fine)."""

    __slots__ = ("empty",)

    def __init__(self, *, empty: str | None = None) -> None:
        self.empty: Final = empty

    def parse(self, value: object) -> str:
        text = str(value)
        if self.empty is not None and not text:
            raise ConfigError(self.empty)
        return text


class Texts(Kind):
    """Several strings (globs, names): a repeatable flag, a list of strings in the file."""

    __slots__ = ()
    many = True
    toml_types: ClassVar[tuple[type, ...]] = (list,)

    def parse(self, value: object) -> tuple[str, ...]:
        items = (value,) if isinstance(value, str) else value
        assert isinstance(items, Iterable)
        return tuple(str(item) for item in items)


class BaseUrl(Kind):
    """The public URL of a built site: ``https://example.com`` (a path is not taken: the
    build writes the site for the root of its host). Empty: not set."""

    __slots__ = ()

    def parse(self, value: object) -> str:
        text = str(value).strip().rstrip("/")
        if not text:
            return ""
        scheme, _, rest = text.partition("://")
        if scheme.lower() not in ("http", "https") or not rest or "/" in rest or "@" in rest:
            raise ConfigError(
                f"base_url is the site's public origin, like https://example.com, not {value!r}"
            )
        return f"{scheme.lower()}://{rest.lower()}"


class SpaEntries(Flag):
    """The history fallback's entry pages by URL prefix: ``--spa`` (``index.html`` for every
    path), ``spa = "app.html"``, or a ``[spa]`` table of ``"/admin/" = "admin/index.html"``."""

    __slots__ = ()
    toml_types: ClassVar[tuple[type, ...]] = (bool, str, dict)

    def parse(self, value: object) -> tuple[tuple[str, str], ...]:
        if value is True:
            return (("/", "index.html"),)
        if value is False or value is None or value == ():
            return ()
        if isinstance(value, str):
            return (("/", _spa_entry("spa", value)),)
        if isinstance(value, dict):
            entries = []
            for prefix, entry in value.items():
                if not isinstance(entry, str) or not prefix.startswith("/"):
                    raise ConfigError(
                        f'spa.{prefix}: give a URL prefix and an entry file, e.g. "/admin/" ='
                        ' "admin/index.html"'
                    )
                entries.append((prefix if prefix.endswith("/") else prefix + "/", entry))
            return tuple((prefix, _spa_entry(f"spa.{prefix}", e)) for prefix, e in entries)
        assert isinstance(value, tuple)
        return value


def _spa_entry(name: str, entry: str) -> str:
    parts = entry.strip("/").split("/")
    if not entry.strip("/") or any(
        part in ("", ".", "..") or part.startswith((".", "_")) for part in parts
    ):
        raise ConfigError(f"{name}: {entry!r} is not a file the site serves")
    return "/".join(parts)


class Credentials(Texts):
    """``USER:PASSWORD`` or ``USER:sha256:HEX``, repeatable; one string or a list in the file.

    Each is checked, and hashed, by config.py together with ``--auth-file``.
    """

    __slots__ = ()
    toml_types = (str, list)


class Choice(Kind):
    """One of a few words; ``error`` (with ``{value}``) says which are allowed."""

    __slots__ = ("choices", "error")

    def __init__(self, choices: tuple[str, ...], error: str) -> None:
        self.choices: Final = choices
        self.error: Final = error

    def parse(self, value: object) -> str:
        text = str(value)
        if text not in self.choices:
            raise ConfigError(self.error.replace("{value}", repr(value)))
        return text


class HostNames(Texts):
    """Host names (``app.test``, ``.example.com`` with its subdomains, ``*``), normalised."""

    __slots__ = ()

    def parse(self, value: object) -> tuple[str, ...]:
        from siteserve.hosts import allowed_host_pattern  # only when names are given

        try:
            names = tuple(allowed_host_pattern(name) for name in super().parse(value))
        except ValueError as error:
            raise ConfigError(f"--allowed-host {error}") from None
        return tuple(dict.fromkeys(names))


class PathGlobs(Texts):
    """Globs of URL paths (``/api/*``): each starts with ``/``; ``key`` names it in errors."""

    __slots__ = ("key",)

    def __init__(self, *, key: str) -> None:
        self.key: Final = key

    def parse(self, value: object) -> tuple[str, ...]:
        globs = super().parse(value)
        for glob in globs:
            if not glob.startswith("/"):
                raise ConfigError(f"{self.key} globs are URL paths, starting with /: {glob!r}")
        return globs


class ProxySpecs(Texts):
    """``PREFIX=URL`` (``/api=http://127.0.0.1:5000``), repeatable; config.py makes routes."""

    __slots__ = ()

    def parse(self, value: object) -> tuple[str, ...]:
        specs = super().parse(value)
        for spec in specs:
            prefix, equals, url = spec.partition("=")
            if not equals or not prefix.startswith("/") or "://" not in url:
                raise ConfigError(
                    f"--proxy takes PREFIX=URL, e.g. /api=http://127.0.0.1:5000, not {spec!r}"
                )
        return specs


class Size(Kind):
    """A byte count: ``1048576``, ``500M``, ``1.5G`` (see :func:`parse_size`)."""

    __slots__ = ()
    toml_types = (int, str)

    def parse(self, value: object) -> int:
        if not isinstance(value, (int, str)):
            raise ConfigError(f"not a size: {value!r}")
        return parse_size(value)


class Duration(Kind):
    """A length of time: ``90`` (seconds), ``90s``, ``30m``, ``2h``, ``1d`` (``parse_duration``)."""

    __slots__ = ()
    toml_types = (int, str)

    def parse(self, value: object) -> float:
        if not isinstance(value, (int, float, str)):
            raise ConfigError(f"not a duration: {value!r}")
        return parse_duration(value)


class FileKind(Kind):
    """A file whose contents the server must never hand out; ``secret`` names it in errors."""

    __slots__ = ("secret",)

    def __init__(self, *, secret: str) -> None:
        self.secret: Final = secret

    def location(self, root: Path, value: object) -> Path | None:
        """Where the file is, for the check that it is not served; None: no file here."""
        raise NotImplementedError


class File(FileKind):
    """A file: from siteserve.toml relative to the site folder, from the command line as given."""

    __slots__ = ()
    cli_type = Path

    def from_toml(self, value: object, root: Path) -> Path:
        return site_path(root, str(value))

    def parse(self, value: object) -> Path:
        return Path(str(value))

    def location(self, root: Path, value: object) -> Path | None:
        return Path(str(value)).expanduser()


class SiteFile(FileKind):
    """A file kept as text and always relative to the site folder (the sessions file)."""

    __slots__ = ()

    def parse(self, value: object) -> str:
        return str(value)

    def location(self, root: Path, value: object) -> Path | None:
        return site_path(root, str(value))


#: How a ``sessions`` value that names a Redis server starts (``rediss``: over TLS).
REDIS_SCHEMES = ("redis://", "rediss://")


def is_redis_url(value: str) -> bool:
    return value.lower().startswith(REDIS_SCHEMES)


class SessionStore(SiteFile):
    """Where sessions live: a SQLite file (as :class:`SiteFile`) or ``redis://HOST:PORT/DB``.

    A URL is checked here, without importing redis: a scheme, a host, a port
    and a database number that are numbers, so a typo is a start-up error and
    not a connection attempt to somewhere else.
    """

    __slots__ = ()

    def parse(self, value: object) -> str:
        text = str(value)
        if "://" not in text:
            return text
        if not is_redis_url(text):
            raise ConfigError(
                f"sessions must be a SQLite file or redis://HOST:PORT/DB, not {text!r}"
            )
        from urllib.parse import urlsplit

        parts = urlsplit(text)
        try:
            numbered = parts.port is None or parts.port >= 0
        except ValueError:  # a port that is not a number, or out of range
            numbered = False
        database = parts.path.strip("/")
        if not parts.hostname or not numbered or not (database == "" or database.isdigit()):
            raise ConfigError(f"sessions: not a Redis URL: {text!r} (redis://HOST:PORT/DB)")
        return text

    def location(self, root: Path, value: object) -> Path | None:
        return None if is_redis_url(str(value)) else super().location(root, value)


class Workers(Kind):
    """A number of worker processes, or ``auto``: one per CPU this process may run on."""

    __slots__ = ()
    toml_types = (int, str)
    #: More is a typo (``--workers 1000``), not a plan for one machine.
    MAXIMUM: ClassVar[int] = 256

    def parse(self, value: object) -> int:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return cpu_count()
        number = value.strip() if isinstance(value, str) else value
        # ASCII digits only: str.isdigit() also takes "\xb2", which int() refuses.
        if isinstance(number, str) and number.isascii() and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int) or number < 1:
            raise ConfigError(f"workers must be a whole number of 1 or more, or auto, not {value}")
        if number > self.MAXIMUM:
            raise ConfigError(f"workers must be at most {self.MAXIMUM}, not {value}")
        return number


def cpu_count() -> int:
    """The CPUs this process may use (``taskset``, a container's cpuset), else all of them."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def site_path(root: Path, value: str) -> Path:
    """A path from siteserve.toml: ``~`` expanded, a relative one inside the site folder."""
    return root / Path(value).expanduser()


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def parse_size(value: str | int) -> int:
    """``1048576``, ``512k``, ``10M``, ``1.5G``, ``2GiB`` -> bytes (binary units)."""
    if isinstance(value, bool):
        raise ConfigError(f"not a size: {value!r}")
    if isinstance(value, int):
        number = value
    else:
        match = _SIZE.fullmatch(value.strip())
        if match is None:
            raise ConfigError(f"not a size: {value!r} (try 500M or 2G)")
        number = int(float(match.group(1)) * _SIZE_UNITS[match.group(2).lower()])
    if number <= 0:
        raise ConfigError(f"size must be more than zero: {value!r}")
    return number


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int | float) -> float:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` -> seconds."""
    if isinstance(value, bool):
        raise ConfigError(f"not a duration: {value!r} (try 30m, 2h or 1d)")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ConfigError(f"not a duration: {value!r} (try 30m, 2h or 1d)")
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2).lower()]
    if not seconds > 0:  # also refuses NaN (TOML's nan), which compares false both ways
        raise ConfigError(f"a duration must be more than zero: {value!r}")
    return seconds


# -- the declaration -----------------------------------------------------------------------


class Option:
    """One setting, everywhere it shows: Config, command line, siteserve.toml, help, README.

    A plain class, like the kinds, so that importing the declarations stays cheap.
    """

    __slots__ = (
        "adds",
        "commands",
        "default",
        "doc",
        "flags",
        "group",
        "help",
        "kind",
        "metavar",
        "name",
        "shown_default",
        "table",
        "top_level",
    )

    def __init__(
        self,
        name: str,
        kind: Kind,
        default: object,
        help: str,
        doc: str = "",
        *,
        flags: tuple[str, ...] = (),
        metavar: str | None = None,
        table: str | None = "server",
        top_level: bool = False,
        adds: bool = False,
        group: str = "Serving",
        commands: tuple[str, ...] = ("serve",),
        shown_default: str | None = None,
    ) -> None:
        #: The ``Config`` field it fills; also its siteserve.toml key.
        self.name: Final = name
        self.kind: Final = kind
        #: The same default as the ``Config`` field (a unit test keeps the two equal).
        self.default: Final = default
        #: The ``--help`` line; ``{default}`` stands for the default.
        self.help: Final = help
        #: The README's text (markdown); empty: the help line. ``{default}`` as in ``help``.
        self.doc: Final = doc
        #: Command-line spellings, long first (``("--port", "-p")``); none: siteserve.toml only.
        self.flags: Final = flags
        self.metavar: Final = metavar
        #: The siteserve.toml table that holds the key; None: command line only.
        self.table: Final = table
        #: The key may also stand at the top of siteserve.toml, before any table.
        self.top_level: Final = top_level
        #: Values from the command line add to those of siteserve.toml instead of replacing them.
        self.adds: Final = adds
        #: The heading it is listed under in ``--help``.
        self.group: Final = group
        #: The commands that take it (``siteserve build`` picks its own).
        self.commands: Final = commands
        #: How the default reads in help and README, when ``str(default)`` does not say it.
        self.shown_default: Final = shown_default

    def __repr__(self) -> str:
        return f"Option({self.name!r})"

    @property
    def default_text(self) -> str:
        return self.shown_default if self.shown_default is not None else str(self.default)

    def help_text(self) -> str:
        return self.help.replace("{default}", self.default_text)

    def doc_text(self) -> str:
        return (self.doc or self.help).replace("{default}", self.default_text)

    def cli_value(self, given: object) -> object:
        """What typer handed over -> the value for build_config; None: not given."""
        if isinstance(self.kind, Flag):
            return self.kind.sets if given else None
        if self.kind.many:
            assert given is None or isinstance(given, list)
            return tuple(given) if given else None
        return given


OPTIONS: tuple[Option, ...] = (
    Option(
        "port",
        Whole("port must be between 0 and 65535, not {value}", maximum=65535),
        8000,
        "Port to listen on [default: {default}]; when taken, the next free one.",
        "the port; default `{default}`. When it is taken, the next free port is used and the"
        " banner says so",
        flags=("--port", "-p"),
        metavar="N",
    ),
    Option(
        "host",
        Text(empty="host must not be empty"),
        "127.0.0.1",
        "Address to bind [default: {default}]; 0.0.0.0 or :: shares on the LAN.",
        "the address to listen on; default `{default}` (this machine only). `0.0.0.0` or `::`"
        " shares the site on your network, and the banner lists every address others can use",
        flags=("--host",),
        metavar="ADDR",
    ),
    Option(
        "strict_port",
        Flag(),
        False,
        "Fail when the port is taken.",
        "fail when the port is taken instead of trying the next one",
        flags=("--strict-port",),
    ),
    Option(
        "open_browser",
        Flag(),
        False,
        "Open the site in the browser once it is ready.",
        "open the site in your browser once the server is ready",
        flags=("--open",),
    ),
    Option(
        "quiet",
        Flag(),
        False,
        "No request log (the banner still shows).",
        "no request log (the banner still shows)",
        flags=("--quiet", "-q"),
    ),
    Option(
        "workers",
        Workers(),
        1,
        "Worker processes serving the port: a number, or auto for one per CPU [default: 1].",
        "worker processes that serve the port together; `auto`: one per CPU. More than one"
        " needs `sessions` in a SQLite file or Redis (see [Workers](#several-workers-and-"
        "shared-sessions))",
        flags=("--workers",),
        metavar="N",
    ),
    Option(
        "follow_symlinks",
        Flag(),
        False,
        "Serve symlinks that lead outside the folder.",
        "serve symlinks that point outside the folder (refused by default)",
        flags=("--follow-symlinks",),
    ),
    Option(
        "cache_seconds",
        Whole("cache seconds must be zero or more"),
        None,
        "Let browsers cache files this long [default: {default}].",
        "let browsers cache files for that long; by default they revalidate every time",
        flags=("--cache",),
        metavar="SECONDS",
        shown_default="always revalidate",
    ),
    Option(
        "render",
        Texts(),
        (),
        "Plain files rendered as pages, e.g. *.html.",
        top_level=True,
        adds=True,
        group="Pages",
    ),
    Option(
        "strict_undefined",
        Flag(),
        False,
        "An undefined variable in a page is an error.",
        top_level=True,
        group="Pages",
    ),
    Option(
        "sessions",
        SessionStore(secret="sessions file"),
        None,
        "Keep sessions in this SQLite file, or in Redis (redis://HOST:PORT/DB)"
        " [default: in memory].",
        top_level=True,
        group="Pages",
    ),
    Option(
        "drafts",
        Flag(),
        False,
        "List pages marked 'draft: true' in pages() collections.",
        "list pages marked `draft: true` in `pages()` collections (see [Markdown and content"
        " sites](#markdown-and-content-sites))",
        flags=("--drafts",),
        group="Pages",
        commands=("serve", "build"),
    ),
    Option(
        "spa",
        SpaEntries(),
        (),
        "Single-page app: paths no file matches get index.html (history fallback).",
        "single-page app: a page URL that matches no file, page or route is answered with"
        ' `index.html` (the URL stays); `spa = "app.html"` or a `[spa]` table of prefixes in'
        " siteserve.toml (see [Single-page apps](#single-page-apps))",
        flags=("--spa",),
        top_level=True,
        commands=("serve", "build"),
        shown_default="off",
    ),
    Option(
        "proxy",
        ProxySpecs(),
        (),
        "Send requests under PREFIX to a backend, e.g. /api=http://127.0.0.1:5000"
        " (repeatable; /=URL: the site's files first, the rest to the backend).",
        "send requests under `PREFIX` to a backend, e.g. `/api=http://127.0.0.1:5000`;"
        " repeatable. `/=URL` serves the site's files first and sends the rest to the"
        " backend (see [Proxy](#proxy) and the `[proxy]` table)",
        flags=("--proxy",),
        metavar="PREFIX=URL",
        table=None,
    ),
    Option(
        "reload",
        Flag(sets=False),
        True,
        "Do not watch files or reload browsers.",
        "turn live reload off",
        flags=("--no-reload",),
        group="Live reload",
    ),
    Option(
        "poll",
        Flag(),
        False,
        "Watch files by polling (network and container mounts).",
        "watch files by polling (for network and container mounts where file events do not arrive)",
        flags=("--poll",),
        group="Live reload",
    ),
    Option(
        "ignore",
        Texts(),
        (),
        "Changes to files matching GLOB never reload (repeatable).",
        "changes to files matching `GLOB` never reload the browser; repeatable",
        flags=("--ignore",),
        metavar="GLOB",
        top_level=True,
        adds=True,
        group="Live reload",
    ),
    Option(
        "share",
        Flag(),
        False,
        "Share on the LAN: --host 0.0.0.0, browsers cache an hour (unless --cache),"
        " and a share link (unless --share-link off).",
        "share on your network: `--host 0.0.0.0`, browsers cache files for an hour, and a"
        " share link (unless `--host`, `--cache` or `--share-link` say otherwise)",
        flags=("--share",),
        group="Sharing",
    ),
    Option(
        "share_link",
        Choice(
            ("off", "ro", "rw"),
            "--share-link takes ro, rw or off, not {value}"
            " (the folder goes first: siteserve DIR --share-link rw)",
        ),
        "off",
        "A URL with a random token lets visitors in, read-only or read-write"
        " [default: rw with --share, else off].",
        "a URL with a random token lets visitors in, read-only or read-write; `rw` with"
        " `--share`, else `off`",
        flags=("--share-link",),
        metavar="ro|rw|off",
        group="Sharing",
    ),
    Option(
        "expire",
        Duration(),
        None,
        "End the share link after TIME, e.g. 30m, 2h, 1d or seconds.",
        "end the share link (and its cookies) after `TIME`: `30m`, `2h`, `1d`, or seconds",
        flags=("--expire",),
        metavar="TIME",
        group="Sharing",
        shown_default="never",
    ),
    Option(
        "qr",
        Flag(),
        False,
        "Show a QR code of the LAN address in the terminal.",
        "print a QR code of the network address in the terminal, for a phone's camera",
        flags=("--qr",),
        group="Sharing",
    ),
    Option(
        "upload",
        Flag(),
        False,
        "Let visitors upload files and create folders (never overwrites).",
        "let visitors upload files (drag and drop on the listing, several at once) and create"
        " folders; never overwrites: `a (1).txt`",
        flags=("--upload",),
        group="Sharing",
    ),
    Option(
        "max_upload",
        Size(),
        1024**3,
        "Largest upload request, e.g. 500M or 4G [default: {default}].",
        "the largest upload request, e.g. `500M`, `4G`; default `{default}` (larger ones get 413)",
        flags=("--max-upload",),
        metavar="SIZE",
        group="Sharing",
        shown_default="1G",
    ),
    Option(
        "auth",
        Credentials(),
        (),
        "Ask for a password (HTTP Basic); USER:sha256:HEX keeps it out of shell history;"
        " :ro after it makes the user read-only.",
        "ask for a password (HTTP Basic) on every path; `USER:sha256:HEX` keeps the password"
        " out of shell history; `:ro` after it makes the user read-only; repeatable",
        flags=("--auth",),
        metavar="USER:PASSWORD",
        group="Sharing",
    ),
    Option(
        "auth_file",
        File(secret="auth file"),
        None,
        "Users from FILE, one USER:PASSWORD or USER:sha256:HEX (maybe with :ro) a line.",
        "users from a file, one `USER:PASSWORD` or `USER:sha256:HEX` a line (each maybe with"
        " `:ro`)",
        flags=("--auth-file",),
        metavar="FILE",
        group="Sharing",
    ),
    Option(
        "tls",
        Flag(),
        False,
        "HTTPS with a self-signed certificate (kept and reused).",
        "HTTPS with a self-signed certificate for localhost and your LAN addresses, kept in"
        " `~/.cache/siteserve` and reused; the banner shows its fingerprint",
        flags=("--tls",),
        group="Sharing",
    ),
    Option(
        "cert",
        File(secret="certificate"),
        None,
        "HTTPS with this certificate (PEM).",
        "HTTPS with your own certificate (PEM); give `--key` too",
        flags=("--cert",),
        metavar="FILE",
        group="Sharing",
    ),
    Option(
        "key",
        File(secret="private key"),
        None,
        "The private key for --cert (PEM).",
        "the private key for `--cert` (PEM)",
        flags=("--key",),
        metavar="FILE",
        group="Sharing",
    ),
    Option(
        "cors",
        Flag(),
        False,
        "Let pages on other sites read these files (CORS).",
        "add CORS headers so pages on other sites can read these files, and answer preflights",
        flags=("--cors",),
        group="Sharing",
    ),
    Option(
        "allowed_hosts",
        HostNames(),
        (),
        "Also answer to this host name (a tunnel, a proxy, a container); .example.com: and"
        " its subdomains (repeatable).",
        "also answer to the host name `NAME` (a tunnel, a reverse proxy, a container's name);"
        " `.example.com` is that name and all its subdomains, `*` any name; repeatable."
        " See [Security](#security)",
        flags=("--allowed-host",),
        metavar="NAME",
        adds=True,
        group="Sharing",
    ),
    Option(
        "cross_origin_writes",
        PathGlobs(key="cross_origin_writes"),
        (),
        "Paths of pages that take POST, PUT, PATCH and DELETE from other sites, e.g. /api/*.",
        group="Pages",
    ),
    # -- siteserve build ---------------------------------------------------------------
    Option(
        "output",
        Text(empty="the output folder must not be empty"),
        "dist",
        "Where to write the site [default: {default}].",
        "where to write the site; default `{default}` in the current folder",
        flags=("--output", "-o"),
        metavar="OUT",
        table=None,
        group="Build",
        commands=("build",),
    ),
    Option(
        "layout",
        Choice(("html", "folder"), "layout must be html or folder, not {value}"),
        "html",
        "html: about.html.jinja -> about.html; folder: -> about/index.html [default: {default}].",
        "how a page is named: `html` (the default) writes `about.html.jinja` as `about.html`,"
        " `folder` as `about/index.html`; see [Deploy](#deploy) for which host wants which",
        flags=("--layout",),
        metavar="LAYOUT",
        table="build",
        group="Build",
        commands=("build",),
    ),
    Option(
        "precompress",
        Flag(),
        False,
        "Also write .gz and .br next to each text file.",
        "also write a `.gz` and a `.br` next to each text file (for nginx's `gzip_static`)",
        flags=("--precompress",),
        table="build",
        group="Build",
        commands=("build",),
    ),
    Option(
        "strict",
        Flag(),
        False,
        "Exit 1 on any warning or broken link.",
        "exit with status 1 on any warning or broken link, not only on a template error",
        flags=("--strict",),
        table="build",
        group="Build",
        commands=("build",),
    ),
    Option(
        "force",
        Flag(),
        False,
        "Write into a non-empty OUT that no build made.",
        "write into a non-empty OUT that no `siteserve build` made (its own files stay)",
        flags=("--force",),
        table=None,
        group="Build",
        commands=("build",),
    ),
    Option(
        "jobs",
        Whole("jobs must be zero or more, not {value}"),
        0,
        "Processes that render pages [default: {default}].",
        "processes that render pages; default one per CPU (`1`: in the build's own process)",
        flags=("--jobs", "-j"),
        metavar="N",
        table=None,
        group="Build",
        commands=("build",),
        shown_default="one per CPU",
    ),
    Option(
        "paths",
        Texts(),
        (),
        "URLs rendered even when no page links to them.",
        table="build",
        group="Build",
        commands=("build",),
    ),
    Option(
        "base_url",
        BaseUrl(),
        "",
        "The site's public URL (https://example.com): what request.host reads in a page.",
        "the site's public origin (`https://example.com`): pages that read `request.host` or"
        " `request.scheme` are rendered for it, and absolute links to it count as the site's"
        " own; unset, pages are rendered for `localhost` (the build warns about each page that"
        " reads the host)",
        flags=("--base-url",),
        metavar="URL",
        table="build",
        group="Build",
        commands=("build",),
    ),
    Option(
        "missing",
        Texts(),
        (),
        "URLs linked on purpose that answer 404 (not reported as broken links).",
        table="build",
        group="Build",
        commands=("build",),
    ),
)

BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}

#: The tables of siteserve.toml besides those of the options: ``[limits]`` (config.Limits),
#: ``[site]`` (free values pages read as ``site``), ``[headers]`` (rules by glob) and
#: ``[markdown]`` (layouts by glob and raw HTML: config.MarkdownOptions) and ``[proxy]``
#: (prefix -> backend URL or a table of route options: config.ProxyRoute).
OTHER_TABLES = ("limits", "site", "headers", "markdown", "proxy")
#: Arrays of tables: ``[[redirects]]`` (redirect and rewrite rules: siteserve.rules.native).
TABLE_ARRAYS = ("redirects",)


def for_command(command: str, options: Sequence[Option] = OPTIONS) -> tuple[Option, ...]:
    """The options ``siteserve COMMAND`` takes, in declaration order."""
    return tuple(option for option in options if command in option.commands)


def on_command_line(options: Sequence[Option]) -> tuple[Option, ...]:
    return tuple(option for option in options if option.flags)


def toml_tables() -> tuple[str, ...]:
    """Every table siteserve.toml may have: those of the options first, then the others."""
    tables = dict.fromkeys(option.table for option in OPTIONS if option.table is not None)
    return (*tables, *OTHER_TABLES)


# -- what the command line has besides the options, and the README table -----------------

FOLDER_METAVAR = "DIR"
FOLDER_HELP = "The site folder to serve."
BUILD_FOLDER_HELP = "The site folder to write as plain files."
VERSION_FLAG = "--version"
VERSION_HELP = "Show the version and exit."
HELP_FLAGS = ("-h", "--help")

#: The README's first row, per command.
_FOLDER_ROWS = {
    "serve": (f"`{FOLDER_METAVAR}`", "the folder to serve; default `.`"),
    "build": (f"`{FOLDER_METAVAR}`", "the site folder to write as plain files; default `.`"),
}
_ROWS_AFTER = (
    (f"`{VERSION_FLAG}`", "print the version"),
    (", ".join(f"`{flag}`" for flag in HELP_FLAGS), "the options, with examples"),
)


def flag_spelling(option: Option) -> str:
    """``-p``, ``--port N``: short forms first, the metavar after the long flag (markdown)."""
    long = [flag for flag in option.flags if flag.startswith("--")]
    short = [flag for flag in option.flags if not flag.startswith("--")]
    # A "|" in a metavar (ro|rw|off) would end the table's cell: GFM wants it escaped.
    suffix = f" {option.metavar.replace('|', chr(92) + '|')}" if option.metavar else ""
    return ", ".join([*(f"`{flag}`" for flag in short), *(f"`{flag}{suffix}`" for flag in long)])


def markdown_table(command: str = "serve") -> str:
    """The options table of the README's "Usage" section, as the declarations say it."""
    rows = [
        _FOLDER_ROWS[command],
        *(
            (flag_spelling(option), option.doc_text())
            for option in on_command_line(for_command(command))
        ),
        *_ROWS_AFTER,
    ]
    lines = ["| option | what it does |", "| --- | --- |"]
    lines += [f"| {flags} | {text} |" for flags, text in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
