"""A feature's dependencies load when the feature is first used, not at start-up.

Each check runs in a fresh interpreter (``sys.modules`` of the test process has
everything loaded already): it goes through what ``siteserve DIR`` does before
the first request (the CLI module, ``build_config``, ``build_app`` and the
runner's imports), then prints the heavy modules it finds loaded.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: Third-party modules that only some features need.
HEAVY = ("jinja2", "yaml", "markupsafe", "brotli", "segno", "cryptography", "markdown_it")

_START = """
import json, sys
from pathlib import Path
import siteserve.cli
from siteserve.assemble import build_app
from siteserve.config import build_config
from siteserve.site.app import Site
import siteserve.server.runner, siteserve.share.auth, siteserve.share.banner

config = build_config(Path(sys.argv[1]), port=0, reload={reload}, upload={upload})
app = build_app(config)
before = sorted(m for m in {heavy} if m in sys.modules)
site = app
while not isinstance(site, Site):
    site = site.inner
{use}
after = sorted(m for m in {heavy} if m in sys.modules)
uploads = "siteserve.share.multipart" in sys.modules
print(json.dumps({{"before": before, "after": after, "uploads": uploads}}))
"""


def _loaded(
    root: Path, *, use: str = "", reload: bool = False, upload: bool = False
) -> dict[str, object]:
    script = _START.format(heavy=HEAVY, use=use, reload=reload, upload=upload)
    done = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return answer


def _static_site(root: Path) -> Path:
    (root / "index.html").write_text("<h1>hi</h1>")
    (root / "style.css").write_text("h1 { color: red }")
    return root


def test_a_static_site_starts_without_any_feature_dependency(tmp_path: Path) -> None:
    found = _loaded(_static_site(tmp_path))
    assert found == {"before": [], "after": [], "uploads": False}


def test_live_reload_on_a_static_site_loads_none_either(tmp_path: Path) -> None:
    assert _loaded(_static_site(tmp_path), reload=True)["before"] == []


def test_jinja_and_yaml_load_when_the_first_page_is_rendered(tmp_path: Path) -> None:
    _static_site(tmp_path)
    (tmp_path / "about.html.jinja").write_text("{{ 1 + 1 }}")
    # What the Site's first page render reaches for: its page handler.
    found = _loaded(tmp_path, use="site.pages")
    assert found["before"] == []
    after = found["after"]
    assert isinstance(after, list)
    assert {"jinja2", "yaml", "markupsafe"} <= set(after)


def test_the_upload_handler_loads_with_upload_only(tmp_path: Path) -> None:
    assert _loaded(_static_site(tmp_path), upload=True)["uploads"] is True


@pytest.mark.parametrize(("flag", "prints"), [("--version", "siteserve "), ("--help", "Usage")])
def test_version_and_help_load_neither_rich_nor_the_server(flag: str, prints: str) -> None:
    script = (
        f"import sys; from siteserve.cli import main; code = main([{flag!r}]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{(*HEAVY, 'rich', 'asyncio', 'httptools')}), file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert prints in done.stdout
    assert done.stderr.strip() == "[]"


_BUILD = """
import json, sys
from pathlib import Path
from siteserve.assemble import build_app
from siteserve.config import build_config

app = build_app(build_config(Path(sys.argv[1]), port=0, reload=False, auth=sys.argv[2:]))
print(json.dumps(sorted(sys.modules)))
"""

#: What a site's files and options decide to load, and what each module is for.
_BY_FEATURE = (
    "tomllib",  # siteserve.toml
    "siteserve.rules.native",  # its [[redirects]]
    "siteserve.rules.headers_file",  # a rule file (_headers here)
    "siteserve.share.auth",  # --auth
)


def _built(root: Path, *auth: str) -> set[str]:
    """The feature modules loaded once the app for ``root`` is built (fresh interpreter)."""
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(root), *auth],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return {name for name in _BY_FEATURE if name in loaded}


def test_a_site_without_config_rules_or_password_loads_none_of_their_readers(
    tmp_path: Path,
) -> None:
    assert _built(_static_site(tmp_path)) == set()


def test_a_siteserve_toml_rules_and_a_password_load_what_they_need(tmp_path: Path) -> None:
    _static_site(tmp_path)
    (tmp_path / "siteserve.toml").write_text('[[redirects]]\nfrom = "/old"\nto = "/new"\n')
    (tmp_path / "_headers").write_text("/*\n  X-Test: yes\n")
    assert _built(tmp_path, "ann:secret") == set(_BY_FEATURE)
