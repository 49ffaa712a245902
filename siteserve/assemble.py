"""Put the app together from a Config: the Site and the layers around it, in one place.

Each layer is a ``siteserve.layers.Layer`` around the app inside it; every
capability (``handle``, ``startup``, ``shutdown``, ``body_limit``,
``invalidate``) goes down the chain unless a layer changes it. From the inside
out:

- ``Site``: files, listings, pages and error pages (``site.app``);
- ``ShareApp``: health, downloads, folder zips, uploads (and their larger
  body bound, ``share.app``);
- ``RulesApp`` when the site has rules at start: its redirect, rewrite and
  header rules (``_redirects``, ``_headers``, ``serve.json``,
  ``[[redirects]]``; ``rules.layer``);
- ``Proxy`` when ``--proxy`` routes are set: requests under a prefix go to a
  backend (``proxy.app``); inside the reload layer, so proxied pages get the
  script on their way out and every change reloads the tabs that show them;
- ``ReloadApp`` when live reload is on: the script in each page (its
  injector is the Site's HTML transform, so an HTML file gets the script
  before its validators), the WebSocket, cache invalidation on change
  (``reload.app``);
- ``AuthApp`` when a password or a share link is set, so every path (the
  reload WebSocket included) needs one, and a large body only with valid
  credentials; it marks read-only users and links' requests (``share.auth``,
  ``share.links``);
- ``CorsApp`` outside the password check, because browsers send CORS
  preflights without credentials, ever, and a preflight answered 401 would
  break every cross-origin request (a preflight shows nothing but headers;
  ``share.cors``);
- ``WriteGuard``: a POST, PUT, PATCH or DELETE from a page of another origin
  is refused, outside CORS, so ``--cors`` opens reading and not writing
  (``share.write_guard``);
- ``HostCheck`` outermost: nothing at all is served to a request sent to a
  name that is not this server's (DNS rebinding; ``share.host_check``), unless
  ``--allowed-host *`` turns the check off.

The server's names (``hosts.AllowedHosts``) are found once, here, and handed
to every layer that needs them.

The CLI, the test fixtures and the benchmarks all build the app here, so what
is tested is what runs. The modules are imported when the app is built, so
``siteserve --help`` loads none of them (nor Jinja, which the Site's pages need).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from siteserve.config import Config
from siteserve.layers import App

if TYPE_CHECKING:
    from siteserve.share.links import ShareLink


def new_share_link(config: Config) -> ShareLink | None:
    """The run's share link (a fresh random token) when the config asks for one."""
    if config.share_link == "off":
        return None
    from siteserve.share.links import ShareLink

    return ShareLink.new(config.share_link, lifetime=config.expire)


@dataclass(frozen=True, slots=True)
class RunSecrets:
    """The random values of one run that all its worker processes share (``--workers``):
    the share link, and the live-reload socket's token (a page served by one worker
    fetches the token from one worker and connects its socket to another)."""

    link: ShareLink | None
    reload_token: str


def new_run_secrets(config: Config) -> RunSecrets:
    import secrets  # with --workers only: one process makes its token in ReloadApp

    return RunSecrets(new_share_link(config), secrets.token_urlsafe(32))


def has_access_check(config: Config) -> bool:
    """Whether the stack has an ``AuthApp``: a password or a share link is set."""
    return bool(config.auth) or config.share_link != "off"


def build_app(config: Config, *, shared: RunSecrets | None = None) -> App:
    """The stack for ``config``; ``shared``: the run's secrets made already (the workers'
    supervisor made them), else each is made here when the config asks for it."""
    from siteserve.hosts import AllowedHosts
    from siteserve.rules.load import has_rules
    from siteserve.share.app import ShareApp
    from siteserve.share.write_guard import WriteGuard
    from siteserve.site.app import Site

    hosts = AllowedHosts.for_bind(config.host, config.allowed_hosts)
    # With live reload, the watcher tells the Site about every change (invalidate).
    site = Site(config, watched=config.reload)
    app: App = ShareApp(site, config)
    if has_rules(config):
        from siteserve.rules.layer import RulesApp

        # _redirects, _headers, serve.json and [[redirects]]: in front of sharing and the Site.
        app = RulesApp(app, site, config)
    if config.proxy:
        from siteserve.proxy.app import Proxy

        def site_has(path: str) -> bool:
            return site.resolver.resolve(path).kind not in ("not_found", "directory")

        app = Proxy(app, config.proxy, plain_html=config.reload, site_has=site_has)
    if config.reload:
        from siteserve.reload.app import ReloadApp

        token = None if shared is None else shared.reload_token
        reload_app = ReloadApp(app, config, hosts=hosts, token=token)
        # The script goes into HTML files inside the Site's pipeline, before validators.
        site.static.html_transform = reload_app.injector
        app = reload_app
    if has_access_check(config):
        from siteserve.share.auth import AuthApp
        from siteserve.share.credentials import parse_credential

        credentials = tuple(parse_credential(spec) for spec in config.auth)
        link = new_share_link(config) if shared is None else shared.link
        app = AuthApp(app, credentials, link=link)
    if config.cors:
        from siteserve.share.cors import CorsApp

        app = CorsApp(app)

    def is_upload_folder(path: str) -> bool:
        return config.upload and site.resolver.resolve(path).kind == "directory"

    app = WriteGuard(
        app, hosts, open_paths=config.cross_origin_writes, is_upload_folder=is_upload_folder
    )
    if not hosts.any:
        from siteserve.share.host_check import HostCheck

        app = HostCheck(app, hosts)
    return app
