"""The CLI's live reload switches reach the Config and the app (the server is not started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siteserve import cli
from siteserve.reload.app import ReloadApp
from siteserve.server import runner
from tests.conftest import find_layer


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    calls: list[tuple[Any, Any]] = []
    monkeypatch.setattr(runner, "run", lambda config, app, **kw: calls.append((config, app)))
    return calls


def test_reload_is_on_by_default(tmp_path: Path, started: list[tuple[Any, Any]]) -> None:
    assert cli.main([str(tmp_path), "-q"]) == 0
    config, app = started[0]
    assert config.reload and not config.poll and config.ignore == ()
    assert isinstance(find_layer(app, ReloadApp), ReloadApp)


def test_no_reload_serves_the_bare_site(tmp_path: Path, started: list[tuple[Any, Any]]) -> None:
    assert cli.main([str(tmp_path), "-q", "--no-reload"]) == 0
    config, app = started[0]
    assert not config.reload
    with pytest.raises(AssertionError):
        find_layer(app, ReloadApp)


def test_poll_and_repeated_ignore(tmp_path: Path, started: list[tuple[Any, Any]]) -> None:
    (tmp_path / "siteserve.toml").write_text('ignore = ["drafts/*"]\n')
    argv = [str(tmp_path), "-q", "--poll", "--ignore", "*.log", "--ignore", "build"]
    assert cli.main(argv) == 0
    config, app = started[0]
    assert config.poll
    # Globs from the command line are added to those of siteserve.toml.
    assert config.ignore == ("drafts/*", "*.log", "build")
    reload = find_layer(app, ReloadApp)
    assert reload.ignore(tmp_path / "debug.log")
    assert reload.ignore(tmp_path / "build" / "app.js")
    assert reload.ignore(tmp_path / "drafts" / "post.html")
    assert not reload.ignore(tmp_path / "index.html")
