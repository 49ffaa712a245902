"""A small case-insensitive, multi-valued header mapping for requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class Headers:
    """Request headers: names lower-cased, order and repeats kept.

    ``get`` answers the field value as a recipient must read a repeated
    field, the values joined with ", " (RFC 9110 section 5.3); ``getall``
    answers each line on its own.
    """

    __slots__ = ("_items", "_joined", "_repeats")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str]] = []
        self._joined: dict[str, str] = {}
        #: Whether some name came on more than one line (else ``getall`` needs no scan).
        self._repeats = False
        for name, value in items:
            self.add(name, value)

    @classmethod
    def of_lowered(cls, items: list[tuple[str, str]]) -> Headers:
        """Headers from ``items`` whose names are lower-cased already (the parser's).

        When no name repeats (nearly every request)
        the mapping is made in one step; else line by line, as ``add`` joins them.
        """
        headers = cls.__new__(cls)
        joined = dict(items)
        if len(joined) == len(items):
            headers._items = list(items)
            headers._joined = joined
            headers._repeats = False
            return headers
        headers._items = []
        headers._joined = {}
        headers._repeats = False
        for name, value in items:
            headers.add(name, value)
        return headers

    def add(self, name: str, value: str) -> None:
        name = name.lower()
        self._items.append((name, value))
        previous = self._joined.get(name)
        if previous is None:
            self._joined[name] = value
        else:
            self._repeats = True
            # Cookie lines are joined with "; " (RFC 6265 section 5.4), the rest with ", ".
            separator = "; " if name == "cookie" else ", "
            self._joined[name] = previous + separator + value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._joined.get(name.lower(), default)

    def lacks(self, lowered: frozenset[str]) -> bool:
        """Whether none of the names in ``lowered`` (lower-case already) is present.

        One look for a group of fields most requests do not send (the conditional
        ones), instead of one call per field.
        """
        return self._joined.keys().isdisjoint(lowered)

    def getall(self, name: str) -> list[str]:
        name = name.lower()
        if not self._repeats:
            value = self._joined.get(name)
            return [] if value is None else [value]
        return [value for key, value in self._items if key == name]

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._joined

    def __getitem__(self, name: str) -> str:
        return self._joined[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._joined)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"
