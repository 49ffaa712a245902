"""What a build needs to know about where the site goes: its public URL, the history
fallback of single-page apps, and the links that lead to the not-found page on purpose.

The SPA test serves the build with a real nginx (the README's ``location`` for an
app) and asks it and the live server the same navigations.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from siteserve.build.report import BrokenLink, BuildReport
from siteserve.build.run import build_site
from siteserve.build.settings import BuildSettings
from tests.conftest import RunningServer
from tests.integration.build_sites import CLOCK
from tests.integration.static_hosts import running_nginx

HTML = {"accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8", "host": "localhost"}


def write_site(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def build(root: Path, out: Path, **options: object) -> BuildReport:
    settings = BuildSettings(
        root=root.resolve(), out=out.resolve(), jobs=1, clock=CLOCK, options=tuple(options.items())
    )
    return build_site(settings)


HOST_SITE = {
    "index.html": '<a href="/where">w</a> <a href="/blog/one">1</a> <a href="/blog/two">2</a>',
    "where.html.jinja": (
        '<p>{{ request.scheme }}://{{ request.host }}/where</p><a href="{{ request.scheme }}://'
        '{{ request.host }}/about">about, by an absolute link</a>'
    ),
    "about.html.jinja": "<p>about</p>",
    "feed.html.jinja": "<p>the feed</p>",
    "blog/[slug].html.jinja": (
        "<link rel=alternate href='//{{ request.host }}/feed'>{{ params.slug }}"
    ),
}


def test_pages_that_read_the_host_are_named_once_each_without_a_base_url(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", HOST_SITE)
    report = build(site, tmp_path / "out")
    assert report.errors == []
    about_host = [(about, text) for about, text in report.warnings if "request.host" in text]
    # The route is rendered for two URLs and named once.
    assert [about for about, _ in about_host] == ["blog/[slug].html.jinja", "where.html.jinja"]
    assert all("--base-url" in text and "localhost" in text for _, text in about_host)
    assert (tmp_path / "out" / "where.html").read_text().startswith("<p>http://localhost/where</p>")


def test_a_base_url_is_what_pages_read_and_makes_its_absolute_links_the_sites(
    tmp_path: Path,
) -> None:
    site = write_site(tmp_path / "site", HOST_SITE)
    out = tmp_path / "out"
    report = build(site, out, base_url="https://Example.org/")
    assert report.errors == []
    assert not [text for _, text in report.warnings if "request.host" in text]
    assert (out / "where.html").read_text().startswith("<p>https://example.org/where</p>")
    # https://example.org/about is a link of the site: followed, rendered, not broken.
    assert (out / "about.html").read_text() == "<p>about</p>"
    assert report.broken == []
    # Changing the public URL renders every page again.
    again = build(site, out, base_url="https://example.net")
    assert again.pages_unchanged == 0
    assert (out / "where.html").read_text().startswith("<p>https://example.net/where</p>")


def test_links_to_a_404_on_purpose_are_not_broken(tmp_path: Path) -> None:
    files = {"index.html": '<a href="/no/such/page">a 404</a> <a href="/gone">gone</a>'}
    site = write_site(tmp_path / "site", files)
    report = build(site, tmp_path / "out")
    assert report.broken == [BrokenLink("/", "/gone"), BrokenLink("/", "/no/such/page")]
    (site / "siteserve.toml").write_text('[build]\nmissing = ["/no/such/page"]\n')
    report = build(site, tmp_path / "out")
    assert report.broken == [BrokenLink("/", "/gone")]


def test_the_sample_site_reports_no_broken_link(tmp_path: Path) -> None:
    from tests.integration.build_sites import SAMPLE_SITE

    report = build(SAMPLE_SITE, tmp_path / "out")
    assert report.errors == [] and report.broken == []


SPA_SITE = {
    "siteserve.toml": '[spa]\n"/app/" = "app/index.html"\n',
    "index.html": '<a href="/app/">the app</a> <a href="/about">about</a>',
    "about.html.jinja": "<p>about</p>",
    "app/index.html": '<!doctype html><div id="app"></div><script src="/app/main.js"></script>',
    "app/main.js": "document.querySelector('#app').textContent = location.pathname;\n",
}

#: The README's nginx recipe for an app under /app/ (see "Single-page apps" in Deploy).
SPA_LOCATION = "        location /app/ { try_files $uri $uri.html $uri/ /app/index.html; }"


def test_the_spa_fallback_is_a_redirects_rule_and_nginx_answers_as_live(
    tmp_path: Path, serve_site: object
) -> None:
    site = write_site(tmp_path / "site", SPA_SITE)
    out = tmp_path / "out"
    report = build(site, out)
    assert report.errors == [] and report.broken == []
    rules = (out / "_redirects").read_text().splitlines()
    assert rules[-1] == "/app/* /app/index.html 200"
    assert callable(serve_site)
    server: RunningServer = serve_site(site)
    navigations = ["/app/users/42", "/app/settings/", "/app/", "/app/main.js", "/about"]
    with (
        running_nginx(out, tmp_path / "nginx", extra=SPA_LOCATION) as nginx,
        httpx.Client(timeout=10) as client,
    ):
        for url in navigations:
            live = client.get(server.base_url + url, headers=HTML)
            hosted = client.get(nginx + url, headers=HTML)
            assert (hosted.status_code, hosted.content) == (live.status_code, live.content), url
            assert live.status_code == 200, url
        # Outside the app's prefix, a missing page is still missing, live and deployed.
        assert client.get(server.base_url + "/nothing", headers=HTML).status_code == 404
        assert client.get(nginx + "/nothing", headers=HTML).status_code == 404


def test_spa_given_on_the_command_line_writes_the_rule_too(tmp_path: Path) -> None:
    site = write_site(tmp_path / "site", {"index.html": "<div id=app></div>"})
    out = tmp_path / "out"
    build(site, out, spa=(("/", "index.html"),))
    assert (out / "_redirects").read_text().splitlines()[-1] == "/* /index.html 200"
