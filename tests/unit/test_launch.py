"""``launch.quick_args`` reads a plain serve line exactly as typer does, and leaves the rest to it.

Each line is given to both: typer's command (``cli.main``, with ``build_config``
recording what it got and refusing, so nothing serves) and ``quick_args``.
Where ``quick_args`` answers, the folder and every option must be the ones
typer handed over; where it does not, typer alone decides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siteserve import cli, launch
from siteserve.config import ConfigError
from siteserve.options import Flag

#: Lines quick_args reads itself.
READ_HERE = [
    [],
    ["site"],
    ["serve", "site"],
    ["serve", "serve"],
    ["site", "--port", "3000", "--strict-port", "--quiet", "--no-reload"],
    ["-p", "3000", "-q", "site"],
    ["--port=3000", "site", "--host", "0.0.0.0"],
    ["site", "--port", " 12 "],
    ["site", "--port", "1", "--port", "2"],
    ["site", "--ignore", "*.tmp", "--ignore=*.log", "--auth", "a:b"],
    ["site", "--host", ""],
    ["site", "--host="],
    ["site", "--cache", "600", "--share", "--share-link", "ro", "--expire", "2h"],
    ["site", "--auth-file", "users.txt", "--cert", "c.pem", "--key", "k.pem", "--tls"],
    ["site", "--max-upload", "500M", "--workers", "auto", "--proxy", "/api=http://127.0.0.1:5"],
    ["site", "--spa", "--drafts", "--cors", "--allowed-host", "app.test", "--open", "--qr"],
    ["site", "--follow-symlinks", "--poll", "--upload"],
]

#: Lines left to typer: help, version, build, errors, spellings quick_args does not take.
LEFT_TO_TYPER = [
    ["--help"],
    ["-h"],
    ["--version"],
    ["build", "site"],
    ["serve", "build"],
    ["site", "other"],
    ["site", "--port", "abc"],
    ["site", "--port"],
    ["site", "--port", "-1"],
    ["site", "--no-such-option"],
    ["site", "--quiet=yes"],
    ["site", "-qp", "3000"],
    ["site", "-p3000"],
    ["site", "--", "-dir"],
    ["-"],
]


@pytest.fixture
def typer_gave(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, dict[str, Any]]]:
    calls: list[tuple[Path, dict[str, Any]]] = []

    def record(folder: Path, **options: Any) -> None:
        calls.append((folder, options))
        raise ConfigError("recorded")

    monkeypatch.setattr(cli, "build_config", record)
    return calls


@pytest.mark.parametrize("args", READ_HERE, ids=" ".join)
def test_a_plain_line_is_read_as_typer_reads_it(
    args: list[str], typer_gave: list[tuple[Path, dict[str, Any]]]
) -> None:
    quick = launch.quick_args(args)
    assert quick is not None
    assert cli.main(args) == cli.EXIT_USAGE
    folder, given = quick
    assert [(folder, launch.cli_options(given))] == typer_gave


@pytest.mark.parametrize("args", LEFT_TO_TYPER, ids=" ".join)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert launch.quick_args(args) is None


def test_every_serve_flag_is_read_here() -> None:
    for option in launch.SERVE_OPTIONS:
        for flag in option.flags:
            words = [flag] if isinstance(option.kind, Flag) else [flag, "1"]
            quick = launch.quick_args(["site", *words])
            assert quick is not None, flag
            assert quick[1][option.name] not in (None, False), flag


def test_a_shell_completion_request_is_left_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_SITESERVE_COMPLETE", "bash_complete")
    assert launch.quick_args(["site"]) is None


def test_a_start_up_error_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing-here"
    assert launch.main([str(missing), "--port", "0"]) == launch.EXIT_USAGE
    typer_said = capsys.readouterr().err
    assert cli.main([str(missing), "--port", "0"]) == cli.EXIT_USAGE
    assert capsys.readouterr().err == typer_said
    assert typer_said.startswith("siteserve: error: ")
    assert typer_said.count("\n") == 1
