"""What the start-up banner says about sharing: the link, a QR code, the certificate, warnings.

The warnings are about who can reach the folder: bound to every interface (or
a LAN address) without a password or a share link, anyone on the network can
read it; with uploads on, anyone can also write to it, and that line is louder.
With a share link the QR code holds the link, token included, and the banner
says until when (local time) it works.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import TYPE_CHECKING

from siteserve import sizes
from siteserve.config import Config
from siteserve.console import ServerAddress, local_url, url_host
from siteserve.net import ANY_HOSTS, lan_addresses

if TYPE_CHECKING:
    from rich.text import Text

    from siteserve.share.links import ShareLink
    from siteserve.share.tls import TlsSetup

LABEL_WIDTH = 9  # "  Network  " in the console's banner: labels are padded to line up


def is_exposed(host: str) -> bool:
    """Whether other machines can connect: every interface, or an address that is not loopback."""
    if host in ANY_HOSTS:
        return True
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return True  # a host name: assume it resolves to something reachable


def share_url(address: ServerAddress, lan: list[str]) -> str | None:
    """The URL another device would open: the first LAN address, or the bound one."""
    if address.host in ANY_HOSTS:
        if not lan:
            return None
        host = lan[0]
    elif is_exposed(address.host):
        host = address.host
    else:
        return None
    return f"{address.scheme}://{url_host(host)}:{address.port}/"


def qr_lines(data: str) -> list[Text]:
    """A QR code in half-block characters, dark modules dark whatever the terminal's colours.

    Two rows of modules share one line (upper and lower half blocks), drawn
    black on white, so a phone reads it on a dark terminal as on a light one.
    """
    import segno  # only when a QR code is asked for
    from rich.text import Text

    code = segno.make(data, error="m", micro=False)
    border = 2
    rows = [list(row) for row in code.matrix_iter(scale=1, border=border)]
    if len(rows) % 2:
        rows.append([0] * len(rows[0]))
    lines = []
    for top, bottom in zip(rows[::2], rows[1::2], strict=True):
        chars = []
        for upper, lower in zip(top, bottom, strict=True):
            chars.append("█" if upper and lower else "▀" if upper else "▄" if lower else " ")
        lines.append(Text("  ") + Text("".join(chars), style="black on white"))
    return lines


def _line(label: str, text: str, style: str = "") -> Text:
    from rich.text import Text  # rich loads only for a banner that has notes

    return Text.assemble(("  " + label.ljust(LABEL_WIDTH), "dim"), (text, style))


def share_notes(
    config: Config,
    address: ServerAddress,
    *,
    tls: TlsSetup | None = None,
    lan: Iterable[str] | None = None,
    link: ShareLink | None = None,
) -> list[Text]:
    """Lines for the banner, after the addresses; ``lan`` overrides discovery (tests)."""
    notes: list[Text] = []
    if lan is None and (config.qr or link is not None):
        lan = lan_addresses(ipv6=":" in address.host) if address.host in ANY_HOSTS else []
    shared = share_url(address, list(lan or ()))
    if tls is not None:
        notes.append(_line("TLS", f"SHA-256 {tls.fingerprint}"))
        if tls.self_signed:
            where = "reused from" if tls.reused else "kept in"
            notes.append(
                _line("", f"self-signed ({where} {tls.cert.parent}): browsers warn once", "dim")
            )
    if config.auth:
        users = len(config.auth)
        read_only = sum(spec.endswith(":ro") for spec in config.auth)
        also = f", {read_only} read-only" if read_only else ""
        notes.append(_line("Access", f"password required ({users} user{'s' * (users != 1)}{also})"))
    link_url = None
    if link is not None:
        link_url = link.url(shared or local_url(address.host, address.port, address.scheme))
        rights = "read-only" if link.rights == "ro" else "read-write"
        ends = link.ends_text()
        until = f"until {ends}" if ends is not None else "until the server stops"
        notes.append(_line("Link", link_url, "bold cyan"))
        notes.append(_line("", f"{rights}, {until}; anyone with it can come in", "dim"))
    if config.upload:
        limit = sizes.human_size(config.max_upload)
        notes.append(_line("Uploads", f"on, up to {limit} per request"))
    exposed = is_exposed(address.host)
    if exposed and not config.auth and link is None:
        from rich.text import Text

        if config.upload:
            notes.append(
                Text(
                    "  !! ANYONE on your network can UPLOAD files here: no password."
                    " Add --auth user:password !!",
                    style="bold white on red",
                )
            )
        else:
            notes.append(
                Text(
                    "  Anyone on your network can read these files: no password"
                    " (add --auth user:password).",
                    style="yellow",
                )
            )
    if config.qr:
        # With a share link the code holds the link: a phone that scans it is let in.
        url = None if shared is None else link_url or shared
        if url is None:
            notes.append(_line("QR", "no LAN address to show (use --host 0.0.0.0 or --share)"))
        else:
            notes.append(_line("QR", url))
            notes.extend(qr_lines(url))
    return notes
