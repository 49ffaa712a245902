"""Pages rendered per request, without sockets: layouts, escaping, sources, control flow."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from pathlib import Path

import pytest

from siteserve.http import Response
from siteserve.site.resolver import Resolved
from tests.unit.page_support import LOCAL_CLIENT, PageSite, body_text, make_request, page_site

BASE = (
    "<!doctype html><title>{% block title %}{% endblock %}</title>"
    '{% include "_partials/nav.html" %}<main>{% block body %}{% endblock %}</main>'
)


# -- layouts, partials and what a render records --------------------------------------


def test_extends_the_root_layout_from_any_depth_and_records_every_file(tmp_path: Path) -> None:
    files = {
        "_layouts/base.html": BASE,
        "_partials/nav.html": '{% import "_partials/macros.html" as macros %}'
        '<nav>{{ macros.link("/", "Home") }}</nav>',
        "_partials/macros.html": "{% macro link(href, text) %}<a href='{{ href }}'>{{ text }}</a>"
        "{% endmacro %}",
        "_data/posts.json": '[{"title": "One"}]',
        "a/b/c/page.html.jinja": '{% extends "_layouts/base.html" %}'
        "{% block title %}Deep{% endblock %}"
        "{% block body %}{{ data.posts[0].title }}{% endblock %}",
    }
    with page_site(tmp_path, files) as site:
        response = site.get("/a/b/c/page")
        text = body_text(response)
        assert response.status == 200
        assert "<title>Deep</title>" in text
        assert "<nav><a href='/'>Home</a></nav>" in text
        assert "<main>One</main>" in text
        root = site.config.root
        assert set(response.sources) == {
            root / "a/b/c/page.html.jinja",
            root / "_layouts/base.html",
            root / "_partials/nav.html",
            root / "_partials/macros.html",
            root / "_data/posts.json",
        }


def test_sources_are_recorded_again_when_templates_come_from_the_cache(tmp_path: Path) -> None:
    files = {"_layouts/base.html": BASE, "_partials/nav.html": "<nav></nav>"}
    files["p.html.jinja"] = '{% extends "_layouts/base.html" %}'
    with page_site(tmp_path, files) as site:
        first = site.get("/p").sources
        second = site.get("/p").sources
        assert first == second
        assert len(second) == 3


def test_a_route_page_sees_its_params(tmp_path: Path) -> None:
    files = {
        "blog/[slug].html.jinja": "slug={{ params.slug }}",
        "[...rest].txt.jinja": "{{ params.rest }}",
    }
    with page_site(tmp_path, files) as site:
        assert site.text("/blog/hello-world") == "slug=hello-world"
        assert site.text("/x/y/z.txt") == "x/y/z"


# -- escaping, extensions, undefined ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "url", "escaped", "media_type"),
    [
        ("page.html.jinja", "/page", True, "text/html; charset=utf-8"),
        ("bare.jinja", "/bare", True, "text/html; charset=utf-8"),
        ("feed.xml.jinja", "/feed.xml", True, "application/xml; charset=utf-8"),
        ("pic.svg.jinja", "/pic.svg", True, "image/svg+xml; charset=utf-8"),
        ("data.json.jinja", "/data.json", False, "application/json; charset=utf-8"),
        ("notes.txt.j2", "/notes.txt", False, "text/plain; charset=utf-8"),
    ],
)
def test_autoescape_and_content_type_follow_the_served_name(
    tmp_path: Path, name: str, url: str, escaped: bool, media_type: str
) -> None:
    with page_site(tmp_path, {name: "{{ request.args.v }}|{{ request.args.v|safe }}"}) as site:
        response = site.get(url + "?v=%3Cb%3E")
        expected = "&lt;b&gt;|<b>" if escaped else "<b>|<b>"
        assert body_text(response) == expected
        assert response.header("content-type") == media_type
        assert response.header("x-content-type-options") == "nosniff"


def test_do_and_loop_controls_are_enabled(tmp_path: Path) -> None:
    page = (
        "{% set seen = [] %}{% for n in range(10) %}{% if n == 2 %}{% continue %}{% endif %}"
        "{% if n == 5 %}{% break %}{% endif %}{% do seen.append(n) %}{% endfor %}{{ seen }}"
    )
    with page_site(tmp_path, {"loop.html.jinja": page}) as site:
        assert site.text("/loop") == "[0, 1, 3, 4]"


def test_undefined_renders_empty_by_default(tmp_path: Path) -> None:
    with page_site(tmp_path, {"u.html.jinja": "[{{ nothing }}][{{ request.args.q }}]"}) as site:
        assert site.text("/u") == "[][]"


def test_strict_undefined_makes_them_errors(tmp_path: Path) -> None:
    files = {"u.html.jinja": "\n[{{ nothing }}]"}
    with page_site(tmp_path, files, LOCAL_CLIENT, strict_undefined=True) as site:
        response = site.get("/u")
        assert response.status == 500
        assert "&#39;nothing&#39; is undefined" in body_text(response)
        assert "u.html.jinja, line 2" in body_text(response)


def test_render_globs_turn_plain_files_into_pages(tmp_path: Path) -> None:
    files = {"plain.html": "{{ 1 + 1 }}", "_layouts/base.html": BASE}
    with page_site(tmp_path, files, render=["*.html"]) as site:
        assert site.text("/plain") == "2"


# -- the request -------------------------------------------------------------------


def test_query_form_cookies_and_json_reach_the_page(tmp_path: Path) -> None:
    page = (
        "{{ request.method }} {{ request.path }} {{ request.args.getlist('t') }} "
        "{{ request.form.name }} {{ request.cookies.theme }} {{ request.client }} "
        "{{ request.url }}"
    )
    with page_site(
        tmp_path, {"echo.html.jinja": page, "j.json.jinja": "{{ request.json.n }}"}
    ) as site:
        text = site.text(
            "/echo?t=1&t=2",
            method="POST",
            headers=[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", "theme=dark; other=1"),
            ],
            body=b"name=Ann+Lee",
        )
        assert text == (
            "POST /echo [&#39;1&#39;, &#39;2&#39;] Ann Lee dark 192.0.2.7 "
            "http://example.test/echo?t=1&amp;t=2"
        )
        posted = site.text(
            "/j.json",
            method="POST",
            headers=[("content-type", "application/json")],
            body=json.dumps({"n": 41}).encode(),
        )
        assert posted == "41"


def test_an_uploaded_file_shows_its_name_and_size(tmp_path: Path) -> None:
    body = (
        b'--B\r\nContent-Disposition: form-data; name="title"\r\n\r\nHello\r\n'
        b'--B\r\nContent-Disposition: form-data; name="doc"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n12345\r\n--B--\r\n"
    )
    page = (
        "{{ request.form.title }}:{% for f in request.files.getlist('doc') %}"
        "{{ f.filename }}={{ f.size }}{% endfor %}"
    )
    with page_site(tmp_path, {"up.html.jinja": page}) as site:
        text = site.text(
            "/up",
            method="POST",
            headers=[("content-type", "multipart/form-data; boundary=B")],
            body=body,
        )
        assert text == "Hello:a.txt=5"


def test_a_malformed_form_answers_400(tmp_path: Path) -> None:
    with page_site(tmp_path, {"f.html.jinja": "{{ request.form.x }}"}) as site:
        response = site.get(
            "/f",
            method="POST",
            headers=[("content-type", "multipart/form-data; boundary=B")],
            body=b"--B\r\nno end",
        )
        assert response.status == 400


def test_a_body_over_the_limit_answers_413(tmp_path: Path) -> None:
    files = {"f.html.jinja": "never"}
    with page_site(tmp_path, files, limits={"max_body": 10}) as site:
        response = site.get("/f", method="POST", body=b"x" * 11)
        assert response.status == 413


# -- the response -------------------------------------------------------------------


def test_a_page_sets_status_headers_and_cookies(tmp_path: Path) -> None:
    page = (
        "{% do response.set_status(201) %}{% do response.set_header('X-Made-By', 'page') %}"
        "{% do response.headers.update({'Content-Type': 'text/plain; charset=utf-8'}) %}"
        "{% do response.set_cookie('theme', 'dark blue', max_age=60) %}"
        "{% do response.delete_cookie('old') %}made"
    )
    with page_site(tmp_path, {"made.html.jinja": page}) as site:
        response = site.get("/made")
        assert response.status == 201
        assert response.header("x-made-by") == "page"
        assert response.header("content-type") == "text/plain; charset=utf-8"
        cookies = [value for name, value in response.headers if name == "Set-Cookie"]
        assert cookies == [
            "theme=dark%20blue; Max-Age=60; Path=/; HttpOnly; SameSite=Lax",
            "old=; Max-Age=0; Path=/; HttpOnly",
        ]
        # A response that sets cookies is never stored by a cache.
        assert response.header("cache-control") == "no-store"


def test_a_plain_page_must_be_revalidated(tmp_path: Path) -> None:
    with page_site(tmp_path, {"p.html.jinja": "p"}) as site:
        assert site.get("/p").header("cache-control") == "no-cache"


def test_headers_rules_from_the_config_apply_to_pages(tmp_path: Path) -> None:
    files = {
        "blog/[slug].html.jinja": "post",
        "siteserve.toml": '[headers."blog/*.html"]\nX-Robots-Tag = "noindex"\n',
    }
    with page_site(tmp_path, files) as site:
        assert site.get("/blog/first").header("x-robots-tag") == "noindex"


def test_a_page_cannot_split_the_response_or_set_framing_headers(tmp_path: Path) -> None:
    files = {
        "split.html.jinja": "{% do response.set_header('X-A', 'a\\r\\nSet-Cookie: x=1') %}",
        "frame.html.jinja": "{% do response.headers.update({'Content-Length': '1'}) %}",
    }
    with page_site(tmp_path, files) as site:
        assert site.get("/split").status == 500
        assert site.get("/frame").status == 500


def test_redirect_answers_at_once_and_keeps_the_session(tmp_path: Path) -> None:
    page = "{% do session.update(flash='saved') %}{% do redirect('/done', 303) %}never"
    with page_site(tmp_path, {"save.html.jinja": page}) as site:
        response = site.get("/save", method="POST")
        assert response.status == 303
        assert response.header("location") == "/done"
        assert response.body == b""
        assert (response.header("set-cookie") or "").startswith("siteserve_session=")


def test_redirect_refuses_codes_that_are_not_redirects(tmp_path: Path) -> None:
    with page_site(tmp_path, {"r.html.jinja": "{% do redirect('/x', 200) %}"}) as site:
        assert site.get("/r").status == 500


def test_abort_serves_the_custom_error_template(tmp_path: Path) -> None:
    files = {
        "gone.html.jinja": "{% if not params %}{% do abort(404) %}{% endif %}",
        "404.html.jinja": "custom {{ error.status }} {{ error.reason }} for {{ request.path }}",
    }
    with page_site(tmp_path, files) as site:
        response = site.get("/gone")
        assert response.status == 404
        assert body_text(response) == "custom 404 Not Found for /gone"
        assert site.config.root / "404.html.jinja" in response.sources


def test_abort_without_an_error_page_answers_a_plain_one(tmp_path: Path) -> None:
    with page_site(tmp_path, {"no.html.jinja": "{% do abort(403) %}"}) as site:
        response = site.get("/no")
        assert response.status == 403
        assert b"403" in response.body  # type: ignore[operator]


def test_abort_uses_the_sites_error_responder_when_connected(tmp_path: Path) -> None:
    from siteserve.http import Response

    asked: list[int] = []

    async def responder(request: object, status: int) -> Response:
        asked.append(status)
        return Response(status, [], b"from the site")

    with page_site(tmp_path, {"no.html.jinja": "{% do abort(410) %}"}) as site:
        site.pages.error_responder = responder
        response = site.get("/no")
        assert (response.status, response.body, asked) == (410, b"from the site", [410])


def test_an_error_template_keeps_its_status_and_failures_show_the_error_page(
    tmp_path: Path,
) -> None:
    files = {"500.html.jinja": "{% do response.set_status(200) %}oops", "404.jinja": "{{ 1/0 }}"}
    with page_site(tmp_path, files) as site:
        rendered = asyncio.run(site.pages.render_error_page(make_request("/x"), 500))
        assert rendered is not None
        assert (rendered.status, rendered.body) == (500, b"oops")
        on_this_machine = make_request("/x", client=LOCAL_CLIENT)
        broken = asyncio.run(site.pages.render_error_page(on_this_machine, 404))
        assert broken is not None and broken.status == 500
        assert "404.jinja, line 1" in body_text(broken)
        assert asyncio.run(site.pages.render_error_page(make_request("/x"), 418)) is None


def test_a_page_deleted_after_resolving_answers_404(tmp_path: Path) -> None:
    with page_site(tmp_path, {"soon.html.jinja": "x"}) as site:
        resolved = site.resolver.resolve("/soon")
        (tmp_path / "soon.html.jinja").unlink()
        response = asyncio.run(site.pages.render(make_request("/soon"), resolved))
        assert response.status == 404


# -- sessions through pages ------------------------------------------------------------


def test_a_session_counter_survives_requests(tmp_path: Path) -> None:
    page = "{% do session.update(n=session.get('n', 0) + 1) %}{{ session.n }}"
    with page_site(tmp_path, {"count.html.jinja": page}) as site:
        first = site.get("/count")
        cookie = (first.header("set-cookie") or "").split(";")[0]
        assert body_text(first) == "1"
        again = site.get("/count", headers=[("cookie", cookie)])
        assert body_text(again) == "2"
        assert body_text(site.get("/count")) == "1"  # no cookie, a new visitor


def test_a_page_that_does_not_touch_the_session_sets_no_cookie(tmp_path: Path) -> None:
    with page_site(tmp_path, {"p.html.jinja": "{{ session.get('n') }}"}) as site:
        assert site.get("/p").header("set-cookie") is None


def test_the_session_cookie_is_secure_under_tls(tmp_path: Path) -> None:
    with page_site(tmp_path, {"p.html.jinja": "{% do session.update(a=1) %}"}) as site:
        cookie = site.get("/p", scheme="https").header("set-cookie") or ""
        assert cookie.endswith("; Secure")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# -- the site boundary ------------------------------------------------------------------


@pytest.mark.parametrize(
    "include",
    [
        "../outside.html",
        "/../outside.html",
        ".secret.html",
        "link/outside.html",
        "a/../../outside.html",
    ],
)
def test_a_template_cannot_read_outside_the_site_or_dotfiles(tmp_path: Path, include: str) -> None:
    root = tmp_path / "site"
    root.mkdir()
    (tmp_path / "outside.html").write_text("OUTSIDE")
    (root / ".secret.html").write_text("SECRET")
    (root / "link").symlink_to(tmp_path)
    files = {"p.html.jinja": '{% include "' + include + '" %}'}
    with page_site(root, files, LOCAL_CLIENT) as site:
        response = site.get("/p")
        text = body_text(response)
        assert response.status == 500
        assert "TemplateNotFound" in text
        assert "OUTSIDE" not in text and "SECRET" not in text


def test_follow_symlinks_lets_a_template_include_through_a_link(tmp_path: Path) -> None:
    root = tmp_path / "site"
    root.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "part.html").write_text("SHARED")
    (root / "_shared").symlink_to(shared)
    files = {"p.html.jinja": '{% include "_shared/part.html" %}'}
    with page_site(root, files, follow_symlinks=True) as site:
        assert site.text("/p") == "SHARED"


# -- caches ----------------------------------------------------------------------------


def test_an_edit_shows_on_the_next_request_without_invalidation(tmp_path: Path) -> None:
    files = {
        "_layouts/base.html": "v1 {% block b %}{% endblock %}",
        "p.html.jinja": '{% extends "_layouts/base.html" %}',
    }
    with page_site(tmp_path, files) as site:
        assert site.text("/p") == "v1 "
        layout = tmp_path / "_layouts/base.html"
        layout.write_text("v2 {% block b %}{% endblock %}")
        stamp = layout.stat().st_mtime_ns + 1_000_000_000
        os.utime(layout, ns=(stamp, stamp))
        assert site.text("/p") == "v2 "


def test_invalidate_catches_an_edit_that_kept_the_mtime(tmp_path: Path) -> None:
    with page_site(tmp_path, {"p.html.jinja": "old"}) as site:
        page = tmp_path / "p.html.jinja"
        assert site.text("/p") == "old"
        before = page.stat()
        page.write_text("new")
        os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert site.text("/p") == "old"  # same mtime: Jinja cannot tell
        site.pages.invalidate([page])
        assert site.text("/p") == "new"


def test_invalidating_a_folder_forgets_the_templates_in_it(tmp_path: Path) -> None:
    with page_site(tmp_path, {"blog/p.html.jinja": "old"}) as site:
        page = tmp_path / "blog/p.html.jinja"
        assert site.text("/blog/p") == "old"
        before = page.stat()
        page.write_text("new")
        os.utime(page, ns=(before.st_atime_ns, before.st_mtime_ns))
        site.pages.invalidate([tmp_path / "blog"])
        assert site.text("/blog/p") == "new"


# -- concurrency -------------------------------------------------------------------------


def test_a_slow_page_does_not_hold_up_others(tmp_path: Path) -> None:
    release = threading.Event()

    def wait_for_release() -> str:
        release.wait(10)
        return "slow done"

    files = {"slow.html.jinja": "{{ wait() }}", "fast.html.jinja": "fast"}
    with page_site(tmp_path, files) as site:
        site.pages.environment.globals["wait"] = wait_for_release

        async def scenario() -> tuple[str, str, bool]:
            slow = asyncio.ensure_future(
                site.pages.render(make_request("/slow"), _page(site, "/slow"))
            )
            fast = await asyncio.wait_for(
                site.pages.render(make_request("/fast"), _page(site, "/fast")), timeout=10
            )
            slow_was_pending = not slow.done()
            release.set()
            slow_response = await slow
            return body_text(fast), body_text(slow_response), slow_was_pending

        fast, slow, pending = asyncio.run(scenario())
        assert (fast, slow, pending) == ("fast", "slow done", True)


def _page(site: PageSite, path: str) -> Resolved:
    return site.resolver.resolve(path)


def test_cheap_pages_render_on_the_loop_and_slow_ones_move_to_the_pool(tmp_path: Path) -> None:
    rendered_on: list[str] = []
    slow_now = threading.Event()

    def where() -> str:
        rendered_on.append(threading.current_thread().name)
        if slow_now.is_set():
            threading.Event().wait(0.02)  # a render four times over the inline budget
        return ""

    # The page reads a header, so no render is kept for reuse (site/reuse.py): every
    # request renders, and where it renders is what this test is about. (A render that
    # reads only the query is kept for that query.)
    page = "{{ where() }}{{ request.headers.get('x-n', '') }}ok"
    with page_site(tmp_path, {"page.html.jinja": page}) as site:
        site.pages.environment.globals["where"] = where
        for _ in range(5):
            assert site.text("/page") == "ok"
        # The first render of a template (it compiles) goes to the pool; once a render
        # has proven cheap, the page stays on the loop.
        assert rendered_on[0].startswith("siteserve-page")
        assert rendered_on[-2:] == [threading.current_thread().name] * 2
        slow_now.set()
        site.text("/page")  # slow, once, inline
        site.text("/page")
        assert rendered_on[-1].startswith("siteserve-page")


def test_render_now_answers_a_cheap_bodiless_request_without_a_task(tmp_path: Path) -> None:
    files = {
        "page.html.jinja": "hi {{ request.args.get('n', '') }}",
        "gone.html.jinja": "{{ abort(404) }}",
    }
    with page_site(tmp_path, files) as site:
        page, gone = _page(site, "/page"), _page(site, "/gone")
        # Unknown cost (never rendered): no answer now; the coroutine path renders it.
        assert site.pages.render_now(make_request("/page"), page) is None
        answer = None
        for _ in range(5):  # the first render compiles (slow); a later one proves it cheap
            site.text("/page")
            answer = site.pages.render_now(make_request("/page?n=2"), page)
            if answer is not None:
                break
        assert isinstance(answer, Response) and body_text(answer) == "hi 2"
        # A request with a body always takes the coroutine path.
        assert (
            site.pages.render_now(make_request("/page", method="POST", body=b"a=1"), page) is None
        )
        # abort() on the fast path still answers through the error responder.
        aborted = None
        for _ in range(5):
            asyncio.run(site.pages.render(make_request("/gone"), gone))
            aborted = site.pages.render_now(make_request("/gone"), gone)
            if aborted is not None:
                break
        assert aborted is not None and not isinstance(aborted, Response)

        async def finish() -> Response:
            assert not isinstance(aborted, Response) and aborted is not None
            return await aborted

        assert asyncio.run(finish()).status == 404
