"""The names this server is known by: the rule of the Host check, in one place.

Every web page its user opens can send requests to a server on 127.0.0.1. A
page whose own host name the attacker points at 127.0.0.1 (DNS rebinding)
even becomes same-origin with the server, and then reads whatever it serves;
its requests carry the attacker's name in ``Host``. So a request is served
only when the name it was sent to is one this server is known by:

- bound to loopback: ``localhost`` and its subdomains (RFC 6761 section 6.3:
  they always mean this machine, and browsers never ask DNS about them) and
  the loopback IP literals, ``127.0.0.1`` and ``[::1]``;
- bound to a LAN address or to every interface: also every IP literal (an
  address cannot be rebound) and this machine's own host names;
- the name given to ``--host``, and the names given with ``--allowed-host``
  (``.example.com`` for that name and all its subdomains; ``*`` for any name).

Ports are not part of the rule: a container's published port or a proxy on
the same machine may reach us on another port than the one we bound.

Names given with ``--allowed-host`` are those a proxy, a tunnel or a container
network puts in front of us: such a front may speak HTTPS while we speak
plain HTTP, which the origin rule (``siteserve.origins``) needs to know.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from siteserve import net
from siteserve.http.authority import split_authority

#: RFC 6761 section 6.3: ``localhost`` and every name under it are this machine.
LOCALHOST = "localhost"
LOCALHOST_SUFFIX = ".localhost"
#: ``--allowed-host *``: any name (the check is off).
ANY_NAME = "*"

#: One DNS label (RFC 1123 section 2.1), and "_", which container names may have.
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


@dataclass(frozen=True, slots=True)
class Authority:
    """A host and an optional port, as in ``Host`` or a URL: the host lower-cased,
    without a trailing dot, an IPv6 literal in brackets in its short form."""

    host: str
    port: int | None


def parse_authority(value: str) -> Authority | None:
    """``Host`` field value (or a URL's authority) -> Authority; None when malformed.

    The grammar is the parser's (``http.authority``); an IP-literal must be an
    IPv6 address (an IPvFuture names no address this server has).
    """
    parts = split_authority(value.strip())
    if parts is None:
        return None
    host, port_text = parts
    port = None
    if port_text:
        # At most 5 digits past leading zeros go to int(), which refuses 4300 and more.
        digits = port_text.lstrip("0") or "0"
        port = int(digits) if len(digits) <= 5 else 65536
        if port > 65535:
            return None
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return None
        return Authority(f"[{address.compressed}]", port)
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]  # "localhost." is the same name, fully qualified
    return Authority(host, port)


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a normalised host names when it is an IP literal, else None."""
    try:
        if host.startswith("["):
            return ipaddress.IPv6Address(host[1:-1])
        return ipaddress.IPv4Address(host)
    except ValueError:
        return None


def allowed_host_pattern(text: str) -> str:
    """An ``--allowed-host`` value, checked and normalised; ValueError says what is wrong.

    A host name (``app.test``), ``.example.com`` (that name and its subdomains),
    an IP address, or ``*``. No scheme, no port: the check is about names.
    """
    value = text.strip().lower()
    if value == ANY_NAME:
        return value
    subdomains = value.startswith(".")
    name = value[1:] if subdomains else value
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    address = _address(name)
    if address is not None:
        if subdomains:
            raise ValueError(f"{text!r}: an IP address has no subdomains")
        return f"[{address.compressed}]" if address.version == 6 else str(address)
    name = name.removesuffix(".")
    if not name or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise ValueError(
            f"{text!r} is not a host name (a name without scheme or port, like app.example.com)"
        )
    return ("." if subdomains else "") + name


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_loopback_bind(bind: str) -> bool:
    """Whether ``--host`` keeps the server on this machine (localhost, 127.0.0.1, ::1)."""
    if bind.lower() == LOCALHOST:
        return True
    address = _address(bind.strip("[]"))
    return address is not None and address.is_loopback


class AllowedHosts:
    """The names a request may be sent to; built once, at start-up."""

    def __init__(
        self, *, lan: bool, names: Iterable[str] = (), allowed: Iterable[str] = ()
    ) -> None:
        """``lan``: bound beyond loopback. ``names``: further names of this machine.
        ``allowed``: ``--allowed-host`` patterns, already normalised."""
        self.lan = lan
        patterns = tuple(allowed)
        self.any = ANY_NAME in patterns
        self._given = frozenset(p for p in patterns if not p.startswith(".") and p != ANY_NAME)
        self._given_suffixes = tuple(p for p in patterns if p.startswith("."))
        self._names = frozenset({LOCALHOST, *names, *self._given})
        self._names |= {suffix[1:] for suffix in self._given_suffixes}

    @classmethod
    def for_bind(cls, bind: str, allowed: Iterable[str] = ()) -> AllowedHosts:
        """The names of a server bound to ``bind`` (``--host``), plus ``allowed``."""
        lan = not is_loopback_bind(bind)
        # The kernel's host name (and its .local form): never a resolver, so no wait on DNS.
        names: list[str] = net.host_names() if lan else []
        if bind not in net.ANY_HOSTS:
            address = _address(bind.strip("[]"))
            if address is None:
                names.append(bind.lower().removesuffix("."))  # --host mybox.lan
        return cls(lan=lan, names=names, allowed=allowed)

    def allows(self, host: str) -> bool:
        """Whether a normalised host (``Authority.host``) is a name of this server."""
        if self.any or host in self._names:
            return True
        if host.endswith(LOCALHOST_SUFFIX) or host.endswith(self._given_suffixes):
            return True
        address = ip_literal(host)
        return address is not None and (self.lan or address.is_loopback)

    def through_proxy(self, host: str) -> bool:
        """Whether ``host`` was given with ``--allowed-host``: a front we cannot see may
        stand between the browser and us (its scheme may not be ours)."""
        return self.any or host in self._given or host.endswith(self._given_suffixes)
