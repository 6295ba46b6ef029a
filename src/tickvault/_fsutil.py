"""File-system primitives: atomic publication, folder fsync, the writer lock.

A file is published by writing a temporary file in the same folder, fsyncing
it, renaming it over the final name and fsyncing the folder. Readers see
either no file or the whole file, and after a crash the file is either absent
or complete. Temporary names start with a dot and end in ``.tmp`` so that
listings and collectors can recognise and skip them.
"""

from __future__ import annotations

import errno
import os
import secrets
from pathlib import Path
from types import TracebackType

from .errors import CheckpointIOError, CheckpointWriteError, VaultLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "TEMP_SUFFIX",
    "WriterLock",
    "atomic_write",
    "fsync_dir",
    "temp_name",
    "write_all",
    "write_error",
]

TEMP_SUFFIX = ".tmp"


def temp_name(final: Path) -> Path:
    """Return a fresh temporary path beside ``final``."""
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


def write_error(exc: OSError, path: Path, doing: str) -> CheckpointWriteError:
    """Wrap an OS error met while writing into a message that names the file."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "the disk is full"
    elif exc.errno == errno.EFBIG:
        reason = "the file is larger than the system allows"
    return CheckpointWriteError(
        f"cannot {doing} {path}: {reason}", path=path, errno=exc.errno
    )


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make the entries of folder ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, fsync: bool) -> None:
    """Publish ``data`` at ``path`` whole or not at all.

    Raises:
        CheckpointWriteError: The write failed; no temporary file is left.
    """
    tmp = temp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            write_all(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        if fsync:
            fsync_dir(path.parent)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(exc, path, "write") from exc


class WriterLock:
    """An exclusive, non-blocking lock on a vault, held by one process.

    The lock is an ``flock`` on a file in the vault, so it is released by
    the kernel when the holding process dies, however it dies.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or fail at once if another process holds it.

        Raises:
            VaultLockedError: Another process is writing this vault.
        """
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise CheckpointIOError(
                f"cannot open the lock file {self.path}: {exc.strerror}",
                path=self.path,
            ) from exc
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                raise VaultLockedError(
                    f"another process{holder} is writing the vault at "
                    f"{self.path.parent}; only one writer may hold it",
                    path=self.path,
                ) from exc
        os.ftruncate(fd, 0)
        write_all(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up; a no-op if it is not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""
