"""The package's floors: the protocol layer imports nothing above it and knows no event loop."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import siteserve
from siteserve.config import Limits
from siteserve.http.limits import ParserLimits

PACKAGE = Path(siteserve.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_http_imports_only_itself_from_the_package() -> None:
    # The package root is allowed: it holds only ``__version__`` (the Server header).
    for path in sorted((PACKAGE / "http").glob("*.py")):
        for name in _imports(path):
            if name.startswith("siteserve"):
                assert name == "siteserve" or name.startswith("siteserve.http"), (path, name)


def test_http_knows_no_event_loop() -> None:
    for path in sorted((PACKAGE / "http").glob("*.py")):
        assert "asyncio" not in {name.split(".")[0] for name in _imports(path)}, path


def test_lan_discovery_sits_below_the_console_and_the_sharing_layers() -> None:
    assert not any(name.startswith("siteserve") for name in _imports(PACKAGE / "net.py"))
    for user in ("console.py", "share/banner.py", "share/tls.py"):
        tree = ast.parse((PACKAGE / user).read_text())
        sources = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and any(alias.name == "lan_addresses" for alias in node.names)
        }
        assert sources == {"siteserve.net"}, user


def test_config_hands_the_parser_its_four_limits() -> None:
    limits = Limits(max_request_line=1, max_header_bytes=2, max_headers=3, max_body=4)
    assert limits.parser_limits() == ParserLimits(1, 2, 3, 4)


def test_parser_limits_and_config_limits_share_their_defaults() -> None:
    defaults = Limits().parser_limits()
    assert defaults == ParserLimits()
    assert {f.name for f in fields(ParserLimits)} <= {f.name for f in fields(Limits)}
