"""The console: banner, request log lines, start-up errors."""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from siteserve import console as console_module
from siteserve.console import (
    Console,
    local_url,
    printable,
    url_host,
)

ESC = "\x1b["


@dataclass(frozen=True)
class Info:
    host: str
    port: int
    requested_port: int
    scheme: str = "http"


@dataclass(frozen=True)
class Record:
    method: str
    path: str
    status: int
    size: int
    duration_ms: float
    client: str = "127.0.0.1"


@pytest.fixture(autouse=True)
def _terminal_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Colour detection must not depend on the environment the tests run in.
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLUMNS", "80")


def plain_console() -> tuple[Console, io.StringIO, io.StringIO]:
    out, err = io.StringIO(), io.StringIO()
    return Console(out, err, color=False), out, err


# -- small helpers ------------------------------------------------------------------


def test_urls_bracket_ipv6_and_map_wildcards_to_loopback() -> None:
    assert url_host("192.168.1.4") == "192.168.1.4"
    assert url_host("fd00::2") == "[fd00::2]"
    assert local_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert local_url("0.0.0.0", 8001) == "http://127.0.0.1:8001/"
    assert local_url("::", 8002) == "http://[::1]:8002/"
    assert local_url("localhost", 9000, "https") == "https://localhost:9000/"


def test_printable_escapes_control_characters_only() -> None:
    assert printable("/café/ü bung.html") == "/café/ü bung.html"
    assert printable("/\x1b[2J") == "/\\x1b[2J"
    assert printable("/a\nb") == "/a\\nb"
    assert "\u202e" not in printable("/\u202etxt.exe")


# -- request log ----------------------------------------------------------------------

LINE = re.compile(r"^\d\d:\d\d:\d\d GET /index\.html 200 1\.2 KiB 0\.4 ms$")


def test_access_line_plain_when_not_a_terminal() -> None:
    console, out, _ = plain_console()
    console.access(Record("GET", "/index.html", 200, 1234, 0.42))
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert LINE.match(lines[0]), lines[0]
    assert ESC not in out.getvalue()


@pytest.mark.parametrize(
    ("status", "colour"),
    [(200, "32"), (206, "32"), (301, "36"), (304, "36"), (404, "33"), (500, "31"), (503, "31")],
)
def test_access_status_coloured_by_class(status: int, colour: str) -> None:
    out = io.StringIO()
    console = Console(out, io.StringIO(), color=True)
    console.access(Record("GET", "/x", status, 10, 1.0))
    line = out.getvalue()
    assert f"{ESC}{colour}m{status}{ESC}0m" in line
    assert line.endswith(" 10 B 1.0 ms\n")


def test_access_status_outside_known_classes_is_uncoloured() -> None:
    out = io.StringIO()
    console = Console(out, io.StringIO(), color=True)
    console.access(Record("GET", "/x", 101, 0, 0.0))
    assert re.search(r" 101 0 B 0\.0 ms\n$", out.getvalue())


def test_access_escapes_hostile_path_and_method() -> None:
    console, out, _ = plain_console()
    console.access(Record("G\x1bET", "/\x1b]0;pwned\x07", 404, 0, 0.1))
    text = out.getvalue()
    assert "\x1b" not in text and "\x07" not in text
    assert "G\\x1bET /\\x1b]0;pwned\\x07 404" in text


def test_access_survives_a_closed_stdout() -> None:
    class Closed(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            Closed.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

    console = Console(Closed(), io.StringIO(), color=False)
    console.access(Record("GET", "/", 200, 1, 0.1))
    console.access(Record("GET", "/", 200, 1, 0.1))
    assert Closed.writes == 1  # after the first failure logging stops, serving goes on


def test_access_flushes_once_per_loop_iteration() -> None:
    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            Counting.flushes += 1
            super().flush()

    out = Counting()
    console = Console(out, io.StringIO(), color=False)

    async def burst() -> None:
        for index in range(50):
            console.access(Record("GET", f"/{index}", 200, 1, 0.1))
        assert Counting.flushes == 0
        await asyncio.sleep(0)  # let the loop run the scheduled flush
        await asyncio.sleep(0)

    asyncio.run(burst())
    assert Counting.flushes == 1
    assert len(out.getvalue().splitlines()) == 50


def test_access_outside_a_loop_flushes_at_once() -> None:
    class Counting(io.StringIO):
        flushes = 0

        def flush(self) -> None:
            Counting.flushes += 1

    console = Console(Counting(), io.StringIO(), color=False)
    console.access(Record("HEAD", "/", 304, 0, 0.0))
    assert Counting.flushes == 1


# -- banner and errors ---------------------------------------------------------------------


def test_banner_local_only() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/srv/site"), Info("127.0.0.1", 8000, 8000))
    text = out.getvalue()
    assert "Folder   /srv/site" in text
    assert "Local    http://127.0.0.1:8000/" in text
    assert "Network" not in text
    assert "taken" not in text
    assert ESC not in text


def test_banner_lists_every_lan_address_when_bound_to_all() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("0.0.0.0", 8000, 8000), lan=["192.168.1.20", "10.0.0.5"])
    text = out.getvalue()
    assert "Local    http://127.0.0.1:8000/" in text
    assert "Network  http://192.168.1.20:8000/" in text
    assert "Network  http://10.0.0.5:8000/" in text


def test_banner_ipv6_wildcard_brackets_addresses() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("::", 8080, 8080), lan=["fd00::2"])
    assert "Local    http://[::1]:8080/" in out.getvalue()
    assert "Network  http://[fd00::2]:8080/" in out.getvalue()


def test_banner_says_when_no_lan_address_exists() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("0.0.0.0", 8000, 8000), lan=[])
    assert "Network  no LAN address found" in out.getvalue()


def test_banner_uses_real_lan_addresses_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []

    def fake(ipv6: bool = False) -> list[str]:
        calls.append(ipv6)
        return ["192.168.7.7"]

    monkeypatch.setattr(console_module, "lan_addresses", fake)
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("::", 8000, 8000))
    assert calls == [True]
    assert "http://192.168.7.7:8000/" in out.getvalue()


def test_banner_reports_port_fallback() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("127.0.0.1", 8001, 8000))
    assert "port 8000 was taken, using 8001" in out.getvalue()
    assert "Local    http://127.0.0.1:8001/" in out.getvalue()


def test_banner_port_zero_is_not_a_fallback() -> None:
    console, out, _ = plain_console()
    console.banner(Path("/s"), Info("127.0.0.1", 43123, 0))
    assert "taken" not in out.getvalue()


def test_banner_long_folder_is_not_wrapped() -> None:
    console, out, _ = plain_console()
    root = Path("/" + "/".join(["a-rather-long-folder-name"] * 8))
    console.banner(root, Info("127.0.0.1", 8000, 8000))
    assert f"Folder   {root}\n" in out.getvalue()


def test_error_is_one_line_on_stderr() -> None:
    console, out, err = plain_console()
    console.error("siteserve.toml: Expected '=' after a key\n  (at line 3, column 5)")
    assert out.getvalue() == ""
    assert err.getvalue() == (
        "siteserve: error: siteserve.toml: Expected '=' after a key (at line 3, column 5)\n"
    )


def test_banner_on_a_closed_stdout_does_not_raise() -> None:
    # `siteserve | head -1`: the pipe closes after the first line; the server goes on.
    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    console = console_module.Console(Closed())
    console.banner(Path("/site"), Info("127.0.0.1", 8000, 8000), lan=[])
