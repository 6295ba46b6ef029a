"""Object stores: where blobs live, keyed by object id.

The rest of tickvault sees blobs only through `ObjectStore`, a small
interface of whole-blob operations, so that a backend for object storage can
be added without touching the tree, the manifests or the vault.
`LocalObjectStore` keeps each blob in its own file,
``objects/<first 2 hex>/<other 62 hex>``, as git does with loose objects.

`ObjectStore.put_many` takes every new blob of a checkpoint at once. The
local store writes them all to temporary files, fsyncs them as one batch on a
few threads (fsync releases the GIL), and only then renames them into place
and fsyncs their folders. A blob therefore appears under its name only once
its bytes are durable: after a crash, a name that exists always holds its
whole content, which matters because a writer that finds a name skips
writing that object again.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ._fsutil import TEMP_SUFFIX, fsync_dir, temp_name, write_all, write_error
from .errors import CheckpointIOError, CheckpointNotFoundError
from .ids import DIGEST_SIZE, ObjectId, is_hex_prefix, to_hex

__all__ = ["LocalObjectStore", "ObjectStore"]

log = logging.getLogger(__name__)

_FSYNC_THREADS = 4


class ObjectStore(ABC):
    """The operations tickvault needs from a place that keeps blobs."""

    @abstractmethod
    def contains(self, oid: ObjectId) -> bool:
        """Tell whether a blob is stored under ``oid``."""

    @abstractmethod
    def get(self, oid: ObjectId) -> bytes:
        """Return the blob stored under ``oid``.

        Raises:
            CheckpointNotFoundError: No blob is stored under ``oid``.
            CheckpointIOError: The blob could not be read.
        """

    @abstractmethod
    def put_many(self, blobs: Mapping[ObjectId, bytes]) -> None:
        """Store several blobs; when this returns they are all durable.

        Each blob is stored whole or not at all. Storing a blob under an id
        that is already present is harmless.

        Raises:
            CheckpointWriteError: A blob could not be written. Blobs that
                were already present are untouched.
        """

    @abstractmethod
    def delete(self, oid: ObjectId) -> None:
        """Remove the blob stored under ``oid``, if there is one."""

    @abstractmethod
    def iter_ids(self) -> Iterator[ObjectId]:
        """Yield the id of every stored blob, in no particular order."""

    @abstractmethod
    def location(self, oid: ObjectId) -> str:
        """Name where the blob for ``oid`` lives, for messages."""

    @abstractmethod
    def size(self, oid: ObjectId) -> int:
        """Return the stored size in bytes of the blob for ``oid``."""

    def close(self) -> None:  # noqa: B027 - optional for backends
        """Release resources the store holds."""


class LocalObjectStore(ObjectStore):
    """Blobs as files in a local folder.

    Args:
        root: The ``objects`` folder.
        fsync: Make every write durable before `put_many` returns. Turning
            it off trades crash safety for speed, for tests and benchmarks.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = root
        self.fsync = fsync
        self._pool: ThreadPoolExecutor | None = None
        self._known_dirs: set[str] = set()

    def _path(self, oid: ObjectId) -> Path:
        text = to_hex(oid)
        return self.root / text[:2] / text[2:]

    def location(self, oid: ObjectId) -> str:
        return str(self._path(oid))

    def contains(self, oid: ObjectId) -> bool:
        return self._path(oid).is_file()

    def size(self, oid: ObjectId) -> int:
        try:
            return self._path(oid).stat().st_size
        except FileNotFoundError:
            return 0

    def get(self, oid: ObjectId) -> bytes:
        path = self._path(oid)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except FileNotFoundError:
            raise CheckpointNotFoundError(
                f"object {to_hex(oid)} is missing: no file {path}", path=path
            ) from None
        except OSError as exc:
            raise CheckpointIOError(
                f"cannot read object file {path}: {exc.strerror}", path=path
            ) from exc

    def put_many(self, blobs: Mapping[ObjectId, bytes]) -> None:
        if not blobs:
            return
        pending: list[tuple[Path, Path, int]] = []
        new_dirs: list[Path] = []
        target = self.root
        try:
            for oid, blob in blobs.items():
                target = self._path(oid)
                if self._ensure_dir(target.parent):
                    new_dirs.append(target.parent)
                tmp = temp_name(target)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                pending.append((tmp, target, fd))
                write_all(fd, blob)
            if self.fsync:
                self._fsync_all([fd for _, _, fd in pending])
            for tmp, target, fd in pending:
                os.close(fd)
            fds_closed = True
            for tmp, target, _ in pending:
                os.replace(tmp, target)
            if self.fsync:
                dirs = {target.parent for _, target, _ in pending}
                self._fsync_dirs([*dirs, *([self.root] if new_dirs else [])])
        except OSError as exc:
            self._discard(pending, closed=locals().get("fds_closed", False))
            raise write_error(exc, target, "write object file") from exc
        log.debug("stored %d blobs, %d bytes", len(blobs), sum(map(len, blobs.values())))

    def _ensure_dir(self, folder: Path) -> bool:
        name = folder.name
        if name in self._known_dirs:
            return False
        created = False
        try:
            folder.mkdir()
            created = True
        except FileExistsError:
            pass
        self._known_dirs.add(name)
        return created

    def _fsync_all(self, fds: list[int]) -> None:
        if len(fds) < 2:
            for fd in fds:
                os.fsync(fd)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=_FSYNC_THREADS, thread_name_prefix="tickvault-fsync"
            )
        for _ in self._pool.map(os.fsync, fds):
            pass

    def _fsync_dirs(self, dirs: list[Path]) -> None:
        if self._pool is None or len(dirs) < 2:
            for folder in dirs:
                fsync_dir(folder)
            return
        for _ in self._pool.map(fsync_dir, dirs):
            pass

    @staticmethod
    def _discard(pending: list[tuple[Path, Path, int]], *, closed: bool) -> None:
        for tmp, _, fd in pending:
            if not closed:
                try:
                    os.close(fd)
                except OSError:
                    pass
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                log.warning("could not remove temporary file %s", tmp)

    def delete(self, oid: ObjectId) -> None:
        self._path(oid).unlink(missing_ok=True)

    def iter_ids(self) -> Iterator[ObjectId]:
        try:
            folders = sorted(os.scandir(self.root), key=lambda e: e.name)
        except FileNotFoundError:
            return
        for folder in folders:
            if len(folder.name) != 2 or not is_hex_prefix(folder.name):
                continue
            for entry in os.scandir(folder.path):
                name = entry.name
                if name.endswith(TEMP_SUFFIX) or len(name) != 2 * DIGEST_SIZE - 2:
                    continue
                if is_hex_prefix(name):
                    yield ObjectId(bytes.fromhex(folder.name + name))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
