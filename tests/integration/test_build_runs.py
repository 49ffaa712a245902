"""Whole builds: what they write and say, what a second build keeps, what they refuse.

Builds run in-process (``build_site``) or as the command a user types
(``python -m siteserve build``), into temporary folders.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from siteserve.build.manifest import MARKER, read_manifest
from siteserve.build.report import BrokenLink
from tests.integration.build_sites import (
    SAMPLE_SITE,
    build,
    make_generated_site,
    tree_bytes,
    tree_state,
)

DEADLINE = 120


def run_build(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["SOURCE_DATE_EPOCH"] = "1700000000"
    return subprocess.run(
        [sys.executable, "-m", "siteserve", "build", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=DEADLINE,
        check=False,
    )


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_generated_site(tmp_path / "site")


def test_the_generated_site_says_what_cannot_be_static(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = build(site, out)
    assert report.errors == []
    assert sorted(report.warnings) == [
        (
            "lonely/[id].html.jinja",
            "no URL found for this route: link to it from a page, or list its URLs"
            " in [build] paths of siteserve.toml",
        ),
        (
            "search.html.jinja",
            "reads request.args: written as its GET render (no query, no cookies,"
            " an empty session)",
        ),
    ]
    assert sorted(set(report.broken)) == [
        BrokenLink("/blog/caf%C3%A9", "/blog/no-such-post"),
        BrokenLink("/blog/first", "/blog/no-such-post"),
        BrokenLink("/blog/second", "/blog/no-such-post"),
    ]
    # The files, and siteserve's own favicon and Markdown stylesheet the server answers too.
    assert (report.pages_rendered, report.files_copied) == (12, 7)
    assert (out / "favicon.ico").is_file() and (out / "__siteserve" / "highlight.css").is_file()
    assert (out / "docs" / "hidden" / "page.html").is_file()  # from [build] paths
    assert not (out / "blog" / "no-such-post.html").exists()  # abort(404): nothing
    assert (out / "404.html").read_text().count("Nothing here (404).") == 1


def test_host_rules_repeat_the_live_headers_and_redirects(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(site, out)
    headers = (out / "_headers").read_text()
    rules = headers[headers.index("\n/") + 1 :]
    assert rules == (
        "/*\n  X-Content-Type-Options: nosniff\n\n"
        "/assets/site.3f9a2c1b.css\n  Cache-Control: public, max-age=31536000, immutable\n\n"
        "/files/*\n  X-Robots-Tag: noindex\n\n"
        "/notes.txt\n  X-Robots-Tag: noindex\n"
    )
    redirects = (out / "_redirects").read_text().splitlines()
    assert [line for line in redirects if not line.startswith("#")] == [
        "/old /about 301",
        "/old.html /about 301",
    ]


def test_a_second_build_copies_and_renders_nothing_unchanged(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = build(site, out)
    before = tree_state(out)
    second = build(site, out)
    assert (second.files_copied, second.files_unchanged) == (0, first.files_copied)
    assert (second.pages_rendered, second.pages_unchanged) == (0, first.pages_rendered)
    assert second.broken == first.broken and second.warnings == first.warnings
    # Nothing at all was written: not a page, not a file, not the rules, not the marker.
    assert tree_state(out) == before
    # A data file changes: the pages that read it are rendered again, no other.
    posts = site / "_data" / "posts.json"
    posts.write_text(posts.read_text().replace("More words.", "Other words."))
    (site / "notes.txt").write_text("Edited notes.\n")
    third = build(site, out)
    assert third.files_copied == 1
    assert third.pages_rendered == 5  # /, /blog/ and the three posts
    assert "Other words." in (out / "blog" / "second.html").read_text()
    assert (out / "notes.txt").read_text() == "Edited notes.\n"


def test_stale_files_of_an_earlier_build_go_and_nothing_else(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(site, out)
    (out / "mine.txt").write_text("put here by hand")
    (site / "notes.txt").unlink()
    (site / "about.html.jinja").unlink()
    report = build(site, out)
    assert not (out / "notes.txt").exists() and not (out / "about.html").exists()
    # The route file was copied for the one page that linked to it, gone too.
    assert not (out / "files" / "readme.txt").exists()
    assert report.removed == 3
    assert (out / "mine.txt").read_text() == "put here by hand"


def test_parallel_and_serial_builds_are_byte_identical(site: Path, tmp_path: Path) -> None:
    for root in (site, SAMPLE_SITE):
        serial, parallel = tmp_path / f"{root.name}-1", tmp_path / f"{root.name}-3"
        build(root, serial, jobs=1)
        report = build(root, parallel, jobs=3)
        assert report.processes == 3
        assert tree_bytes(serial) == tree_bytes(parallel)
        assert len(tree_bytes(serial)) > 10
        # The marker file too: what every URL answered, and every file with its size
        # (the output files' mtimes are the only thing that differs).
        one, many = read_manifest(serial / MARKER), read_manifest(parallel / MARKER)
        assert one.settings == many.settings and one.scanned == many.scanned
        assert one.visits == many.visits and len(one.visits) > 5
        assert {rel: size for rel, (size, _) in one.files.items()} == {
            rel: size for rel, (size, _) in many.files.items()
        }
    # The generated site has both host rule files: they are among the bytes compared.
    assert {"_headers", "_redirects"} <= set(tree_bytes(tmp_path / f"{site.name}-3"))


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_template_error_is_reported_the_same_by_any_number_of_processes(
    tmp_path: Path, jobs: int
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    links = "".join(f'<a href="/p{i}">p{i}</a>' for i in range(40))
    (site / "index.html.jinja").write_text(links + '<a href="/broken">broken</a>')
    for i in range(40):
        (site / f"p{i}.html.jinja").write_text(f"page {i}\n")
    (site / "broken.html.jinja").write_text("fine\n\n{{ nothing.here.at_all }}\n")
    report = build(site, tmp_path / "out", jobs=jobs)
    assert report.processes == jobs
    assert report.errors == [
        "broken.html.jinja:3: UndefinedError: 'nothing' is undefined (rendering /broken)"
    ]
    assert report.exit_status(strict=False) == 1
    assert report.pages_rendered == 41


def test_nothing_outside_the_output_is_written(site: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    build(site, out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.html").write_text("precious")
    # Someone (or something) planted links in OUT that lead out of it.
    for name in ("blog", "assets"):
        target = out / name
        for child in sorted(target.rglob("*"), reverse=True):
            child.unlink() if child.is_file() else child.rmdir()
        target.rmdir()
        target.symlink_to(elsewhere, target_is_directory=True)
    (out / "about.html").unlink()
    (out / "about.html").symlink_to(elsewhere / "keep.html")
    before = tree_state(elsewhere, site)
    report = build(site, out)
    assert tree_state(elsewhere, site) == before
    assert report.errors  # the folders in the way are said, not written through
    assert all("symlink where the build needs a folder" in error for error in report.errors)
    assert not (out / "about.html").is_symlink() and "About us" in (out / "about.html").read_text()


def test_refusals_exit_2_with_one_line_and_touch_nothing(tmp_path: Path) -> None:
    site = make_generated_site(tmp_path / "site")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("years of work")
    cases = [
        ([str(site), "-o", str(site / "dist")], "inside the site folder, where it would be served"),
        ([str(site / "blog"), "-o", str(site)], "is inside the output folder"),
        ([str(site), "-o", str(foreign)], "not empty and was not made by siteserve build"),
        ([str(site), "-o", str(site)], "the site folder"),
        ([str(site), "-o", str(foreign), "--force", "--layout", "nope"], "nope"),
    ]
    for argv, message in cases:
        before = tree_state(tmp_path)
        done = run_build(*argv)
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("siteserve: error: "), done.stderr
        assert message in lines[0]
        assert tree_state(tmp_path) == before
    # --force builds into the foreign folder, and leaves its own file alone.
    done = run_build(str(site), "-o", str(foreign), "--force", "-j", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (foreign / "thesis.tex").read_text() == "years of work"
    assert (foreign / "index.html").is_file()


def test_a_hidden_output_folder_inside_the_site_is_fine(site: Path) -> None:
    done = run_build(str(site), "-o", str(site / "_site"), "-j", "1")
    assert done.returncode == 0, done.stderr
    assert (site / "_site" / "index.html").is_file()
    again = run_build(str(site), "-o", str(site / "_site"), "-j", "1")
    lines = [line for line in again.stdout.splitlines() if not line.startswith("building: ")]
    # The output folder is never taken for a part of the site (nothing of it is listed).
    assert "0 copied" in again.stdout and "_site" not in "\n".join(lines[1:])


def test_a_template_error_exits_1_and_names_file_and_line(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html.jinja").write_text('<a href="/broken">broken</a>')
    (site / "broken.html.jinja").write_text("fine\n{{ nothing.here.at_all }}\n")
    out = tmp_path / "out"
    done = run_build(str(site), "-o", str(out))
    assert done.returncode == 1
    assert "broken.html.jinja:2: UndefinedError: 'nothing' is undefined (rendering /broken)" in (
        done.stdout
    )
    assert (out / "index.html").is_file() and not (out / "broken.html").exists()


def test_strict_turns_warnings_and_broken_links_into_a_failure(site: Path, tmp_path: Path) -> None:
    assert run_build(str(site), "-o", str(tmp_path / "a")).returncode == 0
    strict = run_build(str(site), "-o", str(tmp_path / "b"), "--strict")
    assert strict.returncode == 1
    assert "Warnings (2):" in strict.stdout and "Broken links (3):" in strict.stdout
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "index.html").write_text("<a href='/about.html'>about</a>")
    (clean / "about.html").write_text("<a href='/'>home</a>")
    assert run_build(str(clean), "-o", str(tmp_path / "c"), "--strict").returncode == 0


def test_the_summary_lines(site: Path, tmp_path: Path) -> None:
    done = run_build(str(site), "-o", str(tmp_path / "out"))
    # A slow build prints a progress line every two seconds before its summary.
    lines = [line for line in done.stdout.splitlines() if not line.startswith("building: ")]
    assert lines[0].startswith(f"Built {site} into {tmp_path / 'out'} in ")
    assert lines[1] == "  pages   12 (12 rendered, 0 unchanged)"
    assert lines[2] == "  files   7 (7 copied, 0 unchanged)"
    assert re.fullmatch(r"  size    \d+(\.\d)? [kKMG]i?B", lines[3]), lines[3]
    assert "  /blog/no-such-post  on /blog/first" in lines


def test_a_build_that_changes_nothing_says_the_rule_warnings_again(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>home</p>")
    (site / "serve.json").write_text(
        '{"headers": [{"source": "/x/**", "headers": [{"key": "X-Pad", "value": " padded "}]}]}'
    )
    out = tmp_path / "out"
    first = build(site, out)
    refused = [warning for warning in first.warnings if "cannot be written in" in warning[1]]
    assert len(refused) == 1 and refused[0][0].startswith("serve.json")
    before = tree_state(out)
    again = build(site, out)
    # Nothing was written the second time, and the same warnings were said: a warning
    # that held still holds, and --strict fails the same on both builds.
    assert tree_state(out) == before and again.pages_rendered == 0
    assert sorted(again.warnings) == sorted(first.warnings)
    assert again.exit_status(strict=True) == first.exit_status(strict=True) == 1


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_that_cannot_be_copied_is_named_and_the_others_are_copied(
    tmp_path: Path, jobs: int
) -> None:
    site, out = tmp_path / "site", tmp_path / "out"
    (site / "files").mkdir(parents=True)
    (site / "index.html").write_text("<p>home</p>")
    for i in range(150):  # more than one copy job's batch
        (site / "files" / f"f{i:03d}.txt").write_text(f"file {i}\n")
    first = build(site, out, jobs=jobs)
    assert first.errors == [] and first.files_copied > 150
    (out / "files" / "f100.txt").unlink()
    (out / "files" / "f100.txt").mkdir()  # in the way of the copy
    os.utime(site / "files" / "f100.txt", ns=(1, 1))
    report = build(site, out, jobs=jobs)
    assert [error.split(":")[0] for error in report.errors] == ["files/f100.txt"]
    assert report.exit_status(strict=False) == 1
    assert report.files_copied == 0 and report.files_unchanged == first.files_copied - 1
    assert (out / "files" / "f149.txt").read_text() == "file 149\n"
