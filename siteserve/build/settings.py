"""What one build is asked to do, and the site's Config as a build reads it.

A build renders every page once, as a GET with no query, no cookies and an
empty session, at one instant: ``now()`` in every page answers the time the
build started (or ``SOURCE_DATE_EPOCH``, the reproducible-builds convention),
so a page is the same whichever process renders it and in whatever order.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

from siteserve.build.site_files import SnapshotResolver, TreeSnapshot
from siteserve.config import Config, ConfigError, build_config
from siteserve.site.layouts import LayoutRules
from siteserve.site.resolver import Resolver

#: ``html``: ``about.html.jinja`` is written as ``about.html``; ``folder``: as
#: ``about/index.html``. See the README's "Deploy" section for which host wants which.
Layout = Literal["html", "folder"]
LAYOUTS: Final[tuple[Layout, ...]] = ("html", "folder")

#: The Host every page is rendered for (``request.host``) unless ``[build] base_url``
#: names the public one, and what makes an absolute link internal (``http://localhost/about``).
BUILD_HOST: Final = "localhost"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where the built site will be served: what pages see as ``request.scheme`` and
    ``request.host``, and the host of the absolute links that are the site's own."""

    scheme: str = "http"
    host: str = BUILD_HOST
    #: Whether it was given (``--base-url``); else pages that read the host are named.
    given: bool = False


#: ``http://localhost``: where pages are rendered for when no base URL is given.
LOCAL_ORIGIN: Final = Origin()


def public_origin(config: Config) -> Origin:
    """The origin of ``[build] base_url`` (``https://example.com``), else ``http://localhost``."""
    if not config.base_url:
        return LOCAL_ORIGIN
    scheme, _, host = config.base_url.partition("://")
    return Origin(scheme, host, given=True)


@dataclass(frozen=True, slots=True)
class BuildSettings:
    """Everything a build (and each of its worker processes) needs; picklable."""

    #: The site folder, every symlink resolved.
    root: Path
    #: The output folder (absolute; it may not exist yet).
    out: Path
    layout: Layout = "html"
    force: bool = False
    strict: bool = False
    #: Also write ``.gz`` and ``.br`` siblings of text files.
    precompress: bool = False
    #: Processes that render pages; 0 means one per CPU, 1 renders in this process.
    jobs: int = 0
    #: The instant ``now()`` answers in every page (seconds since the epoch).
    clock: float = 0.0
    #: The options given on the command line (name, value), for every worker's Config.
    options: tuple[tuple[str, object], ...] = ()

    def site_config(self) -> Config:
        return site_config(self.root, dict(self.options))


def build_clock(environ: dict[str, str] | None = None) -> float:
    """``SOURCE_DATE_EPOCH`` when it is set (reproducible builds), else the time now."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "").strip()
    if not value:
        return time.time()
    try:
        return float(int(value))
    except ValueError:
        message = f"SOURCE_DATE_EPOCH must be a whole number of seconds, not {value!r}"
        raise ConfigError(message) from None


def site_config(root: Path, options: dict[str, object] | None = None) -> Config:
    """The site's Config as the live server reads it, with what a build cannot use off.

    Live reload is off (no script injected, no watcher), uploads are off (a static
    host takes none), and sessions live in memory: a build renders with an empty
    session and writes nothing outside its output folder, not even a sessions file.
    (A sessions file configured where it would be served is refused by build_config,
    as the server refuses it.)
    """
    config = build_config(root, **{**(options or {}), "reload": False})
    return replace(config, sessions=None, upload=False)


def site_resolver(config: Config, *, snapshot: TreeSnapshot | None = None) -> Resolver:
    """A resolver with the Site's rules (``Site`` makes its own the same way), for a folder
    that holds still during the build: route files are looked for once, and with
    ``snapshot`` (the build's walk of the folder) no file is looked for on the disk."""
    if snapshot is None:
        return Resolver(
            config.root,
            follow_symlinks=config.follow_symlinks,
            render_globs=config.render,
            markdown=LayoutRules(config.markdown),
            rescan_routes=False,
        )
    return SnapshotResolver(
        config.root,
        follow_symlinks=config.follow_symlinks,
        render_globs=config.render,
        markdown=LayoutRules(config.markdown),
        snapshot=snapshot,
    )


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity, where the OS tells)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)
