"""What the terminal shows: the start-up banner, the request log, start-up errors.

The LAN addresses the banner lists come from ``siteserve.net``.

The banner is printed once with rich. The request log is on the per-request
path, so it is built from plain strings and written straight to the console's
file: the colour codes for each status class are rendered by rich once, at
start-up, and flushing is coalesced to once per event-loop iteration.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, TextIO

from rich.console import Console as RichConsole
from rich.text import Text

from siteserve import __version__, sizes
from siteserve.net import ANY_HOSTS, lan_addresses

_PLACEHOLDER = "SITESERVE"
_STATUS_STYLES = {2: "green", 3: "cyan", 4: "yellow", 5: "red"}


class ServerAddress(Protocol):
    """What the banner reads from the runner's ``ServerInfo``."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def requested_port(self) -> int: ...
    @property
    def scheme(self) -> str: ...


class RequestRecord(Protocol):
    """What the request log reads from the runner's ``AccessRecord``."""

    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def status(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def duration_ms(self) -> float: ...


def url_host(host: str) -> str:
    """``host`` as it appears in a URL: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host else host


def local_url(host: str, port: int, scheme: str = "http") -> str:
    """The URL to open on this machine for a server bound to ``host``."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"{scheme}://{url_host(host)}:{port}/"


def printable(value: str) -> str:
    """Escape control characters so a request cannot drive the terminal (ANSI injection)."""
    if value.isprintable():
        return value
    return value.encode("unicode_escape").decode("ascii")


class Console:
    """The terminal: banner and errors through rich, the request log as plain lines."""

    def __init__(
        self,
        file: TextIO | None = None,
        error_file: TextIO | None = None,
        *,
        color: bool | None = None,
    ) -> None:
        # color None: rich decides (a TTY gets colour, a pipe plain text, NO_COLOR honoured).
        self.rich = _QuietOnBrokenPipe(
            file=file,
            highlight=False,
            soft_wrap=True,
            force_terminal=color,
            no_color=None if color is None else not color,
        )
        self.errors = RichConsole(
            file=error_file, stderr=error_file is None, highlight=False, soft_wrap=True
        )
        self._out = self.rich.file
        self._styles = {cls: self._codes(style) for cls, style in _STATUS_STYLES.items()}
        self._dim = self._codes("dim")
        self._second = -1
        self._clock = ""
        self._flush_pending = False
        self._broken = False

    def _codes(self, style: str) -> tuple[str, str]:
        """The escape codes rich would put around text in ``style`` ('' on a plain file)."""
        if not self.rich.is_terminal or self.rich.legacy_windows:
            return ("", "")
        with self.rich.capture() as capture:
            self.rich.print(Text(_PLACEHOLDER, style=style), end="")
        before, _, after = capture.get().partition(_PLACEHOLDER)
        return (before, after)

    # -- start-up ---------------------------------------------------------------

    def banner(
        self,
        root: Path,
        address: ServerAddress,
        lan: Iterable[str] | None = None,
        notes: Iterable[Text] = (),
    ) -> None:
        """Say where the site is served; ``lan`` overrides the LAN addresses (for tests).

        ``notes`` are further lines (sharing: certificate, warnings, a QR code).
        A closed stdout (``siteserve | head -1``) ends the banner and the log, not the server.
        """
        try:
            self._print_banner(root, address, lan, notes)
        except (OSError, ValueError):
            self._broken = True

    def _print_banner(
        self,
        root: Path,
        address: ServerAddress,
        lan: Iterable[str] | None,
        notes: Iterable[Text],
    ) -> None:
        out = self.rich
        out.print(Text.assemble(("siteserve ", "bold"), (__version__, "dim")))
        out.print(Text.assemble(("  Folder   ", "dim"), str(root)))
        url = local_url(address.host, address.port, address.scheme)
        out.print(Text.assemble(("  Local    ", "dim"), (url, "bold cyan")))
        if address.host in ANY_HOSTS:
            if lan is None:
                lan = lan_addresses(ipv6=":" in address.host)
            addresses = list(lan)
            for ip in addresses:
                network = f"{address.scheme}://{url_host(ip)}:{address.port}/"
                out.print(Text.assemble(("  Network  ", "dim"), (network, "cyan")))
            if not addresses:
                out.print(Text.assemble(("  Network  ", "dim"), "no LAN address found"))
        if address.requested_port and address.port != address.requested_port:
            message = f"port {address.requested_port} was taken, using {address.port}"
            out.print(Text("  " + message, style="yellow"))
        for note in notes:
            out.print(note)
        out.print(Text("  Press Ctrl-C to stop.", style="dim"))
        self._out.flush()

    def error(self, message: str) -> None:
        """A start-up error: exactly one line on stderr, ``siteserve: error: ...``."""
        line = " ".join(message.split())
        self.errors.print(Text.assemble(("siteserve: error: ", "bold red"), line))

    def say(self, message: str) -> None:
        """A plain line on stdout (``--version``)."""
        self.rich.print(Text(message))

    # -- per request ------------------------------------------------------------

    def access(self, record: RequestRecord) -> None:
        """One request log line. Called on the event loop for every request: keep it cheap."""
        if self._broken:
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            before, after = self._dim
            self._clock = before + time.strftime("%H:%M:%S", time.localtime(now)) + after
        status = record.status
        before, after = self._styles.get(status // 100, ("", ""))
        line = (
            f"{self._clock} {printable(record.method)} {printable(record.path)} "
            f"{before}{status}{after} {sizes.human_size(record.size)} {record.duration_ms:.1f} ms\n"
        )
        try:
            self._out.write(line)
        except (OSError, ValueError):
            # stdout went away (a closed pipe): stop logging, keep serving.
            self._broken = True
            return
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush()
            return
        self._flush_pending = True
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        try:
            self._out.flush()
        except (OSError, ValueError):
            self._broken = True


class _QuietOnBrokenPipe(RichConsole):
    """rich exits the process (SystemExit 1) when stdout's pipe closes; a server must not."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError(32, "stdout closed")
