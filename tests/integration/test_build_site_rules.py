"""The site's own redirect rules give the same answers live and after a build.

Live, ``siteserve.rules`` applies ``[[redirects]]`` of siteserve.toml, ``_redirects``
and ``serve.json`` in front of the site. A build writes them into OUT's
``_redirects``, which Netlify and Cloudflare Pages read; the host here is siteserve
itself serving OUT, since it reads ``_redirects`` with Netlify's rules. Each rule's
URL must get the same status and ``Location`` from both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings
from tests.conftest import RunningServer
from tests.integration.build_sites import CLOCK

SITE = {
    "siteserve.toml": '[[redirects]]\nfrom = "/a"\nto = "/b"\nstatus = 302\n',
    "_redirects": (
        "/old /new 301\n"
        "/blog/:slug /posts/:slug 301\n"
        "/search q=:q /find/:q 302\n"
        "/shadowed /new 301\n"
        "/forced /new 302!\n"
    ),
    "serve.json": '{"redirects": [{"source": "/legacy/**", "destination": "/new", "type": 308}]}',
    "index.html": "<a href='/new'>new</a> <a href='/b'>b</a> <a href='/shadowed'>s</a>",
    "new.html": "new",
    "b.html": "b",
    "shadowed.html": "a file wins over a rule without !",
    "forced.html": "a forced rule wins over this file",
}

#: (URL, the answer both must give): status and Location.
EXPECTED = {
    "/a": (302, "/b"),
    "/old": (301, "/new"),
    "/blog/hello": (301, "/posts/hello"),
    "/search?q=cats": (302, "/find/cats"),
    "/legacy/x/y": (308, "/new"),
    "/forced": (302, "/new"),
    "/shadowed": (200, None),
    "/new": (200, None),
}


def test_site_rules_answer_the_same_live_and_after_a_build(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = tmp_path / "site"
    for name, text in SITE.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    settings = BuildSettings(root=site.resolve(), out=out.resolve(), jobs=1, clock=CLOCK)
    report = build_site(settings)
    assert report.errors == [] and report.broken == []
    live = serve_site(site)
    hosted = serve_site(out)
    with httpx.Client(timeout=10) as client:
        for url, expected in EXPECTED.items():
            answers = []
            for server in (live, hosted):
                response = client.get(server.base_url + url)
                location = response.headers.get("location")
                answers.append((response.status_code, location and httpx.URL(location).path))
            assert answers == [expected, expected], url
    # What live hides is not published either.
    assert not (out / "serve.json").exists()
