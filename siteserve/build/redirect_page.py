"""The small HTML file a page's ``redirect()`` becomes, for hosts that read no rule file.

Netlify and Cloudflare Pages answer the rule in ``_redirects`` with the right
status; GitHub Pages, nginx without a rule and ``python -m http.server`` serve
this file, which sends the browser on at once (a meta refresh, HTML section
4.2.5.3), names the target as canonical for search engines and shows a link for
anything that follows neither.
"""

from __future__ import annotations

from html import escape


def redirect_page(location: str) -> bytes:
    target = escape(location, quote=True)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        '<meta charset="utf-8">\n'
        "<title>Redirecting</title>\n"
        f'<meta http-equiv="refresh" content="0; url={target}">\n'
        f'<link rel="canonical" href="{target}">\n'
        f'<p>This page has moved to <a href="{target}">{target}</a>.</p>\n'
        "</html>\n"
    ).encode()
