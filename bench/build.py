"""``siteserve build`` against staticjinja, on one generated site, in one run.

    python -m bench.build [--pages 2000] [--files 5000] [--rounds 3] [--keep DIR] [--no-save]
    python -m bench.build --phases [--pages 2000] [--files 5000]

The site: a layout and two partials, a data file (``_data/posts.json``, one
entry per post), an index that links every post, ``blog/[slug].html.jinja``
rendering one post, and ``--files`` static files in 50 folders. staticjinja
(PyPI; a benchmark-only dependency: ``pip install staticjinja``) renders the
same template files with the same data: the route becomes a staticjinja rule
that renders the post template once per entry (how staticjinja users do it),
and the static files are its ``staticpaths``.

Each tool runs as a fresh process into a fresh output folder, as a user types
it; then siteserve builds again with nothing changed. Wall time and CPU time
(user + system of the process and every child it waited for) are measured; each
figure is the best of ``--rounds``, the order of the tools alternating (the
first round also writes both tools' bytecode cache, as installing a package
does, even where ``PYTHONDONTWRITEBYTECODE`` is set). Pages per second is
pages / wall time of the whole build (the static files included, for both).
Targets: siteserve at least 2x staticjinja's pages per second, and a no-change
rebuild under 1 s. Prints a Markdown table; writes ``bench/results/build-*.json``.

``--phases`` measures nothing against staticjinja: it builds the same site in this
process, once with one process (every phase in it, timed by ``time.process_time``)
and once with the default workers (the CPU of this process against its workers').
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.proc import exit_with
from bench.report import busy_warning, environment, save

REPO = Path(__file__).resolve().parents[1]
PAGES_TARGET = 2.0
REBUILD_TARGET_S = 1.0
DEADLINE_S = 600

LAYOUT = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{% block title %}{% endblock %} · {{ site.title }}</title>
  <link rel="stylesheet" href="{{ url('/static/css/site.css') }}">
</head>
<body>
{% include "_partials/header.html" %}
<main>{% block content %}{% endblock %}</main>
{% include "_partials/footer.html" %}
</body>
</html>
"""
HEADER = """\
<header><nav>{% for href, text in [("/", "Home"), ("/blog/post-0000", "Latest")] %}\
<a href="{{ url(href) }}">{{ text }}</a> {% endfor %}</nav></header>"""
FOOTER = """<footer><p>{{ site.title }}, {{ data.posts | length }} posts.</p></footer>"""
INDEX = """\
{% extends "_layouts/base.html" %}
{% block title %}Home{% endblock %}
{% block content %}
<h1>All posts</h1>
<ul>
{% for slug, post in data.posts.items() %}
  <li><a href="{{ url('/blog/' ~ slug) }}">{{ post.title }}</a> <time>{{ post.date }}</time></li>
{% endfor %}
</ul>
{% endblock %}
"""
POST = """\
{%- set post = data.posts.get(params.slug) -%}
{%- if not post %}{% do abort(404) %}{% endif -%}
{% extends "_layouts/base.html" %}
{% block title %}{{ post.title }}{% endblock %}
{% block content %}
<article>
  <h1>{{ post.title }}</h1>
  <p class="meta"><time>{{ post.date }}</time>
  {% for tag in post.tags %} <span>{{ tag }}</span>{% endfor %}</p>
  {% for paragraph in post.body %}<p>{{ paragraph }}</p>
  {% endfor %}
  <p><a href="{{ url('/') }}">All posts</a></p>
</article>
{% endblock %}
"""

WORDS = [
    "site",
    "serve",
    "page",
    "build",
    "static",
    "jinja",
    "fast",
    "file",
    "folder",
    "layout",
    "data",
    "route",
    "post",
]


def make_site(root: Path, pages: int, files: int) -> None:
    """The benchmark site, the same bytes for every run with the same sizes."""
    rng = random.Random(10)
    for name, text in {
        "_layouts/base.html": LAYOUT,
        "_partials/header.html": HEADER,
        "_partials/footer.html": FOOTER,
        "index.html.jinja": INDEX,
        "blog/[slug].html.jinja": POST,
        "siteserve.toml": '[site]\ntitle = "Benchmark"\n',
        "static/css/site.css": "body { margin: 0 auto; max-width: 40rem }\n",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    posts = {
        f"post-{i:04d}": {
            "title": " ".join(rng.choice(WORDS) for _ in range(5)).capitalize(),
            "date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "tags": rng.sample(WORDS, 3),
            "body": [" ".join(rng.choice(WORDS) for _ in range(60)) for _ in range(4)],
        }
        for i in range(pages)
    }
    (root / "_data").mkdir(exist_ok=True)
    (root / "_data" / "posts.json").write_text(json.dumps(posts))
    for i in range(files - 1):
        folder = root / "static" / f"d{i % 50:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:04d}.txt").write_bytes(rng.randbytes(rng.randint(200, 4000)))


# -- staticjinja, as its users would write the build script -------------------------


def staticjinja_build(site: Path, out: Path) -> None:
    """Render ``site`` into ``out`` with staticjinja: the same templates and data."""
    import logging
    import warnings
    from urllib.parse import quote

    from staticjinja import Site

    logging.getLogger("staticjinja").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")  # staticpaths is deprecated, and still the way to copy
    posts = json.loads((site / "_data" / "posts.json").read_text())

    def url(path: str) -> str:
        return quote(path if path.startswith("/") else "/" + path, safe="/%:@!$&'()*+,;=~")

    def abort(code: int) -> None:
        raise RuntimeError(f"abort({code})")

    def render_to(template: Any, target: Path, **context: Any) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        template.stream(**context).dump(str(target), "utf-8")

    def page(_site: Site, template: Any, **context: Any) -> None:
        render_to(template, out / template.name.removesuffix(".jinja"), **context)

    def posts_rule(_site: Site, template: Any, **context: Any) -> None:
        for slug in posts:
            render_to(
                template, out / "blog" / f"{slug}.html", **dict(context, params={"slug": slug})
            )

    def skip(_site: Site, template: Any, **context: Any) -> None:
        pass

    built = Site.make_site(
        searchpath=str(site),
        outpath=str(out),
        contexts=[(r".*", {"site": {"title": "Benchmark"}, "data": {"posts": posts}})],
        rules=[(r"blog/\[slug\]", posts_rule), (r".*\.jinja$", page), (r"siteserve\.toml$", skip)],
        staticpaths=["static"],
        extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
        env_globals={"url": url, "abort": abort},
        env_kwargs={"autoescape": True},
    )
    built.render()


def floor_build(site: Path, out: Path, reference: Path) -> None:
    """The file system's share: write the pages another build made and copy the static
    files, with no rendering at all (what any tool pays for the files alone)."""
    pages = [path for path in reference.rglob("*.html")]
    for path in pages:
        target = out / path.relative_to(reference)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    static = site / "static"
    for path in static.rglob("*"):
        if path.is_file():
            target = out / path.relative_to(site)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


# -- where siteserve's CPU goes (--phases) -----------------------------------------

#: (module, class or "", function, label): the build's phases, each timed where it runs;
#: an indented label is a part of the phase above it.
PHASES = [
    ("siteserve.build.run", "", "walk_site", "walk the site"),
    ("siteserve.build.run", "_Build", "_scan", "scan static HTML and CSS"),
    ("siteserve.build.crawl", "Crawl", "visit", "plan: follow a link"),
    ("siteserve.build.crawl", "Crawl", "done", "plan: record an answer"),
    ("siteserve.build.render", "Renderer", "_visit", "render a page"),
    ("siteserve.build.render", "Renderer", "_page", "  Pages.render_now (Site.handle at first)"),
    ("siteserve.build.render", "Renderer", "_answer", "  Site.handle (error pages, listings)"),
    ("siteserve.build.render", "Renderer", "_write", "  write it"),
    ("siteserve.build.links", "LinkFinder", "links", "  find its links"),
    ("siteserve.build.run", "", "copy_files", "copy static files"),
    ("siteserve.build.run", "", "write_host_rules", "_headers and _redirects"),
    ("siteserve.build.run", "", "write_manifest", "the marker file"),
    ("siteserve.build.run", "", "report_findings", "warnings and broken links"),
]


def _timed_phases() -> dict[str, list[float]]:
    """Wrap each phase's function; answer label -> [CPU seconds, calls], filled as it runs."""
    import importlib

    spent: dict[str, list[float]] = {}
    for module_name, owner_name, name, label in PHASES:
        module = importlib.import_module(module_name)
        owner: Any = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, name)
        tally = spent.setdefault(label, [0.0, 0])

        def timed_call(*args: Any, _f: Any = original, _t: list[float] = tally, **kw: Any) -> Any:
            started = time.process_time()
            try:
                return _f(*args, **kw)
            finally:
                _t[0] += time.process_time() - started
                _t[1] += 1

        setattr(owner, name, timed_call)
    return spent


def phases(site: Path, work: Path) -> None:
    started = time.process_time()
    from siteserve.build.run import build_site
    from siteserve.build.settings import BuildSettings, build_clock

    imports = time.process_time() - started
    spent = _timed_phases()
    out = work / "phases-out"
    shutil.rmtree(out, ignore_errors=True)
    settings = BuildSettings(root=site.resolve(), out=out.resolve(), jobs=1, clock=build_clock())
    started = time.process_time()
    report = build_site(settings)
    whole = time.process_time() - started
    print(f"### one process: {report.pages_rendered} pages, {report.files_copied} files copied")
    print("\n| phase | CPU s | calls |\n| --- | ---: | ---: |")
    print(f"| imports (siteserve.build) | {imports:.3f} | |")
    for label, (seconds, calls) in spent.items():
        print(f"| {label} | {seconds:.3f} | {int(calls)} |")
    print(f"| the whole build | {whole:.3f} | |")
    shutil.rmtree(out, ignore_errors=True)
    before = os.times()
    report = build_site(BuildSettings(root=site.resolve(), out=out.resolve(), clock=1.0))
    after = os.times()
    parent = (after.user - before.user) + (after.system - before.system)
    workers = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    print(f"\n### {report.processes} worker processes: CPU s (user + system)")
    print(f"this process {parent:.2f}, its workers {workers:.2f}, together {parent + workers:.2f}")


# -- measuring ----------------------------------------------------------------------


@dataclass
class Timing:
    wall: float
    cpu: float


def timed(argv: list[str], env: dict[str, str]) -> Timing:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=DEADLINE_S,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Timing(wall, cpu)


def best(timings: list[Timing]) -> Timing:
    return Timing(min(t.wall for t in timings), min(t.cpu for t in timings))


def same_pages(a: Path, b: Path, pages: int) -> bool:
    """Whether both tools wrote the same bytes for the index and a sample of posts."""
    names = ["index.html"] + [
        f"blog/post-{i:04d}.html" for i in range(0, pages, max(1, pages // 20))
    ]
    return all((a / name).read_bytes() == (b / name).read_bytes() for name in names)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build here and keep the folders")
    parser.add_argument(
        "--dir", type=Path, help="make the temporary folder here (default: $TMPDIR or /tmp)"
    )
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--phases", action="store_true", help="where siteserve's CPU goes")
    parser.add_argument("--staticjinja", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.staticjinja:
        staticjinja_build(*args.staticjinja)
        return 0
    if args.floor:
        floor_build(*args.floor)
        return 0
    if args.phases:
        with tempfile.TemporaryDirectory(prefix="siteserve-bench-phases-", dir=args.dir) as temp:
            make_site(Path(temp) / "site", args.pages, args.files)
            phases(Path(temp) / "site", Path(temp))
        return 0
    try:
        import staticjinja  # noqa: F401
    except ImportError:
        print("bench.build needs staticjinja: pip install staticjinja", file=sys.stderr)
        return 2
    env_info = environment()
    if args.keep is None:
        work = Path(tempfile.mkdtemp(prefix="siteserve-bench-build-", dir=args.dir))
    else:
        work = args.keep
    try:
        return run(args, work, env_info)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, env_info: dict[str, Any]) -> int:
    site = work / "site"
    shutil.rmtree(site, ignore_errors=True)
    make_site(site, args.pages, args.files)
    pages = args.pages + 1  # the posts and the index
    # Both tools run with their modules' bytecode cached, as an installed package has it
    # (pip compiles it): with PYTHONDONTWRITEBYTECODE set, every run of a source checkout
    # would compile each module again, which costs the tool with more modules more.
    skip = ("FORCE_COLOR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in skip}
    # The first round writes the cache; the best of the rounds is a warm one.
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    ours, theirs, bare = work / "siteserve-out", work / "staticjinja-out", work / "floor-out"
    siteserve = [sys.executable, "-m", "siteserve", "build", str(site), "-o", str(ours)]
    staticjinja = [sys.executable, "-m", "bench.build", "--staticjinja", str(site), str(theirs)]
    floor_argv = [sys.executable, "-m", "bench.build", "--floor", str(site), str(bare), str(ours)]
    first: list[Timing] = []
    other: list[Timing] = []
    again: list[Timing] = []
    floors: list[Timing] = []
    for round_number in range(args.rounds):
        shutil.rmtree(ours, ignore_errors=True)
        shutil.rmtree(theirs, ignore_errors=True)
        if round_number % 2 == 0:
            first.append(timed(siteserve, env))
            other.append(timed(staticjinja, env))
        else:
            other.append(timed(staticjinja, env))
            first.append(timed(siteserve, env))
        again.append(timed(siteserve, env))
        shutil.rmtree(bare, ignore_errors=True)
        floors.append(timed(floor_argv, env))
    built, sj, rebuilt, floor = best(first), best(other), best(again), best(floors)
    identical = same_pages(ours, theirs, args.pages)
    ratio = (pages / built.wall) / (pages / sj.wall)
    cpu_ratio = sj.cpu / built.cpu
    met = "MET" if ratio >= PAGES_TARGET else "MISSED"
    rebuild_met = "MET" if rebuilt.wall < REBUILD_TARGET_S else "MISSED"
    lines = [
        f"### siteserve build vs staticjinja: {args.pages} posts + index, {args.files} static"
        f" files, in {work} (best of {args.rounds})",
        "",
        "| build | wall s | CPU s | pages/s | vs staticjinja |",
        "| --- | ---: | ---: | ---: | ---: |",
        f"| siteserve build | {built.wall:.2f} | {built.cpu:.2f} | {pages / built.wall:,.0f}"
        f" | {ratio:.2f}x |",
        f"| staticjinja | {sj.wall:.2f} | {sj.cpu:.2f} | {pages / sj.wall:,.0f} | 1.00x |",
        f"| siteserve build, nothing changed | {rebuilt.wall:.2f} | {rebuilt.cpu:.2f} | - | - |",
        f"| the same files written by a bare loop (no rendering) | {floor.wall:.2f}"
        f" | {floor.cpu:.2f} | - | - |",
        "",
        f"siteserve / staticjinja pages/s: {ratio:.2f}x, {met} (target >= {PAGES_TARGET}x);"
        f" by CPU time {cpu_ratio:.2f}x",
        f"no-change rebuild: {rebuilt.wall:.2f} s, {rebuild_met} (target < {REBUILD_TARGET_S} s)",
        f"same bytes for the index and sampled posts: {'yes' if identical else 'NO'}",
        f"CPUs: {env_info['cpus']}, load average before the run: {env_info['load_average'][0]:.1f}",
    ]
    warning = busy_warning(env_info)
    if warning:
        lines.append(warning)
    print("\n".join(lines))
    if not args.no_save:
        payload = {
            "environment": env_info,
            "pages": pages,
            "files": args.files,
            "rounds": args.rounds,
            "siteserve": vars(built),
            "staticjinja": vars(sj),
            "rebuild": vars(rebuilt),
            "floor": vars(floor),
            "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "identical": identical,
            "all": {
                "siteserve": [vars(t) for t in first],
                "staticjinja": [vars(t) for t in other],
                "rebuild": [vars(t) for t in again],
                "floor": [vars(t) for t in floors],
            },
        }
        print(f"saved {save('build', payload)}")
    return 0


if __name__ == "__main__":
    exit_with(main)
