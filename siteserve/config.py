"""One frozen Config, built and validated once from siteserve.toml and the CLI.

What each option is (its type, default, flags, siteserve.toml key and checks)
is declared in ``siteserve.options``; this module reads siteserve.toml through
those declarations, lays the command line on top, derives what follows from
several options together (``--share``, ``--auth`` with ``--auth-file``,
``--cert`` with ``--key``) and refuses, at start-up, any file the server would
hand out that must stay private. Start-up errors are ``ConfigError``: the CLI
prints their message as one line and exits with status 2. Nothing after
start-up reads options from anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from siteserve.http.limits import ParserLimits
from siteserve.options import BY_NAME, OPTIONS, TABLE_ARRAYS, FileKind, Option, toml_tables
from siteserve.options import ConfigError as ConfigError
from siteserve.options import parse_duration as parse_duration
from siteserve.options import parse_size as parse_size

if TYPE_CHECKING:
    from siteserve.rules.model import RedirectRule

CONFIG_FILE = "siteserve.toml"


_PARSER_DEFAULTS = ParserLimits()


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound the server keeps; each one is a key of ``[limits]`` in siteserve.toml.

    The first four are the parser's (their defaults are ``ParserLimits``'s);
    ``parser_limits`` hands them to the protocol layer, which never sees this class.
    """

    max_request_line: int = _PARSER_DEFAULTS.max_request_line
    max_header_bytes: int = _PARSER_DEFAULTS.max_header_bytes
    max_headers: int = _PARSER_DEFAULTS.max_headers
    max_body: int = _PARSER_DEFAULTS.max_body
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1024
    shutdown_timeout: float = 5.0
    #: Fields in one urlencoded or multipart form a page reads (more: 413).
    max_form_fields: int = 1000
    #: Parts in one multipart body, a page's form or an upload (more: 413).
    max_multipart_parts: int = 1000

    def parser_limits(self) -> ParserLimits:
        """The bounds of one request, for ``http.parser.RequestParser``."""
        return ParserLimits(
            max_request_line=self.max_request_line,
            max_header_bytes=self.max_header_bytes,
            max_headers=self.max_headers,
            max_body=self.max_body,
        )


@dataclass(frozen=True, slots=True)
class MarkdownOptions:
    """The ``[markdown]`` table: which ``.md`` files are pages, and how they are rendered."""

    #: (glob, layout) rules matched like ``render`` globs, later ones winning; a page's own
    #: ``layout:`` front matter beats them all. ``layout = "..."`` alone is ``("*", ...)``.
    layouts: tuple[tuple[str, str], ...] = ()
    #: Raw HTML in Markdown is shown as text unless this is on.
    html: bool = False


@dataclass(frozen=True, slots=True)
class ProxyRoute:
    """One ``--proxy PREFIX=URL`` or ``[proxy]`` entry: requests under ``prefix`` go to ``url``.

    ``url`` is the backend's origin with an optional base path (no query). With
    ``strip_prefix`` the backend sees ``/api/users`` as ``/users``; with
    ``change_origin`` it gets its own ``Host`` instead of the browser's. The
    timeouts are seconds: connecting, and waiting for each read of the answer.
    """

    prefix: str
    url: str
    strip_prefix: bool = False
    change_origin: bool = False
    connect_timeout: float = 5.0
    read_timeout: float = 60.0


_ROUTE_FIELDS = {f.name: f.type for f in fields(ProxyRoute)}


@dataclass(frozen=True, slots=True)
class Config:
    """Every setting of one run. Each field but ``root``, ``limits``, ``site``, ``headers``,
    ``markdown`` and ``redirects`` is an option declared in ``siteserve.options``, with the same
    default."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 8000
    strict_port: bool = False
    open_browser: bool = False
    quiet: bool = False
    follow_symlinks: bool = False
    reload: bool = True
    #: None is the development profile (no-cache); a number is the sharing profile.
    cache_seconds: int | None = None
    limits: Limits = field(default_factory=Limits)
    #: Globs of plain files rendered as templates (``render = ["*.html"]``).
    render: tuple[str, ...] = ()
    #: The ``[site]`` table, visible to pages as ``site``.
    site: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: Extra ``[headers]`` applied on top of every response: glob -> {name: value}.
    headers: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()
    #: Extra ignore globs for the watcher.
    ignore: tuple[str, ...] = ()
    poll: bool = False
    strict_undefined: bool = False
    #: A SQLite file (relative to the site folder) or a ``redis://`` URL; None: in memory.
    sessions: str | None = None
    #: Worker processes serving the port (``siteserve.server.workers``); 1: this process.
    workers: int = 1
    # -- sharing (siteserve.share) --
    #: ``--share``: listen on every interface with the sharing cache profile (and a share link).
    share: bool = False
    #: ``--share-link``: a URL with a random token lets visitors in, ``ro`` or ``rw``; or ``off``.
    share_link: Literal["off", "ro", "rw"] = "off"
    #: ``--expire``: seconds after start when the share link (and its cookies) stop working.
    expire: float | None = None
    #: Print a QR code of the first LAN URL in the banner.
    qr: bool = False
    #: Accept uploads (POST multipart to a folder URL) and folder creation.
    upload: bool = False
    #: Bytes one upload request may carry (its own bound; ``limits.max_body`` stays for the rest).
    max_upload: int = 1024**3
    #: HTTP Basic credentials, normalised to ``user:sha256:HEX`` (no plain password kept).
    auth: tuple[str, ...] = ()
    auth_file: Path | None = None
    tls: bool = False
    cert: Path | None = None
    key: Path | None = None
    cors: bool = False
    # -- siteserve build (siteserve.build) --
    #: ``-o``: where the build writes the site (relative to the current folder).
    output: str = "dist"
    #: ``html``: ``about.html.jinja`` -> ``about.html``; ``folder``: -> ``about/index.html``.
    layout: str = "html"
    precompress: bool = False
    strict: bool = False
    force: bool = False
    #: Processes that render pages; 0 is one per CPU.
    jobs: int = 0
    #: ``[build] paths``: URLs rendered even when no page links to them.
    paths: tuple[str, ...] = ()
    #: ``[build] base_url``: the public origin pages are built for ("" : ``localhost``).
    base_url: str = ""
    #: ``[build] missing``: URLs linked on purpose that answer 404 (a not-found demo).
    missing: tuple[str, ...] = ()
    #: ``[[redirects]]`` of siteserve.toml, first of the site's rules (``siteserve.rules``).
    redirects: tuple[RedirectRule, ...] = ()
    #: The history fallback: (URL prefix, entry file) pairs; empty: off (``site.spa``).
    spa: tuple[tuple[str, str], ...] = ()
    # -- content (siteserve.site.content) --
    markdown: MarkdownOptions = field(default_factory=MarkdownOptions)
    #: ``--drafts``: ``pages()`` lists pages whose front matter says ``draft: true``.
    drafts: bool = False
    # -- host and origin (siteserve.hosts, siteserve.origins) --
    #: ``--allowed-host``: more names the server answers to (``.example.com``: and subdomains).
    allowed_hosts: tuple[str, ...] = ()
    #: Path globs whose pages take writes (POST, PUT, ...) from pages of other origins.
    cross_origin_writes: tuple[str, ...] = ()
    # -- proxy (siteserve.proxy) --
    #: ``--proxy`` and ``[proxy]``: backends by path prefix, the longest prefix first.
    proxy: tuple[ProxyRoute, ...] = ()


#: What a TOML type is called in an error message.
_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _key(raw: str) -> str:
    """Keys may be written with ``_`` or ``-``."""
    return raw.replace("-", "_")


def _dotted(table: str, key: str) -> str:
    """How errors name a key: ``[server]`` keys by themselves, others as ``table.key``."""
    return key if table == "server" else f"{table}.{key}"


def _checked(option: Option, name: str, value: Any) -> Any:
    """A TOML value of the type ``option`` takes, or a ConfigError naming both."""
    kinds = option.kind.toml_types
    # bool is an int in Python; TOML keeps them apart, and so do we.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
        raise ConfigError(f"{CONFIG_FILE}: {name} must be {names}, not {value!r}")
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{CONFIG_FILE}: {name} must be a list of strings")
        return tuple(value)
    return value


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{CONFIG_FILE}: [{name}] must be a table")
    return dict(table)


def _file_values(data: dict[str, Any], root: Path) -> dict[str, Any]:
    """The options siteserve.toml sets, each read and type-checked by its declaration."""
    tables = toml_tables()
    by_table = {table: _table(data, table) for table in tables if table in data}
    shortcuts = {option.name: option for option in OPTIONS if option.top_level}
    for raw_key, value in data.items():
        key = _key(raw_key)
        shortcut = shortcuts.get(key)
        if shortcut is not None and shortcut.table is not None:
            by_table.setdefault(shortcut.table, {})[key] = value
        elif key not in tables and key not in TABLE_ARRAYS:
            raise ConfigError(f"{CONFIG_FILE}: unknown key or table {raw_key}")
    values: dict[str, Any] = {}
    for table, entries in by_table.items():
        declared = {option.name: option for option in OPTIONS if option.table == table}
        if not declared:
            continue  # [limits], [site], [headers], [markdown]: read by build_config itself
        for raw_key, value in entries.items():
            key = _key(raw_key)
            option = declared.get(key)
            if option is None:
                raise ConfigError(f"{CONFIG_FILE}: unknown key {_dotted(table, key)}")
            values[key] = option.kind.from_toml(_checked(option, _dotted(table, key), value), root)
    return values


def _redirects_from(data: dict[str, Any]) -> tuple[RedirectRule, ...]:
    """``[[redirects]]``; the rule modules load only for a siteserve.toml that has some."""
    if "redirects" not in data:
        return ()
    from siteserve.rules.native import redirects_from

    return redirects_from(data["redirects"])


def load_file(root: Path) -> dict[str, Any]:
    """Read ``siteserve.toml`` in the site folder, or nothing when there is none."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    import tomllib  # only a site with a siteserve.toml pays for the TOML parser

    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from error


def _limits_from(table: dict[str, Any], base: Limits) -> Limits:
    known = {f.name: f.type for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        key = _key(key)
        if key not in known:
            raise ConfigError(f"{CONFIG_FILE}: unknown key limits.{key}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"{CONFIG_FILE}: limits.{key} must be a positive number")
        values[key] = value
    return replace(base, **values)


def _headers_from(table: dict[str, Any]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    rules = []
    for pattern, values in table.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{CONFIG_FILE}: headers.{pattern} must be a table of name = value")
        rules.append((pattern, tuple((str(k), str(v)) for k, v in values.items())))
    return tuple(rules)


def _markdown_from(table: dict[str, Any]) -> MarkdownOptions:
    layouts: list[tuple[str, str]] = []
    html = False
    for key, value in table.items():
        if key == "layout" and isinstance(value, str):
            layouts.append(("*", value))
        elif key == "layout" and isinstance(value, dict):
            for pattern, layout in value.items():
                if not isinstance(layout, str):
                    raise ConfigError(
                        f"{CONFIG_FILE}: markdown.layout.{pattern} must be a layout's path"
                    )
                layouts.append((pattern.strip("/"), layout))
        elif key == "layout":
            raise ConfigError(
                f"{CONFIG_FILE}: markdown.layout must be a layout's path or a table of"
                ' glob = layout, e.g. layout = "_layouts/page.html"'
            )
        elif key == "html":
            if not isinstance(value, bool):
                raise ConfigError(f"{CONFIG_FILE}: markdown.html must be true or false")
            html = value
        else:
            raise ConfigError(f"{CONFIG_FILE}: unknown key markdown.{key}")
    return MarkdownOptions(layouts=tuple(layouts), html=html)


def proxy_route(prefix: str, url: str, **extra: Any) -> ProxyRoute:
    """A checked route: a path prefix, an http(s) URL, and known options of the right type."""
    from urllib.parse import urlsplit

    where = f"proxy {prefix!r}"
    if not prefix.startswith("/") or "?" in prefix or "#" in prefix:
        raise ConfigError(f"{where}: the prefix must be a path starting with /")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(f"{where}: the backend must be an http:// or https:// URL, not {url!r}")
    try:
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise ConfigError(f"{where}: bad port in {url!r}") from None
    for key, value in extra.items():
        if key not in _ROUTE_FIELDS or key in ("prefix", "url"):
            raise ConfigError(f"{CONFIG_FILE}: unknown key proxy.{prefix}.{key}")
        if key.endswith("_timeout"):
            extra[key] = parse_duration(value)
        elif not isinstance(value, bool):
            raise ConfigError(f"{CONFIG_FILE}: proxy.{prefix}.{key} must be true or false")
    # "/api/" and "/api" are one prefix: a request for "/api" itself goes to the backend too.
    cleaned = "/" + prefix.strip("/") if prefix != "/" else "/"
    return ProxyRoute(prefix=cleaned, url=url.rstrip("/"), **extra)


def _proxy_from(table: dict[str, Any], specs: tuple[str, ...]) -> tuple[ProxyRoute, ...]:
    """``[proxy]`` ("/api" = URL, or a table with ``url`` and route options), then --proxy."""
    routes: dict[str, ProxyRoute] = {}
    for prefix, value in table.items():
        if isinstance(value, str):
            route = proxy_route(prefix, value)
        elif isinstance(value, dict) and isinstance(value.get("url"), str):
            extra = {_key(k): v for k, v in value.items() if k != "url"}
            route = proxy_route(prefix, value["url"], **extra)
        else:
            raise ConfigError(
                f"{CONFIG_FILE}: proxy.{prefix} must be a URL or a table with url = ..."
            )
        routes[route.prefix] = route
    for spec in specs:
        prefix, _, url = spec.partition("=")
        route = proxy_route(prefix, url)
        previous = routes.get(route.prefix)
        if previous is not None:
            # The command line names the backend; the file's options for that prefix stay.
            route = replace(previous, url=route.url)
        routes[route.prefix] = route
    return tuple(sorted(routes.values(), key=lambda route: len(route.prefix), reverse=True))


def build_config(root: Path, **options: Any) -> Config:
    """Validate everything once: the folder, the file, then CLI options on top.

    ``options`` holds only what the user gave on the command line (None means
    "not given"), so a value in siteserve.toml stands unless the CLI overrides it.
    Its keys are ``Config`` field names (``siteserve.options``), and ``limits``.
    """
    if not root.exists():
        raise ConfigError(f"folder not found: {root}")
    if not root.is_dir():
        raise ConfigError(f"not a folder: {root}")
    root = root.resolve()
    data = load_file(root)
    # Values of every type meet here, on their way into the one typed Config.
    values = _file_values(data, root)
    limits = _limits_from(_table(data, "limits"), Limits())
    for key, value in options.items():
        if value is None:
            continue
        if key == "limits":
            limits = _limits_from(value, limits)
            continue
        if key not in BY_NAME:
            raise TypeError(f"build_config() got an unknown option {key!r}")
        if BY_NAME[key].adds:
            values[key] = tuple(values.get(key, ())) + tuple(value)
        else:
            values[key] = value
    for key, value in values.items():
        values[key] = BY_NAME[key].kind.parse(value)
    _combined_values(values)
    _refuse_served_secrets(root, values)
    values["proxy"] = _proxy_from(_table(data, "proxy"), values.get("proxy", ()))
    return Config(
        root=root,
        limits=limits,
        site=MappingProxyType(_table(data, "site")),
        headers=_headers_from(_table(data, "headers")),
        markdown=_markdown_from(_table(data, "markdown")),
        redirects=_redirects_from(data),
        **values,
    )


def _combined_values(values: dict[str, Any]) -> None:
    """Derive and check, in place, what follows from several options together."""
    if values.get("share"):
        # --share is --host 0.0.0.0, the sharing cache profile and a read-write share
        # link (the rights every visitor had before links), unless any was given.
        values.setdefault("host", "0.0.0.0")
        values.setdefault("cache_seconds", 3600)
        values.setdefault("share_link", "rw")
    if values.get("expire") is not None and values.get("share_link", "off") == "off":
        raise ConfigError("--expire ends a share link: give --share or --share-link too")
    auth, auth_file = values.get("auth", ()), values.get("auth_file")
    if auth or auth_file is not None:
        from siteserve.share.credentials import CredentialError, load_credentials

        try:
            credentials = load_credentials(auth, auth_file)
        except CredentialError as error:
            raise ConfigError(str(error)) from None
        values["auth"] = tuple(credential.spec for credential in credentials)
    workers = values.get("workers", 1)
    if workers > 1 and values.get("sessions") is None:
        # Each worker is a process of its own: a session kept in one's memory is not in the next.
        raise ConfigError(
            f"{workers} workers cannot share sessions kept in memory: set"
            ' sessions = "_sessions.db" (SQLite) or sessions = "redis://HOST:6379/0"'
            " in siteserve.toml"
        )
    cert, key = values.get("cert"), values.get("key")
    if (cert is None) != (key is None):
        raise ConfigError("--cert and --key go together: give both or neither")
    if cert is not None and key is not None:
        for name, path in (("certificate", cert), ("key", key)):
            if not path.is_file():
                raise ConfigError(f"{name} file not found: {path}")
        values["tls"] = True  # one's own certificate means HTTPS


def _refuse_served_secrets(root: Path, values: dict[str, Any]) -> None:
    """Certificate, key, auth file, sessions file: none may be where the site serves it."""
    for option in OPTIONS:
        if isinstance(option.kind, FileKind) and values.get(option.name) is not None:
            where = option.kind.location(root, values[option.name])
            if where is not None:  # a Redis URL is no file
                refuse_if_served(root, where, option.kind.secret)


def refuse_if_served(root: Path, path: Path, what: str) -> None:
    """A secret the static server would hand out (inside the site, no ``_`` or ``.``
    segment) is a start-up error: anyone could download it."""
    resolved = path.expanduser().resolve()
    if not resolved.is_relative_to(root):
        return
    parts = resolved.relative_to(root).parts
    if not any(part.startswith(("_", ".")) for part in parts):
        raise ConfigError(
            f"{what} {resolved} is inside the site folder and would be served;"
            " give it a leading _ (e.g. _secrets/) or keep it elsewhere"
        )
