"""A real Vite dev server behind ``--proxy /=``, in Chromium: the page, HMR, edits.

The app is Vite's vanilla starter cut to what matters (an HTML entry, a module
that renders into it, a stylesheet it imports), written here; ``npm install``
fetches Vite itself from the registry (bounded in time). Vite listens on a free
port; siteserve, with live reload on and an empty site folder, proxies every path
to it. The test checks that the page loads through the proxy, that Vite's HMR
WebSocket connects through siteserve's tunnel (not Vite's fallback straight to
its own port), that a CSS edit is hot-applied over that socket without a reload,
and that a JavaScript edit reloads the page with the new code.

Needs node and npm (``.ci/run`` installs them); skipped without them on a
developer machine, failed in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, WebSocket

from tests.browser.test_reload import DEADLINE_MS, loads, write
from tests.conftest import RunningServer

#: npm install, at most (the registry is on the network).
INSTALL_TIMEOUT_S = 240
#: Vite's start, at most.
START_TIMEOUT_S = 60

INDEX = """<!doctype html>
<html lang="en">
  <head><meta charset="UTF-8" /><title>vite app</title></head>
  <body>
    <div id="app"></div>
    <script type="module" src="/src/main.js"></script>
  </body>
</html>
"""
MAIN = """import './style.css'
document.querySelector('#app').innerHTML = `<h1 id="title">{title}</h1>`
"""
STYLE = "#title {{ color: rgb({rgb}); }}\n"


def _vite_range() -> str:
    """Vite 8 needs node 20.19 or later; Debian 12's node 18 runs Vite 5."""
    try:
        version = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "^5.4.0"
    major, minor = (int(part) for part in version.strip().lstrip("v").split(".")[:2])
    return "^8.0.0" if (major, minor) >= (20, 19) else "^5.4.0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def vite_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npm") is None or shutil.which("node") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are missing; CI must install them (.ci/run)")
        pytest.skip("node and npm are not installed")
    app = tmp_path_factory.mktemp("vite") / "app"
    (app / "src").mkdir(parents=True)
    package = {
        "name": "app",
        "private": True,
        "type": "module",
        "devDependencies": {"vite": _vite_range()},
    }
    (app / "package.json").write_text(json.dumps(package, indent=2))
    (app / "index.html").write_text(INDEX)
    (app / "src" / "main.js").write_text(MAIN.format(title="first"))
    (app / "src" / "style.css").write_text(STYLE.format(rgb="255, 0, 0"))
    try:
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=app,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT_S,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        pytest.fail(f"npm install failed:\n{error.stdout}\n{error.stderr}")
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm install took more than {INSTALL_TIMEOUT_S} s")
    return app


@pytest.fixture
def vite(vite_app: Path, tmp_path: Path) -> Iterator[str]:
    """Vite's dev server on a free port: its URL."""
    port = _free_port()
    command = [str(vite_app / "node_modules" / ".bin" / "vite"), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--strictPort"]
    log_path = tmp_path / "vite.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command,
            cwd=vite_app,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"vite did not start: {log_path.read_text()}"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _color(page: Page, rgb: str) -> None:
    page.wait_for_function(
        "rgb => getComputedStyle(document.querySelector('#title')).color === `rgb(${rgb})`",
        arg=rgb,
        timeout=DEADLINE_MS,
    )


def test_a_vite_app_through_the_proxy_with_hmr(
    context: BrowserContext,
    vite: str,
    vite_app: Path,
    tmp_path: Path,
    serve_site: Callable[..., RunningServer],
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "siteserve.toml").write_text(f'[proxy]\n"/" = "{vite}"\n')
    server = serve_site(site, reload=True, quiet=True)
    page = context.new_page()
    sockets: list[WebSocket] = []
    hmr_frames: list[str] = []

    def opened(socket: WebSocket) -> None:
        sockets.append(socket)
        if "__siteserve" not in socket.url:
            socket.on("framereceived", lambda frame: hmr_frames.append(str(frame)))

    page.on("websocket", opened)
    page.goto(server.url("/"))
    page.wait_for_selector("#title", timeout=DEADLINE_MS)
    assert page.text_content("#title") == "first"
    _color(page, "255, 0, 0")

    # Vite's HMR socket, through siteserve: it said "connected".
    deadline = time.monotonic() + DEADLINE_MS / 1000
    while not any('"connected"' in frame for frame in hmr_frames):
        assert time.monotonic() < deadline, [s.url for s in sockets]
        page.wait_for_timeout(50)
    hmr = [s for s in sockets if "__siteserve" not in s.url]
    assert hmr and all(f"127.0.0.1:{server.port}" in s.url for s in hmr), [s.url for s in hmr]

    # A CSS edit is hot-applied over that socket: no reload.
    page.evaluate("window.__kept = 1")
    seen = loads(page)
    write(vite_app / "src" / "style.css", STYLE.format(rgb="0, 0, 255"))
    _color(page, "0, 0, 255")
    assert page.evaluate("window.__kept") == 1 and not seen

    # A module that does not accept updates: Vite reloads the page, with the new code.
    write(vite_app / "src" / "main.js", MAIN.format(title="second"))
    page.wait_for_function(
        "document.querySelector('#title')?.textContent === 'second'", timeout=DEADLINE_MS
    )
    assert page.evaluate("window.__kept") is None
    _color(page, "0, 0, 255")
