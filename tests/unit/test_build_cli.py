"""``siteserve build`` and ``siteserve serve`` on the command line, and ``[build] paths``.

The server is never started: ``runner.run`` is replaced, as in test_reload_cli.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siteserve import cli
from siteserve.config import ConfigError, build_config
from siteserve.options import markdown_table
from siteserve.server import runner


@pytest.mark.parametrize(
    ("words", "name", "expected"),
    [
        (["-o", "public"], "output", "public"),
        (["--layout", "folder"], "layout", "folder"),
        (["--precompress"], "precompress", True),
        (["--strict"], "strict", True),
        (["--force"], "force", True),
        (["-j", "3"], "jobs", 3),
        (["--drafts"], "drafts", True),
    ],
)
def test_each_build_flag_reaches_build_config(
    words: list[str], name: str, expected: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from siteserve.build import cli as build_cli

    calls: list[dict[str, Any]] = []

    def record(root: Path, **options: Any) -> None:
        calls.append(options)
        raise ConfigError("stop here")

    monkeypatch.setattr(build_cli, "build_config", record)
    assert cli.main(["build", str(tmp_path), *words]) == 2
    assert calls[0][name] == expected and calls[0]["reload"] is False
    # Not given: None, so a value in siteserve.toml stands.
    assert all(value is None for key, value in calls[0].items() if key not in (name, "reload"))


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(runner, "run", lambda config, app, **kw: calls.append(config))
    return calls


def test_serve_is_the_explicit_spelling_of_siteserve_dir(
    tmp_path: Path, started: list[Any]
) -> None:
    assert cli.main(["serve", str(tmp_path), "-q"]) == 0
    assert cli.main([str(tmp_path), "-q"]) == 0
    assert started[0].root == started[1].root == tmp_path.resolve()


def test_a_folder_named_build_is_served_with_serve_or_a_path(
    tmp_path: Path, started: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "build").mkdir()
    monkeypatch.chdir(tmp_path)
    assert cli.main(["serve", "build", "-q"]) == 0
    assert cli.main(["./build", "-q"]) == 0
    assert [config.root for config in started] == [(tmp_path / "build").resolve()] * 2


def test_build_help_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["build", "--help"]) == 0
    help_text = capsys.readouterr().out
    assert help_text.startswith("Usage: siteserve build [OPTIONS] [DIR]")
    for option in ("--output", "--force", "--strict", "--precompress", "--layout", "--jobs"):
        assert option in help_text
    assert "siteserve serve build" in help_text
    assert cli.main(["build", str(tmp_path / "missing")]) == 2
    assert "folder not found" in capsys.readouterr().err


def test_build_help_names_every_build_key_of_siteserve_toml(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["build", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "--base-url URL" in help_text
    assert "[build] in siteserve.toml may hold layout, precompress, strict, base_url" in help_text
    # The keys with no flag, each with what it is for.
    assert "paths = [...] URLs rendered even when no page links to them." in help_text
    assert "missing = [...] URLs linked on purpose that answer 404" in help_text
    assert cli.main(["serve", "--help"]) == 0
    assert "siteserve build" in capsys.readouterr().out  # the serve help points to build


def test_the_build_table_of_siteserve_toml(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text(
        '[build]\npaths = ["/a", "b/c"]\nlayout = "folder"\nprecompress = true\n'
    )
    config = build_config(tmp_path)
    assert (config.paths, config.layout, config.precompress) == (("/a", "b/c"), "folder", True)
    # The command line wins over the file, as for every option.
    assert build_config(tmp_path, layout="html").layout == "html"
    (tmp_path / "siteserve.toml").write_text('[build]\npaths = "/a"\n')
    with pytest.raises(ConfigError, match=r"build\.paths must be a list"):
        build_config(tmp_path)
    (tmp_path / "siteserve.toml").write_text("[build]\nlayout = 'x'\n")
    with pytest.raises(ConfigError, match="layout must be html or folder, not 'x'"):
        build_config(tmp_path)
    (tmp_path / "siteserve.toml").write_text("[build]\nnope = 1\n")
    with pytest.raises(ConfigError, match=r"unknown key build\.nope"):
        build_config(tmp_path)


def test_readme_build_options_table_is_the_declared_one() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    deploy = readme.index("## Deploy")
    start = readme.index("| option |", deploy)
    assert readme[start : readme.index("\n\n", start)] == markdown_table("build"), (
        "README.md's build options table differs from siteserve/options.py: paste the output"
        " of markdown_table('build') into its Deploy section"
    )


def test_base_url_is_an_origin_lowercased_without_its_slash() -> None:
    from siteserve.options import BY_NAME

    parse = BY_NAME["base_url"].kind.parse
    assert parse("https://Example.org/") == "https://example.org"
    assert parse("HTTP://localhost:8080") == "http://localhost:8080"
    assert parse("") == ""
    for bad in ("example.org", "ftp://example.org", "https://example.org/blog", "https://u@x"):
        with pytest.raises(ConfigError, match="public origin"):
            parse(bad)
