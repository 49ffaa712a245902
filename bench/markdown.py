"""A Markdown blog of 1,000 posts: rendered live by siteserve, against its static copy.

    python -m bench.markdown [--posts 1000] [--duration 5] [--connections 50]

A folder of generated posts (front matter, headings, emphasis, links, a list,
a highlighted code block) with a layout and an index that lists them all,
sorted by date, with excerpts. Two pages are measured: one post, and the
index. Each is served live (siteserve on the Markdown folder) and as a static
copy (the same pages written out as .html files, served by siteserve too), in
one run, both pinned to CPU 0 and loaded by wrk on CPU 1, one server at a
time. The static copy is made by fetching every URL from the live server
(``siteserve build`` is not there yet to make it).

Both run as people run siteserve: live reload on (the default), so each page
also gets the reload script; ``--no-reload`` adds the same two rows without
it, where the live site checks its files on disk for every request. The
bodies of live and static are compared byte for byte. Targets: the live post
>= 0.5x its static copy, the live index >= 0.2x. Prints Markdown tables and
writes bench/results/markdown-*.json.
"""

from __future__ import annotations

import argparse
import datetime
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.proc import CLIENT_CPU, NotReady, exit_with, fetch, pin_self, rss_mb
from bench.proc import supervised as supervised_children
from bench.report import Row, ScenarioReport, Target, announce, save
from bench.servers import ServerSpec, start_server
from bench.wrk import WrkError, add_settle_options, run_wrk_settled

STATIC = "static copy"
POST_PATH = "/blog/post-0500"
INDEX_PATH = "/blog/"
TARGETS = {"post": 0.5, "index": 0.2}

LAYOUT = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{% endblock %} · {{ site.title }}</title>
  <link rel="stylesheet" href="{{ url('/assets/style.css') }}">
  <link rel="stylesheet" href="{{ url('/__siteserve/highlight.css') }}">
</head>
<body>
  <header><a href="{{ url('/') }}">{{ site.title }}</a>
    <nav><a href="{{ url('/blog/') }}">Blog</a> <a href="{{ url('/about') }}">About</a></nav>
  </header>
  <main>{% block main %}{% endblock %}</main>
</body>
</html>
"""
POST_LAYOUT = """\
{% extends "_layouts/base.html" %}
{% block title %}{{ page.title }}{% endblock %}
{% block main %}
<article>
  <h1>{{ page.title }}</h1>
  <p><time datetime="{{ page.date }}">{{ page.date }}</time> ·
    {% for tag in page.tags %}<a href="{{ url('/tags/' ~ tag) }}">{{ tag }}</a> {% endfor %}</p>
  {{ content }}
</article>
{% endblock %}
"""
INDEX = """\
{% extends "_layouts/base.html" %}
{% block title %}Blog{% endblock %}
{% block main %}
<h1>Blog</h1>
<ol>
{% for post in pages("blog/*.md") | sort(attribute="page.date", reverse=true) %}
  <li><a href="{{ post.url }}">{{ post.page.title }}</a>
    <time datetime="{{ post.page.date }}">{{ post.page.date }}</time>
    {{ post.excerpt }}</li>
{% endfor %}
</ol>
{% endblock %}
"""
WORDS = [
    "server",
    "folder",
    "page",
    "layout",
    "static",
    "render",
    "reload",
    "browser",
    "markdown",
    "front",
    "matter",
    "list",
    "feed",
    "tag",
    "draft",
    "cache",
    "header",
    "request",
    "answer",
    "socket",
    "template",
    "index",
    "post",
    "excerpt",
]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
    words[rng.randrange(len(words))] = f"*{rng.choice(WORDS)}*"
    words[rng.randrange(len(words))] = (
        f"[{rng.choice(WORDS)}](/blog/post-{rng.randint(1, 999):04d})"
    )
    return " ".join(words).capitalize() + "."


def post_text(number: int, rng: random.Random) -> str:
    date = datetime.date(2020, 1, 1) + datetime.timedelta(days=number)
    tags = rng.sample(["news", "howto", "release", "notes", "design"], 2)
    paragraphs = [" ".join(_sentence(rng) for _ in range(3)) for _ in range(3)]
    return (
        f"---\nlayout: post\ntitle: Post number {number}\ndate: {date.isoformat()}\n"
        f"tags: [{', '.join(tags)}]\n---\n"
        f"{paragraphs[0]}\n\n## A section\n\n{paragraphs[1]}\n\n"
        f"- first `item` {rng.choice(WORDS)}\n- second item\n- third **item**\n\n"
        "```python\ndef answer(request):\n    return render(request, 'page.html')\n```\n\n"
        f"{paragraphs[2]}\n"
    )


def make_blog(root: Path, posts: int) -> None:
    rng = random.Random(15)
    for folder in ("_layouts", "blog", "assets"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "siteserve.toml").write_text('[site]\ntitle = "A blog"\n')
    (root / "_layouts/base.html").write_text(LAYOUT)
    (root / "_layouts/post.html").write_text(POST_LAYOUT)
    (root / "blog/index.html.jinja").write_text(INDEX)
    (root / "assets/style.css").write_text("body { font: 16px/1.6 system-ui; max-width: 40rem }\n")
    for number in range(1, posts + 1):
        (root / f"blog/post-{number:04d}.md").write_text(post_text(number, rng))


def export(port: int, site: Path, out: Path, posts: int) -> None:
    """Every page of the live site (reload off) written out as the static host would hold it."""
    (out / "blog").mkdir(parents=True)
    shutil.copytree(site / "assets", out / "assets")
    pages = {"/blog/": "blog/index.html"}
    pages.update({f"/blog/post-{n:04d}": f"blog/post-{n:04d}.html" for n in range(1, posts + 1)})
    for path, name in pages.items():
        status, body = fetch(port, path, timeout=30)
        if status != 200:
            raise RuntimeError(f"exporting {path}: the live site answered {status}")
        (out / name).write_bytes(body)
    # The pages link /__siteserve/highlight.css, which siteserve serves for the copy too.


def siteserve_spec(name: str, *, reload: bool) -> ServerSpec:
    def argv(root: Path, port: int, scratch: Path) -> list[str]:
        command = [sys.executable, "-m", "siteserve", str(root), "--port", str(port)]
        command += ["--strict-port", "--quiet"]
        return command if reload else [*command, "--no-reload"]

    return ServerSpec(name, argv)


def measure(
    report_for: dict[str, ScenarioReport],
    spec: ServerSpec,
    root: Path,
    scratch: Path,
    args: argparse.Namespace,
    expected: dict[str, bytes] | None,
) -> tuple[dict[str, bytes], dict[str, Any] | None]:
    """Both scenarios against one server; answers the bodies it served."""
    bodies: dict[str, bytes] = {}
    with supervised_children() as children:
        try:
            child, port, launch_ms = start_server(children, spec, root, INDEX_PATH, scratch)
        except NotReady as error:
            for report in report_for.values():
                report.rows.append(Row(spec.name, error=f"did not start: {error}"))
            return bodies, None
        print(f"  {spec.name}: pid {child.pid}, port {port}, up in {launch_ms:.0f} ms")
        try:
            for scenario, path in (("post", POST_PATH), ("index", INDEX_PATH)):
                report = report_for[scenario]
                status, body = fetch(port, path, timeout=30)
                bodies[scenario] = body
                problem = None
                if status != 200:
                    problem = f"answered {status}"
                elif expected is not None and body != expected.get(scenario):
                    problem = f"body differs from the live page ({len(body)} B)"
                note = f"{status}, {len(body):,} B" + (", same bytes" if expected else "")
                try:
                    result = run_wrk_settled(
                        port,
                        path,
                        retries=args.retries,
                        threshold=args.busy_threshold,
                        connections=args.connections,
                        duration_s=args.duration,
                        server_pid=child.pid,
                    )
                except WrkError as error:
                    report.rows.append(Row(spec.name, error=f"wrk: {error}"))
                    continue
                report.rows.append(Row(spec.name, result, note, problem=problem))
                print(f"    {path}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.2f} ms, {note}")
            fact = {"server": spec.name, "launch_ms": launch_ms, "rss_mb": rss_mb(child.pid)}
        finally:
            children.stop(child)
    return bodies, fact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=1000, help="posts in the blog [1000]")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections [50]")
    parser.add_argument(
        "--no-reload", action="store_true", help="also measure both with --no-reload"
    )
    add_settle_options(parser)
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    args = parser.parse_args(argv)

    pin_self(CLIENT_CPU)
    env, warning = announce()
    modes = [("live reload on", True)] + ([("--no-reload", False)] if args.no_reload else [])
    reports: list[ScenarioReport] = []
    servers: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="siteserve-bench-") as tmp:
        scratch = Path(tmp)
        site, copy = scratch / "site", scratch / "static"
        make_blog(site, args.posts)
        with supervised_children() as children:
            exporter = siteserve_spec("export", reload=False)
            child, port, _ = start_server(children, exporter, site, INDEX_PATH, scratch)
            try:
                export(port, site, copy, args.posts)
            finally:
                children.stop(child)
        print(f"  {args.posts} posts; static copy exported by fetching each URL from the live site")
        for mode, reload in modes:
            report_for = {
                scenario: ScenarioReport(
                    f"{scenario}-{'reload' if reload else 'no-reload'}",
                    f"{'One post' if scenario == 'post' else f'The index of {args.posts} posts'}"
                    f" ({mode}), {args.connections} connections",
                    "rps",
                    [Target(STATIC, ratio)],
                )
                for scenario, ratio in TARGETS.items()
            }
            print(f" {mode}:")
            live, fact = measure(
                report_for, siteserve_spec("siteserve", reload=reload), site, scratch, args, None
            )
            if fact:
                servers.append({**fact, "mode": mode})
            _, fact = measure(
                report_for, siteserve_spec(STATIC, reload=reload), copy, scratch, args, live
            )
            if fact:
                servers.append({**fact, "mode": mode})
            reports.extend(report_for.values())

    print()
    if warning:
        print(warning + "\n")
    for report in reports:
        print(report.render())
        print()
    for fact in servers:
        rss = "-" if fact["rss_mb"] is None else f"{fact['rss_mb']:.1f} MB"
        print(
            f"{fact['server']} ({fact['mode']}): launch -> first 200 {fact['launch_ms']:.0f} ms,"
            f" RSS {rss}"
        )
    if not args.no_save:
        path = save(
            "markdown",
            {
                "environment": env,
                "posts": args.posts,
                "duration_s": args.duration,
                "connections": args.connections,
                "scenarios": [report.to_json() for report in reports],
                "servers": servers,
            },
        )
        print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    exit_with(main)
