"""Each rule file format read into rules (siteserve/rules/), from the formats' own examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from siteserve.config import ConfigError, build_config
from siteserve.rules.headers_file import parse_headers
from siteserve.rules.model import compile_pattern
from siteserve.rules.redirects_file import parse_redirects
from siteserve.rules.vercel import parse_serve_json

# (line, request path, query, expected (destination, status, force) or None for no match)
REDIRECT_LINES = [
    ("/home  /  301", "/home", "", ("/", 301, False)),
    ("/home  /", "/home", "", ("/", 301, False)),  # 301 when left out
    (
        "/blog/my-post.php  /blog/my-post  302",
        "/blog/my-post.php",
        "",
        ("/blog/my-post", 302, False),
    ),
    ("/news/*  /blog/:splat", "/news/2004/01/10/my-story", "", ("/blog/:splat", 301, False)),
    (
        "/news/:year/:month  /blog/:year-:month  307",
        "/news/2024/02",
        "",
        ("/blog/:year-:month", 307, False),
    ),
    ("/news/:year/:month  /blog/:year", "/news/2024", "", None),
    ("/store id=:id  /blog/:id  301", "/store", "id=7", ("/blog/:id", 301, False)),
    ("/store id=:id  /blog/:id  301", "/store", "", None),
    (
        "/articles id=3 tag=x  /posts/x/3  308",
        "/articles",
        "tag=x&id=3",
        ("/posts/x/3", 308, False),
    ),
    ("/app/*  /app/index.html  200", "/app/users/1", "", ("/app/index.html", 200, False)),
    ("/fr/*  /fr/404.html  404", "/fr/nothing", "", ("/fr/404.html", 404, False)),
    ("/old  /new  301!", "/old", "", ("/new", 301, True)),
    ("/  https://example.com/  303", "/", "", ("https://example.com/", 303, False)),
    ("/trailing/  /x", "/trailing", "", ("/x", 301, False)),
]


@pytest.mark.parametrize(("line", "path", "query", "expected"), REDIRECT_LINES)
def test_redirects_lines(
    line: str, path: str, query: str, expected: tuple[str, int, bool] | None
) -> None:
    rules = parse_redirects(f"# a comment\n\n{line}\n")
    assert not rules.problems
    (rule,) = rules.redirects
    if expected is None:
        assert rule.match(path, query) is None
    else:
        assert rule.match(path, query) is not None
        assert (rule.to, rule.status, rule.force) == expected


@pytest.mark.parametrize(
    "line",
    [
        "/only-a-path",
        "not-a-path /x",
        "/a /b 418",
        "/a /b 301 Country=us,ca",
        "/a /b 302 Language=fr",
        "/api/* https://api.example.com/:splat 200",  # a proxy: use --proxy
        "/a //evil.example 301",  # only an absolute URL leaves the site
        "/a b 301",
        "/a /b 301 extra",
    ],
)
def test_redirects_lines_not_understood_are_reported_with_their_line(line: str) -> None:
    rules = parse_redirects(f"/ok /fine\n{line}\n")
    assert len(rules.redirects) == 1
    (problem,) = rules.problems
    assert (problem.file, problem.line) == ("_redirects", 2)
    assert str(problem).startswith("_redirects:2: ")


HEADERS_FILE = """\
# Netlify's and Cloudflare's examples, with our values
/*
  X-Frame-Options: DENY
  Referrer-Policy: no-referrer
/secure/page
  X-Frame-Options: SAMEORIGIN
  Cache-Control: no-store
/templates/index.html
  Link: </style.css>; rel=preload; as=style
  Link: </app.js>; rel=preload; as=script
/users/:id
  X-User: :id
/public/*
  ! X-Frame-Options
"""


def test_headers_file_rules() -> None:
    rules = parse_headers(HEADERS_FILE)
    assert not rules.problems
    assert [rule.source.text for rule in rules.headers] == [
        "/*",
        "/secure/page",
        "/templates/index.html",
        "/users/:id",
        "/public/*",
    ]
    assert rules.headers[0].headers == (
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "no-referrer"),
    )
    assert len(rules.headers[2].headers) == 2
    assert rules.headers[4].remove == ("X-Frame-Options",)
    assert rules.headers[1].origin == "_headers:5"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("  X-A: 1\n", 1),  # before any path
        ("/a\n  not a header\n", 2),
        ("/a\n  ! X-Content-Type-Options\n", 2),  # nosniff stays
        ("/a\n  X-Content-Type-Options: sniff\n", 2),
        ("/a\n  Content-Length: 3\n", 2),
        ("/a\n  Transfer-Encoding: chunked\n", 2),
        ("a-path\n  X-A: 1\n", 1),
    ],
)
def test_headers_file_problems(text: str, line: int) -> None:
    rules = parse_headers(text)
    assert [problem.line for problem in rules.problems] == [line]


SERVE_JSON = """{
  "cleanUrls": true,
  "trailingSlash": false,
  "directoryListing": false,
  "rewrites": [
    { "source": "app/**", "destination": "/index.html" },
    { "source": "/projects/:id/edit", "destination": "/edit-project.html" }
  ],
  "redirects": [
    { "source": "/from", "destination": "/to" },
    { "source": "/old-docs/**", "destination": "/docs", "type": 302 }
  ],
  "headers": [
    { "source": "**/*.jpg",
      "headers": [{ "key": "Cache-Control", "value": "max-age=7200" }] },
    { "source": "/api/**", "headers": [{ "key": "X-Api", "value": "yes" }] }
  ],
  "public": "dist"
}
"""


def test_serve_json() -> None:
    rules = parse_serve_json(SERVE_JSON)
    assert rules.clean_urls and rules.trailing_slash is False and not rules.directory_listing
    assert [(r.to, r.status, r.force) for r in rules.redirects] == [
        ("/to", 301, False),
        ("/docs", 302, False),
        ("/index.html", 200, True),
        ("/edit-project.html", 200, True),
    ]
    assert rules.redirects[2].match("/app/users/1", "") is not None
    assert rules.redirects[3].match("/projects/9/edit", "") == {"id": "9"}
    assert [str(p) for p in rules.problems] == ["serve.json:18: public is not supported"]
    assert rules.hidden == {"serve.json"}
    assert parse_serve_json("{ not json").problems[0].reason == "not valid JSON"


@pytest.mark.parametrize(
    ("pattern", "path", "values"),
    [
        ("/a/*", "/a", {"splat": ""}),
        ("/a/*", "/a/b/c", {"splat": "b/c"}),
        ("/*", "/anything/at/all", {"splat": "anything/at/all"}),
        ("/u/:id", "/u/42", {"id": "42"}),
        ("/u/:id", "/u/42/more", None),
        ("/exact", "/exact/", {}),
        ("/exact", "/exactly", None),
    ],
)
def test_patterns(pattern: str, path: str, values: dict[str, str] | None) -> None:
    assert compile_pattern(pattern).match(path) == values


def test_native_redirects(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        '[[redirects]]\nfrom = "/old/*"\nto = "/new/:splat"\nstatus = 302\n\n'
        '[[redirects]]\nfrom = "/app/*"\nto = "/index.html"\nstatus = 200\nforce = true\n'
        'query = { v = ":v" }\n'
    )
    config = build_config(tmp_path)
    assert [(r.to, r.status, r.force) for r in config.redirects] == [
        ("/new/:splat", 302, False),
        ("/index.html", 200, True),
    ]


@pytest.mark.parametrize(
    "body",
    [
        'from = "/a"\n',
        'from = "a"\nto = "/b"\n',
        'from = "/a"\nto = "/b"\nstatus = 418\n',
        'from = "/a"\nto = "//evil.example"\n',
        'from = "/a"\nto = "/b"\nwhen = 1\n',
    ],
)
def test_native_redirects_refused(tmp_path: Path, body: str) -> None:
    (tmp_path / "siteserve.toml").write_text("[[redirects]]\n" + body)
    with pytest.raises(ConfigError):
        build_config(tmp_path)
