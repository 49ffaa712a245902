"""What the terminal shows: the start-up banner, the request log, start-up errors.

The LAN addresses the banner lists come from ``siteserve.net``.

The banner is printed once with rich on a terminal; on a plain file (a pipe, a
log) rich would print its bare text, so that text is written without loading
rich (about a tenth of a static serve's start-up). The request log is on the
per-request path, so it is built from plain strings and written straight to
the console's file: the colour codes for each status class are rendered by rich
once, at start-up, and flushing is coalesced to once per event-loop iteration.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO

from siteserve import __version__, sizes
from siteserve.net import ANY_HOSTS, lan_addresses

if TYPE_CHECKING:
    from rich.console import Console as RichConsole
    from rich.text import Text

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


#: A banner segment: its text and the rich style it has on a terminal.
Segment = tuple[str, str]
#: The environment that makes rich treat a plain file as a terminal (rich's Console.is_terminal).
_TERMINAL_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE")


def plain_file(file: TextIO | None, color: bool | None) -> TextIO | None:
    """The file rich would write bare text to, or None where rich must decide.

    ``color`` False is plain; None is plain only where rich's own test says so
    for sure: a file that is no TTY, with no environment that forces a terminal,
    outside IPython and IDLE. Everything else goes through rich, as before.
    """
    if color is True:
        return None
    out = sys.stdout if file is None else file
    if out is None:
        return None
    if color is False:
        return out
    if any(name in os.environ for name in _TERMINAL_ENV) or hasattr(builtins, "get_ipython"):
        return None
    if getattr(sys.stdin, "__module__", "").startswith("idlelib"):
        return None
    isatty = getattr(out, "isatty", None)
    try:
        return out if isatty is not None and not isatty() else None
    except ValueError:  # a closed file: let rich say what it says
        return None


def _bare(line: str) -> bool:
    """Whether rich prints ``line`` as it is: no tab to expand, no control code to drop."""
    return line.isprintable()


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
        self._file = file
        self._error_file = error_file
        self._color = color
        self._rich: RichConsole | None = None
        self._errors: RichConsole | None = None
        self._plain = plain_file(file, color)
        self._out = self._plain if self._plain is not None else self.rich.file
        self._styles = {cls: self._codes(style) for cls, style in _STATUS_STYLES.items()}
        self._dim = self._codes("dim")
        self._second = -1
        self._clock = ""
        self._flush_pending = False
        self._broken = False

    @property
    def rich(self) -> RichConsole:
        """The rich console on the same file, made (and rich loaded) at first use."""
        if self._rich is None:
            from rich.console import Console as RichConsole

            class QuietOnBrokenPipe(RichConsole):
                """rich exits the process (SystemExit 1) when stdout's pipe closes; a server
                must not."""

                def on_broken_pipe(self) -> None:
                    raise BrokenPipeError(32, "stdout closed")

            color = self._color
            self._rich = QuietOnBrokenPipe(
                file=self._file,
                highlight=False,
                soft_wrap=True,
                force_terminal=color,
                no_color=None if color is None else not color,
            )
        return self._rich

    @property
    def errors(self) -> RichConsole:
        """stderr's rich console, for start-up errors."""
        if self._errors is None:
            from rich.console import Console as RichConsole

            error_file = self._error_file
            self._errors = RichConsole(
                file=error_file, stderr=error_file is None, highlight=False, soft_wrap=True
            )
        return self._errors

    def _codes(self, style: str) -> tuple[str, str]:
        """The escape codes rich would put around text in ``style`` ('' on a plain file)."""
        if self._plain is not None:
            return ("", "")
        from rich.text import Text

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
        lines: list[list[Segment]] = [
            [("siteserve ", "bold"), (__version__, "dim")],
            [("  Folder   ", "dim"), (str(root), "")],
        ]
        url = local_url(address.host, address.port, address.scheme)
        lines.append([("  Local    ", "dim"), (url, "bold cyan")])
        if address.host in ANY_HOSTS:
            if lan is None:
                lan = lan_addresses(ipv6=":" in address.host)
            addresses = list(lan)
            for ip in addresses:
                network = f"{address.scheme}://{url_host(ip)}:{address.port}/"
                lines.append([("  Network  ", "dim"), (network, "cyan")])
            if not addresses:
                lines.append([("  Network  ", "dim"), ("no LAN address found", "")])
        if address.requested_port and address.port != address.requested_port:
            message = f"port {address.requested_port} was taken, using {address.port}"
            lines.append([("  " + message, "yellow")])
        notes = list(notes)
        ending: list[Segment] = [("  Press Ctrl-C to stop.", "dim")]
        plain = self._plain
        texts = ["".join(text for text, _ in line) for line in (*lines, ending)]
        texts[len(lines) : len(lines)] = [note.plain for note in notes]
        if plain is not None and all(map(_bare, texts)):
            plain.write("".join(text + "\n" for text in texts))
        else:
            from rich.text import Text

            out = self.rich
            for line in lines:
                out.print(Text.assemble(*line))
            for note in notes:
                out.print(note)
            out.print(Text.assemble(*ending))
        self._out.flush()

    def error(self, message: str) -> None:
        """A start-up error: exactly one line on stderr, ``siteserve: error: ...``."""
        from rich.text import Text

        line = " ".join(message.split())
        self.errors.print(Text.assemble(("siteserve: error: ", "bold red"), line))

    def say(self, message: str) -> None:
        """A plain line on stdout (``--version``)."""
        from rich.text import Text

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
