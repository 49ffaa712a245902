"""The site's own redirect and header rules give the same answers live and after a build.

Live, ``siteserve.rules`` applies ``[[redirects]]`` of siteserve.toml, ``_redirects``
and ``serve.json`` in front of the site, and the header rules of ``_headers`` and
``serve.json`` on top of siteserve.toml's ``[headers]``. A build writes them into
OUT's ``_redirects`` and ``_headers``, which Netlify and Cloudflare Pages read; the
host here is siteserve itself serving OUT, since it reads both files with their
rules. Each rule's URL must get the same status and ``Location``, and the same
rule-made headers, from both.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.conftest import RunningServer
from tests.integration.build_sites import build, write_site

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
    site = write_site(tmp_path / "site", SITE)
    out = tmp_path / "out"
    report = build(site, out, jobs=1)
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


HEADER_SITE = {
    "siteserve.toml": (
        "[headers]\n"
        '"*.html" = { X-Frame-Options = "DENY", X-Robots-Tag = "all" }\n'
        '"assets/*" = { X-Asset = "toml" }\n'
        '"plain/*" = { Cache-Control = "" }\n'
    ),
    "_headers": (
        "/*\n  X-Site: everywhere\n"
        "/exact.html\n  X-Exact: yes\n"
        "/assets/*\n  X-Asset: site\n  Cache-Control: public, max-age=600\n"
        "/embed/*\n  ! X-Frame-Options\n"
        "/people/:name.html\n  X-Person: :name\n"
        "/about\n  X-Robots-Tag: noindex\n"
    ),
    "serve.json": (
        '{"headers": [{"source": "/assets/**", "headers": [{"key": "X-Site", "value": "json"}]}]}'
    ),
    "index.html": (
        "<a href='/exact.html'>e</a> <a href='/embed/frame.html'>f</a>"
        " <a href='/people/ada.html'>p</a> <a href='/about'>a</a>"
        " <link rel=stylesheet href='/assets/app.css'> <a href='/plain/notes.txt'>n</a>"
    ),
    "exact.html": "exact",
    "embed/frame.html": "a page other sites may frame",
    "people/ada.html": "ada",
    "about.html.jinja": "about, rendered",
    "assets/app.css": "body { color: black }",
    "plain/notes.txt": "no Cache-Control at all",
}

#: URL -> the header names whose values (or absence) must agree live and built.
HEADER_URLS = {
    "/exact.html": ("X-Exact", "X-Site", "X-Frame-Options"),  # an exact path
    "/assets/app.css": ("X-Asset", "X-Site", "Cache-Control"),  # a splat, over [headers]
    "/people/ada.html": ("X-Person", "X-Frame-Options"),  # a placeholder
    "/embed/frame.html": ("X-Frame-Options", "X-Site"),  # a removal
    "/about": ("X-Robots-Tag", "X-Frame-Options", "X-Site"),  # a page
    "/about.html": ("X-Robots-Tag", "X-Frame-Options"),  # the page's other URL: no rule
    "/plain/notes.txt": ("Cache-Control", "X-Site"),  # removed by an empty [headers] value
}


def test_site_header_rules_give_the_same_headers_live_and_after_a_build(
    tmp_path: Path, serve_site: Callable[..., RunningServer]
) -> None:
    site = write_site(tmp_path / "site", HEADER_SITE)
    out = tmp_path / "out"
    report = build(site, out, jobs=1)
    assert report.errors == [] and report.broken == [] and report.warnings == []
    live = serve_site(site)
    hosted = serve_site(out)
    with httpx.Client(timeout=10) as client:
        for url, names in HEADER_URLS.items():
            answers = []
            for server in (live, hosted):
                response = client.get(server.base_url + url)
                assert response.status_code == 200, (url, server.base_url)
                answers.append([response.headers.get(name) for name in names])
                assert response.headers["x-content-type-options"] == "nosniff"
            assert answers[0] == answers[1], url
            got = dict(zip(names, answers[0], strict=True))
            # What each rule makes, so that "the same" is not "the same nothing".
            assert got == WANTED[url], url


WANTED: dict[str, dict[str, str | None]] = {
    "/exact.html": {"X-Exact": "yes", "X-Site": "everywhere", "X-Frame-Options": "DENY"},
    "/assets/app.css": {
        "X-Asset": "site",
        "X-Site": "everywhere, json",
        "Cache-Control": "public, max-age=600",
    },
    "/people/ada.html": {"X-Person": "ada", "X-Frame-Options": "DENY"},
    "/embed/frame.html": {"X-Frame-Options": None, "X-Site": "everywhere"},
    "/about": {"X-Robots-Tag": "noindex", "X-Frame-Options": "DENY", "X-Site": "everywhere"},
    "/about.html": {"X-Robots-Tag": "all", "X-Frame-Options": "DENY"},
    "/plain/notes.txt": {"Cache-Control": None, "X-Site": "everywhere"},
}


def test_a_header_rule_headers_cannot_hold_is_one_warning(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("home", encoding="utf-8")
    (site / "serve.json").write_text(
        '{"headers": [\n'
        '  {"source": "/a/**", "headers": [{"key": "X-Two", "value": "one\\ntwo"}]},\n'
        '  {"source": "/b", "headers": [{"key": "X-Ok", "value": "yes"}]}\n'
        "]}",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    report = build(site, out, jobs=1)
    assert len(report.warnings) == 1
    about, message = report.warnings[0]
    assert about == "serve.json:2" and "/a/**" in message and "_headers" in message
    written = (out / "_headers").read_text(encoding="utf-8")
    assert "/b\n  X-Ok: yes\n" in written and "X-Two" not in written
