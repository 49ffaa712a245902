"""``siteserve build`` and ``siteserve serve`` on the command line, and ``[build] paths``.

The server is never started: ``runner.run`` is replaced, as in test_reload_cli.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siteserve import cli
from siteserve.config import ConfigError, build_config
from siteserve.server import runner


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
    assert cli.main(["serve", "--help"]) == 0
    assert "siteserve build" in capsys.readouterr().out  # the serve help points to build


def test_build_paths_in_siteserve_toml(tmp_path: Path) -> None:
    (tmp_path / "siteserve.toml").write_text('[build]\npaths = ["/a", "b/c"]\n')
    assert build_config(tmp_path).build_paths == ("/a", "b/c")
    (tmp_path / "siteserve.toml").write_text('[build]\npaths = "/a"\n')
    with pytest.raises(ConfigError, match=r"build\.paths must be a list of strings"):
        build_config(tmp_path)
    (tmp_path / "siteserve.toml").write_text("[build]\nlayout = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown key build\.layout"):
        build_config(tmp_path)
