"""The names the server is known by (siteserve.hosts): Host values, --allowed-host, binds."""

from __future__ import annotations

import pytest

from siteserve import net
from siteserve.hosts import AllowedHosts, Authority, allowed_host_pattern, parse_authority
from siteserve.http.authority import valid_authority


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("localhost", Authority("localhost", None)),
        ("LocalHost:8000", Authority("localhost", 8000)),
        ("localhost.:8000", Authority("localhost", 8000)),  # the fully qualified spelling
        ("127.0.0.1:80", Authority("127.0.0.1", 80)),
        ("[::1]:8000", Authority("[::1]", 8000)),
        ("[0:0:0:0:0:0:0:1]", Authority("[::1]", None)),  # one spelling per address
        ("app.localhost:", Authority("app.localhost", None)),  # RFC 3986: the port may be empty
        (" example.com ", Authority("example.com", None)),
        ("", Authority("", None)),
        ("a b", None),
        ("evil\x1b[2J.example", None),
        ("user@evil.example", None),
        ("evil.example/x", None),
        ("localhost:99999", None),
        ("localhost:80:80", None),
        ("[::1", None),
        ("[not-ipv6]", None),
        ("::1", None),  # an IPv6 literal needs its brackets
    ],
)
def test_parse_authority(value: str, parsed: Authority | None) -> None:
    assert parse_authority(value) == parsed


def test_a_port_of_thousands_of_digits_is_malformed_not_an_error() -> None:
    # int() refuses 4300 digits and more: that was a ValueError (a 500) in the host check.
    assert parse_authority("localhost:" + "9" * 5000) is None
    assert parse_authority("localhost:" + "0" * 5000 + "80") == Authority("localhost", 80)


@pytest.mark.parametrize(
    "value",
    [
        "localhost",
        "h%41:80",
        "h%zz",
        "h%4",
        "[::1]:8000",
        "[fe80::1%25eth0]",
        "[v1.x]",
        "a b",
        "user@x",
        "",
        ":80",
    ],
)
def test_the_host_check_reads_the_parsers_grammar(value: str) -> None:
    # One grammar (http.authority): what the parser refuses is malformed here too. An
    # IPvFuture is in the grammar but names no address of ours.
    grammatical = valid_authority(value, empty_host=True) and not value.startswith("[v")
    assert (parse_authority(value) is not None) is grammatical


@pytest.mark.parametrize(
    ("given", "pattern"),
    [
        ("app.test", "app.test"),
        ("App.Example.COM.", "app.example.com"),
        (".example.com", ".example.com"),
        ("web", "web"),
        ("my_service", "my_service"),  # container names may have underscores
        ("10.0.0.5", "10.0.0.5"),
        ("::1", "[::1]"),
        ("[fd00::0001]", "[fd00::1]"),
        ("*", "*"),
    ],
)
def test_allowed_host_patterns(given: str, pattern: str) -> None:
    assert allowed_host_pattern(given) == pattern


@pytest.mark.parametrize(
    "given",
    ["", ".", "http://app.test", "app.test:8080", "app.test/", "-bad.test", "a..b", ".10.0.0.5"],
)
def test_bad_allowed_host_patterns(given: str) -> None:
    with pytest.raises(ValueError):
        allowed_host_pattern(given)


LOOPBACK = AllowedHosts.for_bind("127.0.0.1", ["app.test", ".example.com"])


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("app.localhost", True),
        ("a.b.localhost", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),  # all of 127/8 is loopback
        ("[::1]", True),
        ("app.test", True),
        ("example.com", True),
        ("www.example.com", True),
        # Names an attacker can point at 127.0.0.1:
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io", False),
        ("xlocalhost", False),
        ("notexample.com", False),
        ("www.app.test", False),
        # Not loopback, and we listen on loopback only:
        ("192.168.1.5", False),
        ("[fd00::1]", False),
        ("0.0.0.0", False),
        ("", False),
    ],
)
def test_a_loopback_server_answers_to(host: str, allowed: bool) -> None:
    assert LOOPBACK.allows(host) is allowed


def test_a_lan_server_also_answers_to_ip_literals_and_its_machine_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(net.socket, "gethostname", lambda: "Studio.lan")
    lan = AllowedHosts.for_bind("0.0.0.0")
    for host in ("192.168.1.5", "[fd00::1]", "10.0.0.1", "studio.lan", "studio", "studio.local"):
        assert lan.allows(host), host
    assert not lan.allows("evil.example")
    assert not lan.allows("studio.evil.example")
    # The same for a LAN address or "::"; a name given to --host is one of ours.
    assert AllowedHosts.for_bind("192.168.1.5").allows("10.1.1.1")
    assert AllowedHosts.for_bind("::").allows("studio")
    assert AllowedHosts.for_bind("mybox.lan").allows("mybox.lan")


def test_loopback_binds_do_not_ask_for_machine_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net.socket, "gethostname", lambda: "studio")
    for bind in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        server = AllowedHosts.for_bind(bind)
        assert not server.lan, bind
        assert not server.allows("studio"), bind


def test_names_given_with_allowed_host_are_through_a_proxy() -> None:
    assert LOOPBACK.through_proxy("app.test")
    assert LOOPBACK.through_proxy("www.example.com")
    assert not LOOPBACK.through_proxy("localhost")
    assert not LOOPBACK.through_proxy("127.0.0.1")


def test_a_star_allows_every_name() -> None:
    anything = AllowedHosts.for_bind("127.0.0.1", ["*"])
    assert anything.any
    assert anything.allows("evil.example") and anything.through_proxy("evil.example")
