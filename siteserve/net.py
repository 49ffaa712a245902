"""LAN addresses and host names of this machine (for the banner, TLS, the host check).

Found by asking the kernel about local interfaces and its own host name:
nothing is sent on the network (no DNS lookup of the host name, no "connect a
UDP socket" trick), so starting a server never waits on a resolver.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import struct
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Hosts that mean "every interface": the banner then lists the LAN addresses.
ANY_HOSTS = frozenset({"0.0.0.0", "::", ""})

_SIOCGIFADDR = 0x8915  # Linux: the IPv4 address of one interface


def lan_addresses(ipv6: bool = False) -> list[str]:
    """Addresses other machines can reach this one on: no loopback, no link-local.

    IPv4 always; IPv6 (global and unique-local) too when ``ipv6`` is true.
    """
    found = _linux_ipv4()
    if ipv6:
        found += _linux_ipv6()
    if not found:
        found = parse_ip_json(_command_output(["ip", "-j", "addr"]), ipv6)
    if not found:
        found = parse_ifconfig(_command_output(["ifconfig"]), ipv6)
    return usable_addresses(found)


def usable_addresses(addresses: Iterable[str]) -> list[str]:
    """Drop what another machine cannot use, and duplicates; keep the order."""
    kept: list[str] = []
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if str(ip) not in kept:
            kept.append(str(ip))
    return kept


def _linux_ipv4() -> list[str]:
    if not sys.platform.startswith("linux"):
        return []
    import fcntl  # not on Windows

    found: list[str] = []
    # An unconnected UDP socket is only a handle for the ioctl: it sends nothing.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as handle:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                reply = fcntl.ioctl(handle.fileno(), _SIOCGIFADDR, request)
            except OSError:
                continue  # the interface has no IPv4 address
            # struct ifreq: 16 bytes of name, then a sockaddr_in whose address is at +4.
            found.append(socket.inet_ntoa(reply[20:24]))
    return found


def _linux_ipv6() -> list[str]:
    try:
        text = Path("/proc/net/if_inet6").read_text()
    except OSError:
        return []
    return parse_if_inet6(text)


def parse_if_inet6(text: str) -> list[str]:
    """Addresses from Linux's ``/proc/net/if_inet6`` (32 hex digits, then index, ...)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if fields and len(fields[0]) == 32:
            found.append(str(ipaddress.IPv6Address(bytes.fromhex(fields[0]))))
    return found


def parse_ip_json(text: str, ipv6: bool = False) -> list[str]:
    """Addresses from ``ip -j addr`` output."""
    import json  # only where /proc does not list the addresses

    families = {"inet", "inet6"} if ipv6 else {"inet"}
    try:
        interfaces: Any = json.loads(text) if text else []
    except ValueError:
        return []
    found = []
    for interface in interfaces if isinstance(interfaces, list) else []:
        for info in interface.get("addr_info", []):
            if info.get("family") in families and isinstance(info.get("local"), str):
                found.append(info["local"])
    return found


_IFCONFIG = re.compile(r"^\s*(inet6?)\s+(?:addr:\s*)?([0-9A-Fa-f.:]+)", re.MULTILINE)


def parse_ifconfig(text: str, ipv6: bool = False) -> list[str]:
    """Addresses from ``ifconfig`` output (BSD and macOS, or Linux net-tools)."""
    return [
        address
        for family, address in _IFCONFIG.findall(text)
        if family == "inet" or (ipv6 and family == "inet6")
    ]


def _command_output(argv: list[str]) -> str:
    import shutil  # with bz2 and lzma: only when a command is run

    if shutil.which(argv[0]) is None:
        return ""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=2, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout if done.returncode == 0 else ""


#: One DNS label (RFC 1123 section 2.1): letters, digits, inner hyphens.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def host_names() -> list[str]:
    """The names other machines may use for this one, lower-case, best first.

    The kernel's host name, its first label when it has dots, and that label
    under ``.local`` (multicast DNS, RFC 6762: how macOS and Avahi publish a
    machine on the LAN). Empty when the host name is not a usable DNS name.
    """
    return names_for_host(socket.gethostname())


def names_for_host(hostname: str) -> list[str]:
    """``host_names`` for a given kernel host name (for tests)."""
    name = hostname.strip().rstrip(".").lower()
    labels = name.split(".")
    if not name or not all(_LABEL.fullmatch(label) for label in labels):
        return []
    found = [name, labels[0], f"{labels[0]}.local"]
    return list(dict.fromkeys(found))
