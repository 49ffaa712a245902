"""One frozen Config, built and validated once from siteserve.toml and the CLI.

Start-up errors are ``ConfigError``: the CLI prints their message as one line
and exits with status 2. Nothing after start-up reads options from anywhere else.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

CONFIG_FILE = "siteserve.toml"


class ConfigError(Exception):
    """A start-up error: a bad option, a missing folder, a taken port."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Every bound the server keeps; each one is a key of ``[limits]`` in siteserve.toml."""

    max_request_line: int = 8 * 1024
    max_header_bytes: int = 64 * 1024
    max_headers: int = 100
    max_body: int = 16 * 1024 * 1024
    header_timeout: float = 10.0
    keepalive_timeout: float = 5.0
    max_connections: int = 1024
    shutdown_timeout: float = 5.0


@dataclass(frozen=True, slots=True)
class Config:
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
    sessions: str | None = None
    # -- sharing (siteserve.share) --
    #: ``--share``: listen on every interface with the sharing cache profile.
    share: bool = False
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


#: Each key of ``[server]`` (and the top-level shortcuts) with the TOML type it must have.
_SERVER_KEYS: dict[str, type | tuple[type, ...]] = {
    "host": str,
    "port": int,
    "strict_port": bool,
    "open_browser": bool,
    "quiet": bool,
    "follow_symlinks": bool,
    "reload": bool,
    "cache_seconds": int,
    "render": list,
    "ignore": list,
    "poll": bool,
    "strict_undefined": bool,
    "sessions": str,
    "share": bool,
    "qr": bool,
    "upload": bool,
    "max_upload": (int, str),
    "auth": (str, list),
    "auth_file": str,
    "tls": bool,
    "cert": str,
    "key": str,
    "cors": bool,
}


def _checked(key: str, value: Any) -> Any:
    """A TOML value of the right type for ``key``, or a ConfigError naming both."""
    expected = _SERVER_KEYS[key]
    kinds = expected if isinstance(expected, tuple) else (expected,)
    # bool is an int in Python; TOML keeps them apart, and so do we.
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(_TYPE_NAMES[kind] for kind in kinds)
        raise ConfigError(f"{CONFIG_FILE}: {key} must be {names}, not {value!r}")
    if isinstance(value, list):
        if not all(isinstance(item, str) for item in value):
            raise ConfigError(f"{CONFIG_FILE}: {key} must be a list of strings")
        return tuple(value)
    return value


_TYPE_NAMES: dict[type, str] = {
    str: "a string",
    int: "a whole number",
    bool: "true or false",
    list: "a list",
}


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{CONFIG_FILE}: [{name}] must be a table")
    return dict(table)


#: The tables siteserve.toml may have, and the [server] keys it may also give at the top.
_TABLES = frozenset({"server", "limits", "site", "headers"})
_TOP_LEVEL_SHORTCUTS = frozenset({"render", "ignore", "strict_undefined", "sessions"})

#: Keys naming files: relative values in siteserve.toml are relative to the site folder.
_PATH_KEYS = ("auth_file", "cert", "key")

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


def load_file(root: Path) -> dict[str, Any]:
    """Read ``siteserve.toml`` in the site folder, or nothing when there is none."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ConfigError(f"{path}: {error}") from error


def _limits_from(table: dict[str, Any], base: Limits) -> Limits:
    known = {f.name: f.type for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        key = key.replace("-", "_")
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


def build_config(root: Path, **options: Any) -> Config:
    """Validate everything once: the folder, the file, then CLI options on top.

    ``options`` holds only what the user gave on the command line (None means
    "not given"), so a value in siteserve.toml stands unless the CLI overrides it.
    """
    if not root.exists():
        raise ConfigError(f"folder not found: {root}")
    if not root.is_dir():
        raise ConfigError(f"not a folder: {root}")
    root = root.resolve()
    data = load_file(root)
    values: dict[str, Any] = {}
    server = _table(data, "server")
    for raw_key in data:
        key = raw_key.replace("-", "_")
        if key in _TOP_LEVEL_SHORTCUTS:
            server[key] = data[raw_key]
        elif key not in _TABLES:
            raise ConfigError(f"{CONFIG_FILE}: unknown key or table {raw_key}")
    for key, value in server.items():
        key = key.replace("-", "_")
        if key not in _SERVER_KEYS:
            raise ConfigError(f"{CONFIG_FILE}: unknown key {key}")
        value = _checked(key, value)
        if key in _PATH_KEYS:
            value = root / Path(value).expanduser()
        values[key] = value
    limits = _limits_from(_table(data, "limits"), Limits())
    for key, value in options.items():
        if value is None:
            continue
        if key == "limits":
            limits = _limits_from(value, limits)
        elif key in ("ignore", "render"):
            values[key] = tuple(values.get(key, ())) + tuple(value)
        else:
            values[key] = value
    _sharing_values(values)
    for key, what in (("cert", "certificate"), ("key", "private key"), ("auth_file", "auth file")):
        if values.get(key) is not None:
            refuse_if_served(root, Path(values[key]), what)
    config = Config(
        root=root,
        limits=limits,
        site=MappingProxyType(_table(data, "site")),
        headers=_headers_from(_table(data, "headers")),
        **values,
    )
    _validate(config)
    return config


def _sharing_values(values: dict[str, Any]) -> None:
    """Derive and check the sharing options in place (before the frozen Config is made)."""
    from siteserve.share.credentials import CredentialError, load_credentials

    if values.get("share"):
        # --share is --host 0.0.0.0 plus the sharing cache profile, unless either was given.
        values.setdefault("host", "0.0.0.0")
        values.setdefault("cache_seconds", 3600)
    if "max_upload" in values:
        values["max_upload"] = parse_size(values["max_upload"])
    auth = values.get("auth", ())
    if isinstance(auth, str):
        auth = (auth,)
    auth_file = values.get("auth_file")
    if auth_file is not None:
        values["auth_file"] = auth_file = Path(auth_file)
    if auth or auth_file is not None:
        try:
            credentials = load_credentials(tuple(auth), auth_file)
        except CredentialError as error:
            raise ConfigError(str(error)) from None
        values["auth"] = tuple(credential.spec for credential in credentials)
    cert, key = values.get("cert"), values.get("key")
    if (cert is None) != (key is None):
        raise ConfigError("--cert and --key go together: give both or neither")
    if cert is not None and key is not None:
        for name, path in (("certificate", Path(cert)), ("key", Path(key))):
            if not path.is_file():
                raise ConfigError(f"{name} file not found: {path}")
        values["cert"], values["key"] = Path(cert), Path(key)
        values["tls"] = True  # one's own certificate means HTTPS


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


def _validate(config: Config) -> None:
    if not isinstance(config.port, int) or not 0 <= config.port <= 65535:
        raise ConfigError(f"port must be between 0 and 65535, not {config.port}")
    if config.cache_seconds is not None and config.cache_seconds < 0:
        raise ConfigError("cache seconds must be zero or more")
    if not config.host:
        raise ConfigError("host must not be empty")
