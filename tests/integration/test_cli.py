"""The ``siteserve`` command as a user runs it: a real process, real signals, real sockets.

Every server here listens on 127.0.0.1 on a port the kernel picked (port 0, or the
next free one after a port the test holds). Nothing sleeps for a fixed time: the
tests wait for a line of output or for the process to exit, with a deadline.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from siteserve import __version__
from siteserve.config import Limits, build_config

DEADLINE = 15.0
SAMPLE_SITE = Path(__file__).resolve().parents[2] / "sample_site"
LOCAL_URL = re.compile(r"Local +(http://127\.0\.0\.1:(\d+)/)")
LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d (\S+) (\S+) (\d{3}) \d+(?:\.\d)? (?:[KMGT]i)?B \d+\.\d ms$")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env.update(extra)
    return env


class Siteserve:
    """One ``python -m siteserve`` process, its output read line by line on threads."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "siteserve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env or _env(),
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._read, args=(self.process.stdout, self.stdout, True)),
            threading.Thread(target=self._read, args=(self.process.stderr, self.stderr, False)),
        ]
        for thread in self._threads:
            thread.daemon = True
            thread.start()

    def _read(self, stream: IO[str], into: list[str], notify: bool) -> None:
        with stream:  # this thread owns the pipe: it closes it at end of file
            for line in stream:
                into.append(line.rstrip("\n"))
                if notify:
                    self._lines.put(line.rstrip("\n"))
        if notify:
            self._lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], deadline: float = DEADLINE) -> re.Match[str]:
        """The first new stdout line matching ``pattern``, or fail at the deadline."""
        end = time.monotonic() + deadline
        while True:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern.pattern!r}: {self.output()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"siteserve ended before {pattern.pattern!r}: {self.output()}")
            match = pattern.search(line)
            if match:
                return match

    def ready(self) -> str:
        """Wait for the banner; the URL it gives."""
        return self.wait_for(LOCAL_URL).group(1)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and wait for the exit status (and all of the output)."""
        if self.process.poll() is None:
            self.process.send_signal(signum)
        return self.finish()

    def finish(self) -> int:
        status = self.process.wait(DEADLINE)
        for thread in self._threads:
            thread.join(DEADLINE)
        return status

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.finish()

    def output(self) -> str:
        return "stdout:\n" + "\n".join(self.stdout) + "\nstderr:\n" + "\n".join(self.stderr)

    def log_lines(self) -> list[re.Match[str]]:
        return [m for m in map(LOG_LINE.match, self.stdout) if m]


@pytest.fixture
def start() -> Iterator[type[Siteserve]]:
    """Start siteserve processes; any still running at the end are killed (by their PID)."""
    started: list[Siteserve] = []

    class Tracked(Siteserve):
        def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__(*args, env=env)
            started.append(self)

    yield Tracked
    for server in started:
        server.kill()


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>home</title><h1>home</h1>")
    (root / "about.html").write_text("<!doctype html><title>about</title>")
    return root


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is taken for as long as the test runs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        yield int(holder.getsockname()[1])


def run_to_end(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "siteserve", *args],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        env=_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        check=False,
    )


# -- information ---------------------------------------------------------------------


def test_version() -> None:
    done = run_to_end("--version")
    assert done.returncode == 0
    assert done.stdout == f"siteserve {__version__}\n"
    assert done.stderr == ""


def test_installed_console_script() -> None:
    script = shutil.which("siteserve", path=str(Path(sys.executable).parent))
    assert script is not None, "pip install did not create the siteserve command"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, f"siteserve {__version__}\n")


def test_help_lists_options_and_examples() -> None:
    done = run_to_end("--help")
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: siteserve [OPTIONS] [DIR]")
    for option in ("--port", "--host", "--strict-port", "--open", "--quiet", "--no-reload"):
        assert option in done.stdout
    assert "--follow-symlinks" in done.stdout and "--cache SECONDS" in done.stdout
    assert "Examples:" in done.stdout
    assert "siteserve sample_site --open" in done.stdout
    assert "\x1b[" not in done.stdout
    assert run_to_end("-h").stdout == done.stdout


# -- start-up errors: one line, status 2, no traceback -------------------------------------


def _bad_toml(root: Path, text: str) -> Path:
    (root / "siteserve.toml").write_text(text)
    return root


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda tmp: [str(tmp / "nope")], "folder not found: "),
        (lambda tmp: [str(tmp / "site" / "index.html")], "not a folder: "),
        (lambda tmp: [str(tmp / "site"), "--port", "70000"], "port must be between 0 and 65535"),
        (lambda tmp: [str(tmp / "site"), "-p", "-1"], "port must be between 0 and 65535"),
        (lambda tmp: [str(tmp / "site"), "--port", "eighty"], "Invalid value for '--port'"),
        (lambda tmp: [str(tmp / "site"), "--bogus"], "No such option: --bogus"),
        (lambda tmp: [str(tmp / "site"), "--cache", "-5"], "cache seconds must be zero or more"),
        (lambda tmp: [str(tmp / "site"), "extra"], "unexpected extra argument"),
        (
            lambda tmp: [str(_bad_toml(tmp / "site", "[server\nport = 1"))],
            "siteserve.toml: ",
        ),
        (
            lambda tmp: [str(_bad_toml(tmp / "site", "[server]\nprot = 8000\n"))],
            "siteserve.toml: unknown key prot",
        ),
        (
            lambda tmp: [str(_bad_toml(tmp / "site", "[limits]\nmax_body = -1\n"))],
            "limits.max_body must be a positive number",
        ),
    ],
    ids=[
        "missing-folder",
        "file-not-folder",
        "port-70000",
        "port-negative",
        "port-not-a-number",
        "unknown-option",
        "negative-cache",
        "two-folders",
        "toml-syntax",
        "toml-unknown-key",
        "toml-bad-limit",
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, site: Path, make_args: Callable[[Path], list[str]], message: str
) -> None:
    args = make_args(tmp_path)
    done = run_to_end(*args)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("siteserve: error: ")
    assert message in lines[0]
    assert "Traceback" not in done.stderr


def test_missing_folder_names_it(tmp_path: Path) -> None:
    done = run_to_end("nope", cwd=tmp_path)
    assert done.stderr == "siteserve: error: folder not found: nope\n"


def test_strict_port_taken_fails(start: type[Siteserve], site: Path, held_port: int) -> None:
    server = start(str(site), "--port", str(held_port), "--strict-port")
    assert server.finish() == 2
    assert server.stderr == [f"siteserve: error: port {held_port} is already in use"]
    assert server.stdout == []


def test_port_from_siteserve_toml_is_used(
    start: type[Siteserve], site: Path, held_port: int
) -> None:
    (site / "siteserve.toml").write_text(f"[server]\nport = {held_port}\nstrict_port = true\n")
    server = start(str(site))
    assert server.finish() == 2
    assert server.stderr == [f"siteserve: error: port {held_port} is already in use"]


# -- serving -------------------------------------------------------------------------------


def test_port_fallback_is_announced_and_serves(
    start: type[Siteserve], site: Path, held_port: int
) -> None:
    server = start(str(site), "--port", str(held_port))
    match = server.wait_for(LOCAL_URL)
    url, port = match.group(1), int(match.group(2))
    assert port != held_port
    server.wait_for(re.compile(rf"^  port {held_port} was taken, using {port}$"))
    response = httpx.get(url, timeout=DEADLINE)
    assert response.status_code == 200
    assert "<h1>home</h1>" in response.text
    assert server.stop() == 0


def test_banner_shows_folder_and_url_as_plain_text(start: type[Siteserve], site: Path) -> None:
    server = start(str(site), "--port", "0")
    server.ready()
    assert server.stop() == 0
    assert server.stdout[0] == f"siteserve {__version__}"
    assert f"  Folder   {site.resolve()}" in server.stdout
    assert not any("\x1b[" in line for line in server.stdout)
    assert not any("Network" in line for line in server.stdout)
    assert server.stderr == []


def test_each_request_logs_one_line(start: type[Siteserve], site: Path) -> None:
    server = start(str(site), "-p", "0")
    url = server.ready()
    with httpx.Client(base_url=url, timeout=DEADLINE) as client:
        assert client.get("/").status_code == 200
        assert client.get("/about").status_code == 200
        assert client.head("/missing").status_code == 404
    first = server.wait_for(LOG_LINE)
    assert first.group(1, 2, 3) == ("GET", "/", "200")
    second = server.wait_for(LOG_LINE)
    assert second.group(1, 2, 3) == ("GET", "/about", "200")
    third = server.wait_for(LOG_LINE)
    assert third.group(1, 2, 3) == ("HEAD", "/missing", "404")
    assert server.stop() == 0
    assert len(server.log_lines()) == 3


def test_quiet_logs_no_requests(start: type[Siteserve], site: Path) -> None:
    server = start(str(site), "-p", "0", "--quiet")
    url = server.ready()
    for path in ("/", "/about", "/missing"):
        httpx.get(url.rstrip("/") + path, timeout=DEADLINE)
    assert server.stop() == 0
    assert server.log_lines() == []
    assert any(line.startswith("  Local ") for line in server.stdout)  # the banner still shows


def test_quiet_from_siteserve_toml(start: type[Siteserve], site: Path) -> None:
    (site / "siteserve.toml").write_text("[server]\nquiet = true\n")
    server = start(str(site), "-p", "0")
    url = server.ready()
    assert httpx.get(url, timeout=DEADLINE).status_code == 200
    assert server.stop() == 0
    assert server.log_lines() == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly_with_status_0(
    start: type[Siteserve], site: Path, signum: int
) -> None:
    server = start(str(site), "-p", "0")
    url = server.ready()
    # An idle keep-alive connection must not hold the shutdown up.
    with httpx.Client(timeout=DEADLINE) as client:
        assert client.get(url).status_code == 200
        assert server.stop(signum) == 0
    assert "Traceback" not in server.output()
    assert server.stderr == []


def _wait_until_refused(port: int) -> None:
    """Wait until the server has stopped accepting connections (its listener is closed)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            probe = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        except ConnectionRefusedError:
            return
        probe.close()
        time.sleep(0.01)  # polling interval while the server handles the signal
    raise AssertionError(f"port {port} still accepts connections after SIGTERM")


def test_sigterm_lets_a_download_in_flight_finish(start: type[Siteserve], site: Path) -> None:
    size = 32 * 1024 * 1024  # far more than the socket buffers hold
    (site / "big.bin").write_bytes(b"x" * size)
    server = start(str(site), "-p", "0", "--quiet")
    url = server.ready()
    with httpx.stream("GET", url + "big.bin", timeout=DEADLINE) as response:
        assert response.status_code == 200
        chunks = response.iter_raw(64 * 1024)
        received = len(next(chunks))
        server.process.send_signal(signal.SIGTERM)
        _wait_until_refused(int(url.rsplit(":", 1)[1].strip("/")))
        for chunk in chunks:
            received += len(chunk)
    assert received == size
    assert server.finish() == 0


def test_open_launches_the_browser_on_the_local_url(
    start: type[Siteserve], site: Path, tmp_path: Path
) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "fake-browser"
    script = f"import pathlib, sys\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n"
    browser.write_text(f"#!{sys.executable}\n{script}")
    browser.chmod(0o755)
    server = start(str(site), "-p", "0", "--open", env=_env(BROWSER=str(browser)))
    url = server.ready()
    end = time.monotonic() + DEADLINE
    while not (opened.exists() and opened.read_text()):
        assert time.monotonic() < end, "the browser was not opened"
        assert server.process.poll() is None
        time.sleep(0.02)  # polling interval for a file another process writes
    assert opened.read_text() == url
    assert server.stop() == 0


def test_serves_the_sample_site(start: type[Siteserve]) -> None:
    server = start(str(SAMPLE_SITE), "-p", "0", "--no-reload")
    url = server.ready()
    with httpx.Client(base_url=url, timeout=DEADLINE) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert home.headers["content-type"] == "text/html; charset=utf-8"
        assert "/assets/app.mjs" in home.text
        about = client.get("/about")
        assert about.status_code == 200
        assert "<title>About" in about.text
        module = client.get("/assets/app.mjs")
        assert module.status_code == 200
        assert module.headers["content-type"].startswith("text/javascript")
        css = client.get("/assets/style.css")
        assert css.headers["content-type"].startswith("text/css")
        logo = client.get("/assets/logo.svg")
        assert logo.headers["content-type"].startswith("image/svg+xml")
        data = client.get("/downloads/sample.json")
        assert data.json()["planets"][1] == {"name": "Earth", "moons": 1}
        listing = client.get("/downloads/")
        assert listing.status_code == 200
        assert "sample.json" in listing.text and "more" in listing.text
        missing = client.get("/no/such/page")
        assert missing.status_code == 404
        assert "Nothing here." in missing.text
        assert client.get("/downloads", follow_redirects=False).status_code == 301
    assert server.stop() == 0


# -- the README tells the truth about the command -------------------------------------------

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_toml() -> str:
    text = README.read_text()
    start = text.index("```toml\n", text.index("## siteserve.toml")) + len("```toml\n")
    return text[start : text.index("```", start)]


def test_readme_siteserve_toml_example_is_valid_and_limits_are_the_defaults(
    tmp_path: Path,
) -> None:
    (tmp_path / "siteserve.toml").write_text(_readme_toml())
    config = build_config(tmp_path)
    assert (config.host, config.port, config.cache_seconds) == ("127.0.0.1", 8000, 600)
    assert config.limits == Limits()


def test_readme_options_table_matches_help() -> None:
    help_text = run_to_end("--help").stdout
    options = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text))
    readme = README.read_text()
    table = readme[readme.index("| option |") : readme.index("\n\n", readme.index("| option |"))]
    documented = set(re.findall(r"`(--[a-z][a-z-]+)", table))
    assert documented == options
