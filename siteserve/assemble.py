"""Put the app together from a Config: the Site, wrapped by live reload when it is on.

The CLI, the test fixtures and the benchmarks all build the app here, so what
is tested is what runs.
"""

from __future__ import annotations

from siteserve.config import Config
from siteserve.http.response import App


def build_app(config: Config) -> App:
    from siteserve.site.app import Site

    site = Site(config)
    if not config.reload:
        return site
    try:
        from siteserve.reload.app import ReloadApp
    except ImportError:  # live reload not built yet
        return site
    return ReloadApp(site, config)
