"""The exception family of tickvault.

Every error that a read or a write can raise derives from
`CheckpointIOError`, so one ``except`` clause is enough for a caller that only
wants to report failure. Each subclass also derives from the builtin that a
caller would already catch for that kind of trouble: a missing checkpoint is a
`FileNotFoundError`, damaged bytes are a `ValueError`, a full disk is an
`OSError`. Messages name the file, and where it applies the object, so that a
user can tell which part of a vault is damaged without a traceback.
"""

from __future__ import annotations

import errno as _errno
from pathlib import Path

__all__ = [
    "CheckpointCorruptedError",
    "CheckpointIOError",
    "CheckpointNotFoundError",
    "CheckpointSchemaError",
    "CheckpointWriteError",
    "UnsupportedValueError",
    "VaultLockedError",
]


class CheckpointIOError(Exception):
    """Root of every error raised while reading or writing checkpoints.

    Attributes:
        path: The file or folder the error is about, when there is one.
    """

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        return self.message


class CheckpointNotFoundError(CheckpointIOError, FileNotFoundError):
    """A checkpoint, vault or object that was asked for does not exist."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        CheckpointIOError.__init__(self, message, path=path)
        self.errno = _errno.ENOENT
        self.strerror = message
        self.filename = str(path) if path is not None else None


class CheckpointCorruptedError(CheckpointIOError, ValueError):
    """Stored bytes are damaged: a digest mismatch, a truncation, bad encoding.

    Attributes:
        object_id: Hex id of the damaged object, if the damage is in one.
        expected: What the reader expected to find, when that is known.
        found: What it found instead.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        object_id: str | None = None,
        expected: object = None,
        found: object = None,
    ) -> None:
        super().__init__(message, path=path)
        self.object_id = object_id
        self.expected = expected
        self.found = found


class CheckpointSchemaError(CheckpointIOError, ValueError):
    """Data decodes but is not what was asked for.

    Raised for an unsupported format version, a record with missing or
    mistyped fields, a state without a valid tick, or stored data that does
    not fit the type the caller asked for.
    """


class UnsupportedValueError(CheckpointSchemaError, TypeError):
    """A state holds a value of a type that tickvault cannot store."""


class CheckpointWriteError(CheckpointIOError, OSError):
    """The operating system refused a write: a full disk, a permission, ...

    Attributes:
        errno: The errno of the underlying `OSError`, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        path: Path | str | None = None,
        errno: int | None = None,
    ) -> None:
        CheckpointIOError.__init__(self, message, path=path)
        self.errno = errno
        self.strerror = message
        self.filename = str(path) if path is not None else None


class VaultLockedError(CheckpointIOError, BlockingIOError):
    """Another process holds the vault's writer lock."""

    def __init__(self, message: str, *, path: Path | str | None = None) -> None:
        CheckpointIOError.__init__(self, message, path=path)
        self.errno = _errno.EWOULDBLOCK
        self.strerror = message
        self.filename = str(path) if path is not None else None
