"""Put the app together from a Config: the Site and the layers around it.

From the inside out: the Site; the sharing layer (health, downloads, folder
zips, uploads); live reload when it is on; the password check (so every path,
the reload WebSocket included, needs it); CORS outermost, because browsers
send CORS preflights without credentials, ever, and a preflight answered 401
would break every cross-origin request (a preflight shows nothing but headers).

The CLI, the test fixtures and the benchmarks all build the app here, so what
is tested is what runs.
"""

from __future__ import annotations

from siteserve.config import Config
from siteserve.http.response import App


def build_app(config: Config) -> App:
    from siteserve.share.app import ShareApp
    from siteserve.site.app import Site

    site = Site(config)
    app: App = ShareApp(site, config)
    if config.reload:
        from siteserve.reload.app import ReloadApp

        app = ReloadApp(app, config)
    if config.auth:
        from siteserve.share.auth import AuthApp
        from siteserve.share.credentials import parse_credential

        app = AuthApp(app, tuple(parse_credential(spec) for spec in config.auth))
    if config.cors:
        from siteserve.share.cors import CorsApp

        app = CorsApp(app)
    return app
