"""How each compared server is started on a folder and a port, pinned to the server CPU."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.proc import LOCALHOST, SERVER_CPU, Child, Children, free_port, pinned, wait_ready

#: The repository root: the working folder for ``python -m bench.*`` children.
REPO = Path(__file__).resolve().parent.parent
#: Where ``--install-node`` puts node's http-server (outside the repository).
NODE_PREFIX = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "siteserve-bench"


@dataclass(frozen=True)
class ServerSpec:
    name: str
    #: (site folder, port, scratch folder) -> argv, before pinning.
    argv: Callable[[Path, int, Path], list[str]]
    available: Callable[[], str | None] = lambda: None  # a reason it cannot run, or None
    env: dict[str, str] | None = None

    def command(self, root: Path, port: int, scratch: Path) -> list[str]:
        return pinned(self.argv(root, port, scratch), SERVER_CPU)


def _siteserve(root: Path, port: int, scratch: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "siteserve",
        str(root),
        "--port",
        str(port),
        "--strict-port",
        "--quiet",
        "--no-reload",
    ]


def _http_server(root: Path, port: int, scratch: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "http.server",
        str(port),
        "--bind",
        LOCALHOST,
        "--directory",
        str(root),
    ]


NGINX_CONF = """\
worker_processes 1;
daemon off;
{user}
pid {scratch}/nginx.pid;
error_log {scratch}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    types {{
        text/plain txt;
        text/html html;
        text/css css;
        text/javascript js;
        application/octet-stream bin;
    }}
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    tcp_nopush on;
    # nginx closes a keep-alive connection after 1000 requests by default;
    # the other servers never do, so nginx gets the same chance.
    keepalive_requests 1000000;
    gzip on;
    gzip_types application/javascript text/javascript;
    client_body_temp_path {scratch}/client_body;
    proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fastcgi;
    uwsgi_temp_path {scratch}/uwsgi;
    scgi_temp_path {scratch}/scgi;
    server {{
        listen {host}:{port};
        root {root};
    }}
}}
"""


def _nginx(root: Path, port: int, scratch: Path) -> list[str]:
    conf = scratch / "nginx.conf"
    # Started as root, nginx's worker would switch to "nobody", which cannot read
    # the private temp folder; keep the worker as the user running the bench.
    user = "user root root;" if os.geteuid() == 0 else ""
    conf.write_text(
        NGINX_CONF.format(user=user, scratch=scratch, host=LOCALHOST, port=port, root=root)
    )
    return ["nginx", "-p", str(scratch), "-c", str(conf), "-e", str(scratch / "nginx-error.log")]


def _nginx_available() -> str | None:
    return None if shutil.which("nginx") else "nginx is not installed"


def node_http_server() -> str | None:
    found = shutil.which("http-server")
    if found:
        return found
    local = NODE_PREFIX / "node_modules" / ".bin" / "http-server"
    return str(local) if local.exists() else None


def install_node_http_server() -> None:
    """``npm install http-server`` into the cache folder (the registry, once)."""
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_PREFIX), "http-server"],
        check=True,
        timeout=300,
    )


def _node(root: Path, port: int, scratch: Path) -> list[str]:
    binary = node_http_server()
    assert binary is not None
    # -s: silent (no request log, like the others); -c-1: no caching headers.
    return [binary, str(root), "-p", str(port), "-a", LOCALHOST, "-s", "-c-1"]


def _node_available() -> str | None:
    if not shutil.which("node"):
        return "node is not installed"
    if node_http_server() is None:
        return "node's http-server is not installed (run with --install-node)"
    return None


def uvicorn_argv(app: str, port: int) -> list[str]:
    """One uvicorn process serving ``app`` (``module:attribute``) on ``port``, quietly."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        LOCALHOST,
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]


def _uvicorn_starlette(root: Path, port: int, scratch: Path) -> list[str]:
    # bench/starlette_app.py reads its folder from BENCH_SITE at import; env(1) sets it
    # for this child alone (ServerSpec.env is fixed before the folder is known).
    return ["env", f"BENCH_SITE={root}", *uvicorn_argv("bench.starlette_app:app", port)]


def _flask_files(root: Path, port: int, scratch: Path) -> list[str]:
    return [sys.executable, "-m", "bench.flask_app", str(root), str(port), "--files"]


def needs_modules(*modules: str) -> Callable[[], str | None]:
    """``available`` for a server run from Python packages: the first one missing, if any."""

    def available() -> str | None:
        for module in modules:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not installed (pip install -e '.[test,bench]')"
        return None

    return available


def _floor(root: Path, port: int, scratch: Path) -> list[str]:
    return [sys.executable, "-m", "bench.floor_server", str(root), str(port)]


SITESERVE = ServerSpec("siteserve", _siteserve)
STATIC_SERVERS: dict[str, ServerSpec] = {
    "siteserve": SITESERVE,
    "nginx": ServerSpec("nginx", _nginx, _nginx_available),
    "http.server": ServerSpec("http.server", _http_server),
    "node-http-server": ServerSpec("node-http-server", _node, _node_available),
    # What a Python developer would write: starlette's StaticFiles under uvicorn, one worker.
    "uvicorn-starlette": ServerSpec(
        "uvicorn-starlette", _uvicorn_starlette, needs_modules("uvicorn", "starlette")
    ),
    # Flask's development server sending the files (send_from_directory): here for its
    # launch time and memory next to siteserve's, measured the same way (#14's footprint).
    "flask": ServerSpec("flask", _flask_files, needs_modules("flask")),
    # Not run by default: a fixed answer per file on uvloop, the floor for Python servers.
    "uvloop-floor": ServerSpec("uvloop-floor", _floor),
}


def compile_siteserve() -> None:
    """Write siteserve's bytecode before any launch is timed.

    An installed wheel has its ``.pyc`` files (pip compiles them); a source checkout
    run with ``PYTHONDONTWRITEBYTECODE=1`` would compile every module again at each
    launch, and the launch figure would be the compiler's, not the server's.
    Flask, uvicorn and the standard library come compiled already.
    """
    import compileall

    compileall.compile_dir(REPO / "siteserve", quiet=1)


def start_server(
    children: Children, spec: ServerSpec, root: Path, ready_path: str, scratch: Path
) -> tuple[Child, int, float]:
    """Launch on a free port and wait for a 200; (child, port, launch -> first 200 in ms)."""
    port = free_port()
    folder = scratch / spec.name
    folder.mkdir(exist_ok=True)
    child = children.launch(
        spec.name, spec.command(root, port, folder), folder / "server.log", cwd=REPO, env=spec.env
    )
    try:
        seconds = wait_ready(child, port, ready_path)
    except BaseException:
        children.stop(child)
        raise
    return child, port, seconds * 1000
