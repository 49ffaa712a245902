"""The host check layer without sockets: what it refuses, how it says so, what it logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from siteserve import cli
from siteserve.hosts import AllowedHosts
from siteserve.http.headers import Headers
from siteserve.http.request import Request
from siteserve.http.response import Response
from siteserve.layers import App
from siteserve.server import runner
from siteserve.server.request_body import RequestBody
from siteserve.share import host_check
from siteserve.share.host_check import HostCheck, RefusalLog
from tests.conftest import find_layer


class Inner(App):
    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, request: Request) -> Response:
        self.seen.append(request.target)
        return Response(200, [], b"inner")


def request(target: str = "/", host: str | None = "127.0.0.1:8000", method: str = "GET") -> Request:
    path = target if target.startswith("/") else "/" + target.partition("://")[2].partition("/")[2]
    headers = Headers([("host", host)] if host is not None else [])
    return Request(method, target, path.partition("?")[0], "", headers)


@pytest.fixture
def layer() -> HostCheck:
    return HostCheck(Inner(), AllowedHosts.for_bind("127.0.0.1", ["app.test"]))


def answer(layer: HostCheck, req: Request) -> Response:
    result = layer.handle(req)
    assert isinstance(result, Response)
    return result


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:8000",
        "localhost:8000",
        "[::1]:8000",
        "app.localhost:8000",
        "LOCALHOST",
        "app.test:443",
        None,
    ],
)
def test_names_of_ours_pass(layer: HostCheck, host: str | None) -> None:
    assert answer(layer, request(host=host)).body == b"inner"


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example:8000", "127.0.0.1.nip.io:8000"]
)
def test_other_names_are_refused(layer: HostCheck, host: str) -> None:
    refused = answer(layer, request(host=host))
    assert refused.status == 403
    assert refused.header("content-type") == "text/plain; charset=utf-8"
    assert refused.header("x-content-type-options") == "nosniff"
    assert refused.header("cache-control") == "no-store"
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    assert isinstance(refused.body, bytes)
    assert f"--allowed-host {name}".encode() in refused.body
    assert f'allowed_hosts = ["{name}"]'.encode() in refused.body
    assert not refused.close  # nothing more to read: the connection may stay
    assert isinstance(layer.inner, Inner) and layer.inner.seen == []


@pytest.mark.parametrize("host", ["", "a b", "x@y", "localhost:99999"])
def test_a_malformed_host_is_a_400(layer: HostCheck, host: str) -> None:
    refused = answer(layer, request(host=host))
    assert refused.status == 400
    assert refused.header("x-content-type-options") == "nosniff"


@pytest.mark.parametrize(
    ("target", "status"),
    [
        ("http://evil.example/", 403),
        ("HTTP://evil.example:8000/a.txt?x", 403),
        ("http://localhost.evil.example/", 403),
        ("http://user@localhost/", 400),
        ("http://localhost:8000/", 200),
        ("https://127.0.0.1/a?b", 200),
        ("*", 200),
    ],
)
def test_an_absolute_form_target_names_the_host(layer: HostCheck, target: str, status: int) -> None:
    # RFC 9112 section 3.2.2: the target's authority, not Host, says what is asked for.
    assert answer(layer, request(target, host="localhost:8000")).status == status


def test_health_answers_whatever_the_name(layer: HostCheck) -> None:
    assert answer(layer, request("/__siteserve/health", host="web:8000")).status == 200
    assert answer(layer, request("/__siteserve/health", "web", method="POST")).status == 403


def test_a_refused_upload_closes_instead_of_reading_its_body(layer: HostCheck) -> None:
    upload = request("/inbox/", host="evil.example", method="POST")
    upload.body = RequestBody()  # still coming
    assert answer(layer, upload).close


def test_verdicts_are_remembered_within_a_bound(
    layer: HostCheck, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_check, "VERDICTS", 8)
    for number in range(50):
        answer(layer, request(host=f"n{number}.example"))
    assert len(layer._verdicts) <= 8
    assert answer(layer, request(host="localhost")).status == 200


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_log_line_per_name_then_quiet(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    layer = HostCheck(Inner(), AllowedHosts.for_bind("127.0.0.1"), clock=clock)
    caplog.set_level(logging.WARNING, logger="siteserve.hosts")
    for _ in range(100):
        assert answer(layer, request(host="evil.example:8000")).status == 403
    answer(layer, request(host="other.example"))
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 2
    assert "evil.example" in lines[0] and "--allowed-host evil.example" in lines[0]
    assert "other.example" in lines[1] and "99 more refused requests not shown" in lines[1]
    clock.now += host_check.QUIET_SECONDS
    answer(layer, request(host="evil.example"))
    assert len(caplog.records) == 3


def test_a_flood_of_names_does_not_flood_the_terminal(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    log = RefusalLog(clock, names=16)
    caplog.set_level(logging.WARNING, logger="siteserve.hosts")
    said = [log.refused(f"n{number}.example") for number in range(1000)]
    assert sum(said) == host_check.LINES_PER_MINUTE
    assert len(log._last) <= 16  # bounded memory, whatever the names
    clock.now += host_check.QUIET_SECONDS
    assert log.refused("late.example")
    assert f"{1000 - host_check.LINES_PER_MINUTE} more" in caplog.records[-1].getMessage()


def test_a_hostile_name_is_not_repeated_as_it_came(layer: HostCheck) -> None:
    refused = answer(layer, request(host="evil\x1b[2J.example"))
    assert refused.status == 400  # not a reg-name (RFC 3986 section 3.2.2)
    assert isinstance(refused.body, bytes) and b"\x1b" not in refused.body
    assert b"\\x1b" in refused.body


def test_allowed_host_on_the_command_line_reaches_the_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[App] = []
    monkeypatch.setattr(runner, "run", lambda config, app, **kw: started.append(app))
    argv = [str(tmp_path), "-q", "--allowed-host", "tunnel.test", "--allowed-host", ".corp.test"]
    assert cli.main(argv) == 0
    check = find_layer(started[0], HostCheck)
    assert check.hosts.allows("tunnel.test") and check.hosts.allows("a.corp.test")
    assert not check.hosts.allows("evil.example")
    assert cli.main([str(tmp_path), "-q", "--allowed-host", "http://x:80"]) == 2
