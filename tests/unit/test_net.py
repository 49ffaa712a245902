"""LAN address and host name discovery: parsers of each source, and the live machine."""

from __future__ import annotations

import ipaddress
import shutil
import socket
import subprocess

import pytest

from siteserve import net as net_module
from siteserve.net import (
    host_names,
    lan_addresses,
    names_for_host,
    parse_if_inet6,
    parse_ifconfig,
    parse_ip_json,
    usable_addresses,
)

IP_JSON = """[
 {"ifindex":1,"ifname":"lo","addr_info":[
   {"family":"inet","local":"127.0.0.1","prefixlen":8},
   {"family":"inet6","local":"::1","prefixlen":128}]},
 {"ifindex":2,"ifname":"wlan0","addr_info":[
   {"family":"inet","local":"192.168.1.20","prefixlen":24},
   {"family":"inet","local":"192.168.1.21","prefixlen":24,"label":"wlan0:1"},
   {"family":"inet6","local":"2001:db8::20","prefixlen":64},
   {"family":"inet6","local":"fe80::1","prefixlen":64}]},
 {"ifindex":3,"ifname":"eth1","addr_info":[]}
]"""

IFCONFIG_MACOS = """\
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
\tinet6 ::1 prefixlen 128
\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1
en0: flags=8863<UP,BROADCAST,SMART,RUNNING,SIMPLEX,MULTICAST> mtu 1500
\tinet6 fe80::1c2d:3e4f:5a6b:7c8d%en0 prefixlen 64 secured scopeid 0x4
\tinet 10.0.0.42 netmask 0xffffff00 broadcast 10.0.0.255
\tinet6 fd12:3456::42 prefixlen 64 autoconf secured
"""

IFCONFIG_NET_TOOLS = """\
eth0      Link encap:Ethernet  HWaddr 02:42:ac:11:00:02
          inet addr:172.17.0.2  Bcast:172.17.255.255  Mask:255.255.0.0
lo        Link encap:Local Loopback
          inet addr:127.0.0.1  Mask:255.0.0.0
"""

IF_INET6 = """\
00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def test_parse_ip_json() -> None:
    assert parse_ip_json(IP_JSON) == ["127.0.0.1", "192.168.1.20", "192.168.1.21"]
    assert parse_ip_json(IP_JSON, ipv6=True) == [
        "127.0.0.1",
        "::1",
        "192.168.1.20",
        "192.168.1.21",
        "2001:db8::20",
        "fe80::1",
    ]
    assert parse_ip_json("") == []
    assert parse_ip_json("not json") == []
    assert parse_ip_json('{"unexpected": true}') == []


def test_parse_ifconfig() -> None:
    assert parse_ifconfig(IFCONFIG_MACOS) == ["127.0.0.1", "10.0.0.42"]
    assert parse_ifconfig(IFCONFIG_MACOS, ipv6=True) == [
        "127.0.0.1",
        "::1",
        "fe80::1",
        "fe80::1c2d:3e4f:5a6b:7c8d",
        "10.0.0.42",
        "fd12:3456::42",
    ]
    assert parse_ifconfig(IFCONFIG_NET_TOOLS) == ["172.17.0.2", "127.0.0.1"]


def test_parse_if_inet6() -> None:
    assert parse_if_inet6(IF_INET6) == ["::1", "fe80::fc:ff:fe00:1", "fd00::2"]


def test_usable_addresses_drops_loopback_link_local_and_duplicates() -> None:
    raw = ["127.0.0.1", "::1", "169.254.3.4", "fe80::1", "0.0.0.0", "224.0.0.1", "garbage"]
    raw += ["192.168.1.20", "10.0.0.5", "192.168.1.20", "fd00::2"]
    assert usable_addresses(raw) == ["192.168.1.20", "10.0.0.5", "fd00::2"]


def test_lan_addresses_are_valid_and_reachable_kinds() -> None:
    found = lan_addresses(ipv6=True)
    for text in found:
        ip = ipaddress.ip_address(text)
        assert not (ip.is_loopback or ip.is_link_local or ip.is_unspecified)
    assert all(":" not in text for text in lan_addresses())


def test_lan_addresses_agree_with_the_ip_command() -> None:
    # Two independent sources must find the same IPv4 addresses (iproute2 is on Linux CI).
    ip_command = shutil.which("ip")
    if ip_command is None:
        assert lan_addresses() == usable_addresses(parse_ifconfig(_run(["ifconfig"])))
    else:
        expected = usable_addresses(parse_ip_json(_run([ip_command, "-j", "addr"])))
        assert set(lan_addresses()) == set(expected)


def test_lan_addresses_send_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("lan_addresses must not touch the network")

    monkeypatch.setattr(socket, "getaddrinfo", forbidden)
    monkeypatch.setattr(socket, "gethostbyname", forbidden)
    monkeypatch.setattr(socket, "gethostbyname_ex", forbidden)
    monkeypatch.setattr(socket.socket, "connect", forbidden)
    monkeypatch.setattr(socket.socket, "sendto", forbidden)
    monkeypatch.setattr(socket.socket, "send", forbidden)
    assert isinstance(lan_addresses(ipv6=True), list)


def test_lan_addresses_fall_back_to_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_module, "_linux_ipv4", list)
    monkeypatch.setattr(net_module, "_linux_ipv6", list)
    outputs = {"ip": "", "ifconfig": IFCONFIG_MACOS}
    monkeypatch.setattr(net_module, "_command_output", lambda argv: outputs[argv[0]])
    assert lan_addresses() == ["10.0.0.42"]
    assert lan_addresses(ipv6=True) == ["10.0.0.42", "fd12:3456::42"]
    outputs["ip"] = IP_JSON
    assert lan_addresses() == ["192.168.1.20", "192.168.1.21"]


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize(
    ("hostname", "names"),
    [
        ("laptop", ["laptop", "laptop.local"]),
        ("Laptop.Home.Arpa.", ["laptop.home.arpa", "laptop", "laptop.local"]),
        ("mac-mini.local", ["mac-mini.local", "mac-mini"]),
        ("", []),
        ("bad_name", []),
        ("-dash", []),
        ("a..b", []),
    ],
)
def test_names_for_host(hostname: str, names: list[str]) -> None:
    assert names_for_host(hostname) == names


def test_host_names_are_the_kernels_and_ask_no_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("host_names must not touch the network")

    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex", "gethostbyaddr", "getfqdn"):
        monkeypatch.setattr(socket, name, forbidden)
    assert host_names() == names_for_host(socket.gethostname())
