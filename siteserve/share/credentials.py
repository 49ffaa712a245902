"""``--auth`` and ``--auth-file``: who may come in, and what they may do, kept as SHA-256 digests.

A credential is ``user:password`` or ``user:sha256:HEX`` (the hex SHA-256 of
the password, so no plain password has to sit in shell history or a file),
optionally followed by the user's rights, ``:rw`` or ``:ro``. The plain form is
hashed as soon as it is read; nothing keeps the password.

Rights: ``rw`` (the default) may use everything the server's options allow,
uploads and new folders included when ``--upload`` is on; ``ro`` may browse
and download only. The default is ``rw`` so that every ``--auth`` written
before rights existed keeps working as it did (those users could upload).
Share links (``siteserve.share.links``) carry the same two rights.

Only a final ``:ro`` or ``:rw`` is read as rights, so a password may hold
colons (``ann:pa:ss`` is the password ``pa:ss``); a password that itself ends
in ``:ro`` or ``:rw`` is given with its rights after it (``ann:pw:ro:rw``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

#: What a user or a share link may do: ``rw`` read and write, ``ro`` read only.
Rights = Literal["ro", "rw"]
READ_ONLY: Final = "ro"
READ_WRITE: Final = "rw"
RIGHTS: tuple[Rights, ...] = ("ro", "rw")

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_HASHED_PREFIX = "sha256:"


class CredentialError(ValueError):
    """A credential that cannot be used; the message names what is wrong, never the password."""


@dataclass(frozen=True, slots=True)
class Credential:
    user: str
    #: SHA-256 of the password.
    password_digest: bytes
    rights: Rights = READ_WRITE

    @property
    def spec(self) -> str:
        """The normalised ``user:sha256:HEX`` form, with ``:ro`` for a read-only user."""
        suffix = ":ro" if self.rights == READ_ONLY else ""
        return f"{self.user}:{_HASHED_PREFIX}{self.password_digest.hex()}{suffix}"


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def split_rights(text: str) -> tuple[str, Rights]:
    """``secret:ro`` -> (``secret``, ``ro``); without a rights suffix, rights are ``rw``."""
    rest, sep, last = text.rpartition(":")
    if sep and rest and last in RIGHTS:
        return rest, READ_ONLY if last == READ_ONLY else READ_WRITE
    return text, READ_WRITE


def parse_credential(spec: str) -> Credential:
    """``user:password`` or ``user:sha256:HEX``, maybe with ``:ro``/``:rw`` -> Credential.

    Anything else is a CredentialError, whose message never holds the password.
    """
    user, sep, given = spec.partition(":")
    if not sep:
        raise CredentialError("--auth must be user:password or user:sha256:HEX")
    secret, rights = split_rights(given)
    if not user:
        raise CredentialError("--auth needs a user name before the ':'")
    # RFC 7617 section 2: the user-id cannot hold a colon (it is the first colon that splits).
    if not user.isprintable():
        raise CredentialError("--auth user name must not contain control characters")
    if not secret:
        raise CredentialError(f"--auth for user {user!r} has an empty password")
    if secret.startswith(_HASHED_PREFIX):
        hexed = secret[len(_HASHED_PREFIX) :]
        if not _HEX_DIGEST.fullmatch(hexed):
            raise CredentialError(
                f"--auth for user {user!r}: sha256: must be followed by 64 hex digits"
            )
        return Credential(user, bytes.fromhex(hexed), rights)
    if not secret.isprintable():
        raise CredentialError(f"--auth for user {user!r}: password has control characters")
    return Credential(user, digest(secret), rights)


def read_auth_file(path: Path) -> list[Credential]:
    """One credential a line; blank lines and lines starting with ``#`` are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CredentialError(f"cannot read auth file {path}: {error}") from error
    found: list[Credential] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(parse_credential(line))
        except CredentialError as error:
            raise CredentialError(f"{path}, line {number}: {error}") from None
    if not found:
        raise CredentialError(f"auth file {path} holds no user:password line")
    return found


def load_credentials(specs: tuple[str, ...], auth_file: Path | None) -> tuple[Credential, ...]:
    """Every credential from ``--auth`` (repeatable) and the auth file, one per user."""
    found = [parse_credential(spec) for spec in specs]
    if auth_file is not None:
        found += read_auth_file(auth_file)
    users: dict[str, Credential] = {}
    for credential in found:
        if credential.user in users and users[credential.user] != credential:
            raise CredentialError(
                f"user {credential.user!r} is given twice, with two passwords or rights"
            )
        users[credential.user] = credential
    return tuple(users.values())
