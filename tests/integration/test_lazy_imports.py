"""What a plain ``python -m siteserve DIR`` has loaded by the time it answered its first request.

The server runs in a child interpreter (the test process has everything loaded
already), started as the bench starts it. A thread in that child waits for a
200 on a raw socket (``socket`` is loaded by the server anyway), writes the
names in ``sys.modules`` and the collector's state to a file and stops the
server with SIGTERM.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.processes import START_DEADLINE, free_port

#: Run in the child: the watcher thread, then ``python -m siteserve`` itself.
_CHILD = """
import gc, os, runpy, signal, socket, sys, threading, time

port, out = int(sys.argv[1]), sys.argv[2]

def answered() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"GET /index.html HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n"
                         b"Connection: close\\r\\n\\r\\n")
            return sock.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False

def watch() -> None:
    deadline = time.monotonic() + {deadline}
    while not answered():
        if time.monotonic() > deadline:
            os._exit(3)
        time.sleep(0.01)
    state = {"modules": sorted(sys.modules), "gc_enabled": gc.isenabled(),
             "frozen": gc.get_freeze_count()}
    with open(out, "w") as file:
        file.write(repr(state))  # not json: the child must not load what the test looks for
    os.kill(os.getpid(), signal.SIGTERM)

threading.Thread(target=watch, daemon=True).start()
sys.argv = ["siteserve", *sys.argv[3:]]
runpy.run_module("siteserve", run_name="__main__", alter_sys=True)
"""

#: Packages a static folder served with --no-reload does not need before its first answer.
NOT_FOR_A_STATIC_SERVE = (
    "typer",  # a plain serve line is read from the declarations (siteserve.launch)
    "rich",  # the banner goes to a pipe: plain text
    "jinja2",
    "markupsafe",
    "yaml",
    "brotli",
    "segno",
    "cryptography",
    "markdown_it",
    "watchdog",
    "wsproto",
)

#: Standard modules the same serve leaves alone until a feature asks for them: the TOML
#: parser (a siteserve.toml), email and calendar (HTTP dates are written and parsed
#: here), secrets (share links, multipart ranges), listings' json, zips' shutil and
#: importlib.resources (our own pages: a listing, an error page).
STDLIB_NOT_FOR_A_STATIC_SERVE = (
    "tomllib",
    "email",
    "calendar",
    "datetime",
    "secrets",
    "hmac",
    "json",
    "shutil",
    "tempfile",
    "bz2",
    "lzma",
    "importlib.resources",
)

#: Our own modules for features the same serve does not use.
OURS_NOT_FOR_A_STATIC_SERVE = (
    "siteserve.rules.model",  # no rule file, no [[redirects]]
    "siteserve.rules.native",
    "siteserve.rules.headers_file",
    "siteserve.rules.redirects_file",
    "siteserve.rules.vercel",
    "siteserve.share.auth",  # no password, no share link
    "siteserve.share.links",
    "siteserve.share.archive",  # no ?download yet
    "siteserve.site.listing",  # no folder listed yet
    "siteserve.site.forms",
)


def _serve_once(tmp_path: Path, *flags: str) -> tuple[set[str], str]:
    """The modules loaded at the first answer, and what the server printed on stdout."""
    state, printed = _first_answer(tmp_path, *flags)
    modules = state["modules"]
    assert isinstance(modules, list)
    return set(modules), printed


def _first_answer(tmp_path: Path, *flags: str) -> tuple[dict[str, object], str]:
    """What the child saw at the first answer (modules, the collector), and its stdout."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>hi</h1>")
    listed = tmp_path / "modules.txt"
    port = free_port()
    argv = [str(site), "--port", str(port), "--strict-port", *flags]
    script = _CHILD.replace("{deadline}", str(START_DEADLINE))
    done = subprocess.run(
        [sys.executable, "-c", script, str(port), str(listed), *argv],
        capture_output=True,
        text=True,
        timeout=START_DEADLINE + 30,
    )
    assert done.returncode == 0, done.stderr
    state: dict[str, object] = ast.literal_eval(listed.read_text())
    return state, done.stdout


def _top_level(modules: set[str]) -> set[str]:
    return {name.partition(".")[0] for name in modules}


def test_a_static_serve_to_a_pipe_answers_without_rich_or_any_feature(tmp_path: Path) -> None:
    modules, printed = _serve_once(tmp_path, "--quiet", "--no-reload")
    assert _top_level(modules) & set(NOT_FOR_A_STATIC_SERVE) == set()
    assert "siteserve.reload" not in modules
    lines = printed.splitlines()
    assert lines[0].startswith("siteserve ")
    assert lines[1].startswith("  Folder   ") and lines[1].endswith("site")
    assert lines[2].startswith("  Local    http://127.0.0.1:")
    assert lines[-1] == "  Press Ctrl-C to stop."


def test_a_static_serve_leaves_the_standard_modules_of_other_features_alone(
    tmp_path: Path,
) -> None:
    modules, _ = _serve_once(tmp_path, "--quiet", "--no-reload")
    assert {name for name in STDLIB_NOT_FOR_A_STATIC_SERVE if name in modules} == set()
    assert {name for name in OURS_NOT_FOR_A_STATIC_SERVE if name in modules} == set()


def test_the_collector_is_on_while_serving_and_start_up_is_frozen(tmp_path: Path) -> None:
    # Start-up pauses automatic collections (siteserve.launch); serving must not.
    state, _ = _first_answer(tmp_path, "--quiet", "--no-reload")
    assert state["gc_enabled"] is True
    frozen = state["frozen"]
    assert isinstance(frozen, int)
    assert frozen > 10_000  # the modules and the app, out of later full collections


_BANNER = """
import io, json, sys
from pathlib import Path
from siteserve.console import Console
class Address:
    host, port, requested_port, scheme = "0.0.0.0", 8001, 8000, "http"
out = io.StringIO()
Console(out, io.StringIO()).banner(Path("/srv/site"), Address(), lan=["192.168.1.4"])
print(json.dumps({"rich": "rich" in sys.modules, "text": out.getvalue()}))
"""


def _banner(**env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _BANNER],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={**os.environ, **env},
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_the_plain_banner_is_the_text_rich_prints_on_the_same_file() -> None:
    plain = _banner()
    # TTY_COMPATIBLE=0 sends the banner through rich, which prints a plain file's bare text.
    through_rich = _banner(TTY_COMPATIBLE="0")
    assert (plain["rich"], through_rich["rich"]) == (False, True)
    assert plain["text"] == through_rich["text"]
    text = plain["text"]
    assert isinstance(text, str)
    assert "  Network  http://192.168.1.4:8001/\n" in text
    assert "  port 8000 was taken, using 8001\n" in text
    assert "\x1b" not in text
