"""The command line made from the declarations: every flag reaches build_config as declared.

The server is never started: build_config is replaced by one that records what
the command line gave it and stops there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from siteserve import cli
from siteserve.config import ConfigError
from siteserve.options import (
    OPTIONS,
    Choice,
    Credentials,
    Duration,
    File,
    Flag,
    Option,
    Size,
    Text,
    Texts,
    Whole,
    Workers,
)


@pytest.fixture
def given(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, dict[str, Any]]]:
    calls: list[tuple[Path, dict[str, Any]]] = []

    def record(root: Path, **options: Any) -> None:
        calls.append((root, options))
        raise ConfigError("stop here")

    monkeypatch.setattr(cli, "build_config", record)
    return calls


def _sample(option: Option) -> tuple[list[str], object]:
    """The words that give ``option`` on the command line, and what build_config should get."""
    flag, kind = option.flags[0], option.kind
    if isinstance(kind, Flag):
        return [flag], kind.sets
    if isinstance(kind, Credentials):
        return [flag, "ann:pw", flag, "bob:pw"], ("ann:pw", "bob:pw")
    if isinstance(kind, Texts):
        return [flag, "a/*", flag, "*.log"], ("a/*", "*.log")
    if isinstance(kind, Whole):
        return [flag, "7"], 7
    if isinstance(kind, Size):
        return [flag, "2M"], "2M"  # parsed by build_config, with the siteserve.toml value
    if isinstance(kind, File):
        return [flag, "some/file.pem"], Path("some/file.pem")
    if isinstance(kind, Choice):
        return [flag, kind.choices[-1]], kind.choices[-1]
    if isinstance(kind, Duration):
        return [flag, "30m"], "30m"  # parsed by build_config, like a size
    if isinstance(kind, Workers):
        return [flag, "auto"], "auto"  # counted by build_config
    assert isinstance(kind, Text), f"no sample for {option.name}: add one here"
    return [flag, "example.test"], "example.test"


@pytest.mark.parametrize("option", cli.SERVE_OPTIONS, ids=lambda option: option.name)
def test_each_flag_reaches_build_config(
    option: Option, given: list[tuple[Path, dict[str, Any]]], tmp_path: Path
) -> None:
    words, expected = _sample(option)
    assert cli.main([str(tmp_path), *words]) == 2
    root, options = given[0]
    assert root == tmp_path
    assert options[option.name] == expected
    # Everything else was not given, so siteserve.toml can still set it.
    assert {name for name, value in options.items() if value is not None} == {option.name}
    assert set(options) == {o.name for o in cli.SERVE_OPTIONS}


def test_short_forms_and_the_default_folder(given: list[tuple[Path, dict[str, Any]]]) -> None:
    assert cli.main(["-p", "3000", "-q"]) == 2
    root, options = given[0]
    assert root == Path(".")
    assert (options["port"], options["quiet"]) == (3000, True)


def test_the_command_has_the_declared_parameters() -> None:
    command = typer.main.get_command(cli.app)
    params = {param.name: param for param in command.params}
    assert list(params) == ["folder", *(o.name for o in cli.SERVE_OPTIONS), "version"]
    for option in cli.SERVE_OPTIONS:
        param = params[option.name]
        assert param.opts + param.secondary_opts == list(option.flags)
        assert param.multiple == option.kind.many
        assert param.is_flag == isinstance(option.kind, Flag)  # type: ignore[attr-defined]
        assert param.metavar == option.metavar
        assert param.help == option.help_text()  # type: ignore[attr-defined]


def test_help_lists_the_options_under_their_headings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    headings = [line[:-1] for line in text.splitlines() if line.endswith(":") and line[0] != " "]
    groups = list(dict.fromkeys(option.group for option in cli.SERVE_OPTIONS))
    assert headings == ["Arguments", *groups, "Other"]
    for option in cli.SERVE_OPTIONS:
        # Listed under its own heading: after it, before the next one.
        at = text.index(f"{option.flags[0]} ")
        before = text.rindex(f"\n{option.group}:\n", 0, at)
        assert all(f"\n{other}:\n" not in text[before + 1 : at] for other in groups)
    tables = "[server], [build], [limits], [site], [headers], [markdown] and [proxy] tables"
    assert tables in " ".join(text.split())


def test_every_declared_option_is_reachable() -> None:
    # The CLI takes what has flags; siteserve.toml what has a table (test_config checks those).
    from siteserve.build.cli import BUILD_OPTIONS

    on_cli = {o.name for o in cli.SERVE_OPTIONS} | {o.name for o in BUILD_OPTIONS}
    assert on_cli == {o.name for o in OPTIONS if o.flags}
