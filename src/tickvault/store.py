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

import contextlib
import logging
import os
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ._fsutil import TEMP_SUFFIX, fsync_dir, write_all, write_error
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
        self._root = os.fspath(root)
        self._pool: ThreadPoolExecutor | None = None
        self._known_dirs: set[str] = set()

    def _path(self, oid: ObjectId) -> str:
        # Plain strings: pathlib's parsing costs more than the syscalls here.
        text = oid.hex()
        return f"{self._root}/{text[:2]}/{text[2:]}"

    def location(self, oid: ObjectId) -> str:
        return self._path(oid)

    def contains(self, oid: ObjectId) -> bool:
        return os.path.isfile(self._path(oid))

    def size(self, oid: ObjectId) -> int:
        try:
            return os.stat(self._path(oid)).st_size
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
        pending: list[tuple[str, str, int | None]] = []
        target = self._root
        new_dir = False
        try:
            for oid, blob in blobs.items():
                target = self._path(oid)
                new_dir |= self._ensure_dir(target[: -2 * DIGEST_SIZE + 1])
                tmp = f"{target}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
                pending.append((tmp, target, fd))
                write_all(fd, blob)
            if self.fsync:
                self._run_all(os.fsync, [fd for _, _, fd in pending if fd is not None])
            for index, (tmp, target, open_fd) in enumerate(pending):
                pending[index] = (tmp, target, None)
                if open_fd is not None:
                    os.close(open_fd)
            for tmp, target, _ in pending:
                os.replace(tmp, target)
            if self.fsync:
                dirs = {target[: -2 * DIGEST_SIZE + 1] for _, target, _ in pending}
                self._run_all(fsync_dir, [*dirs, *([self._root] if new_dir else [])])
        except OSError as exc:
            self._discard(pending)
            raise write_error(exc, Path(target), "write object file") from exc
        log.debug("stored %d blobs", len(blobs))

    def _ensure_dir(self, folder: str) -> bool:
        if folder in self._known_dirs:
            return False
        created = False
        try:
            os.mkdir(folder)
            created = True
        except FileExistsError:
            pass
        self._known_dirs.add(folder)
        return created

    def _run_all(self, func: Callable[[Any], None], items: list[Any]) -> None:
        if len(items) < 2:
            for item in items:
                func(item)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=_FSYNC_THREADS, thread_name_prefix="tickvault-fsync"
            )
        for _ in self._pool.map(func, items):
            pass

    @staticmethod
    def _discard(pending: list[tuple[str, str, int | None]]) -> None:
        for tmp, _, fd in pending:
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            except OSError:
                log.warning("could not remove temporary file %s", tmp)

    def delete(self, oid: ObjectId) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(oid))

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
