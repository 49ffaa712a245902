"""The README's deploy recipes, run as written: each production command, its siteserve.toml, nginx.

The blocks are found by their ``<!-- tested: ... -->`` marker in README.md
(as .ci/run finds the test command). Each command line runs with only the
folder and the port put in (``/srv/mysite`` and ``8000`` in the README), and
must serve a page and a file; with its workers sharing the README's sessions
file, one visitor's session holds across connections. What the README says
about proxy headers is checked too.
"""

from __future__ import annotations

import os
import re
import shlex
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import (
    ServerProcess,
    executable,
    free_port,
    server_process,
)

README = Path(__file__).resolve().parents[2] / "README.md"
#: What the README writes where a deployment puts its own folder and port.
README_ROOT = "/srv/mysite"
README_PORT = "8000"
NGINX = "/usr/sbin/nginx"
_TLS_CONTEXT = ssl.create_default_context()


def readme_block(marker: str) -> str:
    """The fenced block right after ``<!-- tested: MARKER`` in README.md."""
    text = README.read_text(encoding="utf-8")
    found = re.search(
        r"<!-- tested: " + re.escape(marker) + r"\b[^\n]*-->\n```[a-z]*\n(.*?)\n```", text, re.S
    )
    assert found, f"README.md has no block marked 'tested: {marker}'"
    return found.group(1)


def commands() -> list[str]:
    lines = readme_block("production servers").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def server_name(command: str) -> str:
    """The program a command line runs (after its VAR=value words)."""
    words = [word for word in shlex.split(command) if "=" not in word.split("/")[0]]
    return Path(words[0]).name


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """``VAR=value ... program args`` as the shell runs it: an environment and an argv."""
    words = shlex.split(command)
    env: dict[str, str] = {}
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    return env, [executable(words[0]), *words[1:]]


def localised(command: str, root: Path, port: int) -> str:
    """The command with this test's folder and port where the README has its own."""
    assert README_ROOT in command and README_PORT in command, command
    return command.replace(README_ROOT, str(root)).replace(README_PORT, str(port))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("deploy") / "mysite"
    root.mkdir()
    (root / "siteserve.toml").write_text(readme_block("production siteserve.toml") + "\n")
    (root / "hello.txt").write_text("hello from a file\n")
    (root / "page.html.jinja").write_text(
        "<p>{{ request.scheme }} {{ request.host }} {{ request.client }}</p>"
    )
    (root / "count.html.jinja").write_text(
        "{%- do session.update(n=session.get('n', 0) + 1) -%}{{ session.n }}"
    )
    return root


def check_serves(base_url: str) -> None:
    """One page and one file, as a visitor gets them."""
    with httpx.Client(base_url=base_url, timeout=10.0, verify=_TLS_CONTEXT) as client:
        page = client.get("/page")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text.startswith("<p>http ")
        file = client.get("/hello.txt")
        assert file.status_code == 200
        assert file.text == "hello from a file\n"
        assert file.headers["cache-control"] == "public, max-age=600"  # the README's toml
        assert file.headers["etag"]


def test_the_readme_gives_the_three_servers() -> None:
    assert [server_name(command) for command in commands()] == ["granian", "uvicorn", "gunicorn"]


@pytest.fixture(scope="module", params=commands(), ids=server_name)
def deployed(
    request: pytest.FixtureRequest, site: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    command: str = request.param
    port = free_port()
    env, argv = split_command(localised(command, site, port))
    name = server_name(command)
    log = tmp_path_factory.mktemp(name) / "server.log"
    with server_process(name, argv, port=port, log=log, env=env) as server:
        yield server
    # Stopped by the master's PID: nothing of it answers any more (no worker left behind).
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base_url + "/hello.txt", timeout=2.0)


def test_the_command_serves_a_page_and_a_file(deployed: ServerProcess) -> None:
    check_serves(deployed.base_url)


def test_workers_share_one_visitors_session(deployed: ServerProcess) -> None:
    counts = []
    cookies = httpx.Cookies()
    for _ in range(8):
        # A new connection each time, so the requests spread over the workers.
        with httpx.Client(base_url=deployed.base_url, cookies=cookies, timeout=10.0) as client:
            response = client.get("/count")
            cookies.update(response.cookies)
            counts.append(response.text)
    assert counts == [str(n) for n in range(1, 9)]


def test_forwarded_scheme_is_read_as_the_readme_says(deployed: ServerProcess) -> None:
    # From 127.0.0.1, uvicorn and gunicorn's worker trust X-Forwarded-Proto; granian does not.
    response = httpx.get(
        deployed.base_url + "/page",
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
        timeout=10.0,
    )
    if deployed.name == "granian":
        assert response.text.startswith("<p>http ")
        assert "203.0.113.9" not in response.text
    else:
        assert response.text.startswith("<p>https ")
        assert "203.0.113.9" in response.text


NGINX_MAIN = """\
worker_processes 1;
daemon off;
{user}
pid {scratch}/nginx.pid;
error_log {scratch}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {scratch}/body;
    proxy_temp_path {scratch}/proxy;
    fastcgi_temp_path {scratch}/fastcgi;
    uwsgi_temp_path {scratch}/uwsgi;
    scgi_temp_path {scratch}/scgi;
{site}
}}
"""


def nginx_site(backend_port: int, port: int) -> str:
    """The README's nginx site with this test's ports."""
    site = readme_block("nginx")
    assert "listen 80;" in site and f"127.0.0.1:{README_PORT}" in site
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};")
    return site.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{backend_port}")


def test_nginx_in_front_of_uvicorn(site: Path, tmp_path: Path) -> None:
    assert os.access(NGINX, os.X_OK), "nginx is not installed (apt-get install nginx)"
    uvicorn = next(command for command in commands() if server_name(command) == "uvicorn")
    backend_port, port = free_port(), free_port()
    env, argv = split_command(localised(uvicorn, site, backend_port))
    conf = tmp_path / "nginx.conf"
    # As root, nginx's workers would become "nobody", who cannot use this temporary folder.
    user = "user root root;" if os.geteuid() == 0 else ""
    conf.write_text(
        NGINX_MAIN.format(user=user, scratch=tmp_path, site=nginx_site(backend_port, port))
    )
    check = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    with (
        server_process("uvicorn", argv, port=backend_port, log=tmp_path / "uvicorn.log", env=env),
        server_process(
            "nginx",
            [NGINX, "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")],
            port=port,
            log=tmp_path / "nginx.log",
        ) as nginx,
    ):
        check_serves(nginx.base_url)
        public = {"Host": "example.com"}  # the name in the README's allowed_hosts
        page = httpx.get(nginx.base_url + "/page", headers=public, timeout=10)
        # nginx passes the visitor's Host and address on; uvicorn trusts them from 127.0.0.1.
        assert page.text == "<p>http example.com 127.0.0.1</p>"
        unknown = httpx.get(nginx.base_url + "/page", headers={"Host": "other.test"}, timeout=10)
        assert unknown.status_code == 403
        # A form of the site's own HTTPS pages is the site's own; another site's is not.
        own = httpx.post(
            nginx.base_url + "/count",
            headers={**public, "Origin": "https://example.com"},
            timeout=10,
        )
        assert (own.status_code, own.text) == (200, "1")
        forged = httpx.post(
            nginx.base_url + "/count",
            headers={**public, "Origin": "https://elsewhere.example"},
            timeout=10,
        )
        assert forged.status_code == 403
