"""siteserve as an ASGI 3 application, for production servers (uvicorn, granian, gunicorn).

    SITESERVE_ROOT=/srv/mysite uvicorn siteserve.asgi:app
    application = siteserve.asgi.create_app("/srv/mysite", upload=True)

``app`` reads the folder from ``SITESERVE_ROOT`` and its ``siteserve.toml``
when the server starts it, and ``create_app`` takes the folder and options
named like the ``Config`` fields (``siteserve.options``): both build their
Config with ``config.build_config``, so validation and error messages are the
CLI's. Live reload and share links are not available here (a production
server has no file watcher, no reload socket and no banner); everything else is
the built-in server's own stack (``assemble.build_app``), reached through
``asgi.app.SiteserveAsgi``.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from siteserve.asgi.app import SiteserveAsgi
from siteserve.config import Config, ConfigError, build_config

__all__ = ["ROOT_VARIABLE", "SiteserveAsgi", "app", "asgi_config", "create_app"]

#: The environment variable ``app`` reads the site folder from.
ROOT_VARIABLE = "SITESERVE_ROOT"


#: Why a share link cannot work here: its token is shown in siteserve's own banner,
#: and every worker process would make a token of its own.
NO_SHARE_LINK = (
    "share links are not available under an ASGI server (no banner shows the link,"
    " and each worker would make its own); use auth instead"
)


def asgi_config(root: str | os.PathLike[str], **options: object) -> Config:
    """The Config for ``root`` as the CLI builds it, with live reload and share links off.

    ``share = true`` still means what it does for the CLI (the sharing cache
    profile), without the share link it would otherwise imply; a share link
    asked for by itself is a start-up error.
    """
    if options.get("reload"):
        raise ConfigError("live reload is not available under an ASGI server; leave reload out")
    if options.get("share_link") not in (None, "off"):
        raise ConfigError(NO_SHARE_LINK)
    options = {**options, "reload": False}
    config = build_config(Path(root), **options)
    if config.share_link != "off":
        if not config.share:
            raise ConfigError(NO_SHARE_LINK)  # asked for in siteserve.toml
        config = build_config(Path(root), **options, share_link="off")
    if not config.allowed_hosts:
        # Behind a production server the app cannot know its public names, and the
        # rebinding risk of a dev server on 127.0.0.1 is not there: the front server
        # (nginx's server_name, a load balancer) picks the names unless
        # allowed_hosts asks siteserve to check them too.
        config = replace(config, allowed_hosts=("*",))
    return config


def create_app(root: str | os.PathLike[str], **options: object) -> SiteserveAsgi:
    """An ASGI app serving ``root``; ``options`` win over its siteserve.toml, as on the CLI.

    The Config is built (and checked) now: a bad option raises ``ConfigError``
    here, before any server starts.
    """
    config = asgi_config(root, **options)
    return SiteserveAsgi(lambda: config)


def config_from_environment() -> Config:
    """The Config for the folder ``SITESERVE_ROOT`` names, and its siteserve.toml."""
    root = os.environ.get(ROOT_VARIABLE, "")
    if not root:
        raise ConfigError(
            f"{ROOT_VARIABLE} is not set: give the site folder, e.g. {ROOT_VARIABLE}=/srv/mysite"
        )
    return asgi_config(root)


#: ``siteserve.asgi:app``: the site in ``SITESERVE_ROOT``, configured when the server starts it.
app = SiteserveAsgi(config_from_environment)
