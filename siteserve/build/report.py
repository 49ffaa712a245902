"""What a build did, in numbers and in sentences, and the exit status it earns.

Errors (a template that failed, a file that could not be written) make the exit
status 1. Warnings say what a static host cannot do the same way (a page that
reads the query or the session, a route no link reaches) and broken links say
which page links to nothing; both make it 1 with ``--strict``. Notes are
information only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from siteserve.sizes import human_size

EXIT_OK = 0
EXIT_FAILED = 1


@dataclass(frozen=True, slots=True, order=True)
class BrokenLink:
    #: The page the link is on ("" for a URL of ``[build] paths``).
    page: str
    link: str


@dataclass(slots=True)
class BuildReport:
    root: str = ""
    out: str = ""
    pages_rendered: int = 0
    pages_unchanged: int = 0
    files_copied: int = 0
    files_unchanged: int = 0
    #: Bytes of everything in the output that the build wrote or kept.
    total_bytes: int = 0
    removed: int = 0
    seconds: float = 0.0
    processes: int = 1
    errors: list[str] = field(default_factory=list)
    #: (file the warning is about, what it says), sorted when reported.
    warnings: list[tuple[str, str]] = field(default_factory=list)
    broken: list[BrokenLink] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: URLs whose deployed answer differs from the live one (the 404 page's own URL).
    differs: list[str] = field(default_factory=list)

    def warn(self, about: str, message: str) -> None:
        self.warnings.append((about, message))

    def exit_status(self, *, strict: bool) -> int:
        if self.errors:
            return EXIT_FAILED
        if strict and (self.warnings or self.broken):
            return EXIT_FAILED
        return EXIT_OK

    def summary(self) -> list[str]:
        """The lines printed after a build (plain text; the CLI styles the headings)."""
        pages = self.pages_rendered + self.pages_unchanged
        files = self.files_copied + self.files_unchanged
        lines = [
            f"Built {self.root} into {self.out} in {self.seconds:.2f} s"
            f" ({self.processes} process{'es' if self.processes != 1 else ''})",
            f"  pages   {pages} ({self.pages_rendered} rendered, {self.pages_unchanged} unchanged)",
            f"  files   {files} ({self.files_copied} copied, {self.files_unchanged} unchanged)",
            f"  size    {human_size(self.total_bytes)}",
        ]
        if self.removed:
            lines.append(
                f"  removed {self.removed} file{'s' if self.removed != 1 else ''}"
                " of an earlier build"
            )
        for note in sorted(set(self.notes)):
            lines.append(f"  note: {note}")
        if self.warnings:
            lines.append(f"Warnings ({len(self.warnings)}):")
            lines.extend(f"  {about}: {message}" for about, message in sorted(set(self.warnings)))
        if self.broken:
            lines.append(f"Broken links ({len(self.broken)}):")
            for broken in sorted(set(self.broken)):
                where = f"on {broken.page}" if broken.page else "in [build] paths"
                lines.append(f"  {broken.link}  {where}")
        if self.errors:
            lines.append(f"Errors ({len(self.errors)}):")
            lines.extend(f"  {error}" for error in sorted(set(self.errors)))
        return lines
