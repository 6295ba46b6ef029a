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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._fsutil import TEMP_SUFFIX, fsync_dir, write_all, write_error
from .errors import CheckpointIOError, CheckpointNotFoundError
from .ids import DIGEST_SIZE, ObjectId, is_hex_prefix, to_hex

__all__ = ["LocalObjectStore", "ObjectStore", "Staged"]

log = logging.getLogger(__name__)

_FSYNC_THREADS = 4


@dataclass(frozen=True, slots=True)
class Staged:
    """A blob handed to a store but not yet published; ``handle`` is the store's."""

    oid: ObjectId
    size: int
    handle: Any


class ObjectStore(ABC):
    """The operations tickvault needs from a place that keeps blobs.

    Besides the whole-blob operations, a store may let a writer start on a
    blob early with `stage` and make a batch of them visible and durable at
    once with `publish`. The defaults hold staged blobs in memory and
    publish them through `put_many`.
    """

    def stage(self, oid: ObjectId, blob: bytes) -> Staged:
        """Start storing ``blob``; it is not visible until `publish`."""
        return Staged(oid, len(blob), blob)

    def publish(self, staged: list[Staged]) -> None:
        """Make staged blobs durable and visible, all of them or, on error, none new.

        Raises:
            CheckpointWriteError: A blob could not be written; every staged
                blob is discarded.
        """
        self.put_many({item.oid: item.handle for item in staged})

    def discard(self, staged: list[Staged]) -> None:  # noqa: B027 - optional
        """Drop staged blobs that will not be published."""

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
        self._new_dirs = False

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
        staged: list[Staged] = []
        try:
            for oid, blob in blobs.items():
                staged.append(self.stage(oid, blob))
        except CheckpointIOError:
            self.discard(staged)
            raise
        self.publish(staged)

    def stage(self, oid: ObjectId, blob: bytes) -> Staged:
        # The temporary file stays open so that publish can fsync it.
        target = self._path(oid)
        tmp = f"{target}.{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            self._new_dirs |= self._ensure_dir(target[: -2 * DIGEST_SIZE + 1])
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except OSError as exc:
            raise write_error(exc, Path(target), "write object file") from exc
        try:
            write_all(fd, blob)
        except OSError as exc:
            self._discard_one(tmp, fd)
            raise write_error(exc, Path(target), "write object file") from exc
        return Staged(oid, len(blob), (tmp, target, fd))

    def publish(self, staged: list[Staged]) -> None:
        if not staged:
            return
        handles: list[tuple[str, str, int]] = [item.handle for item in staged]
        try:
            if self.fsync:
                self._run_all(os.fsync, [fd for _, _, fd in handles])
        except OSError as exc:
            self.discard(staged)
            raise write_error(exc, Path(handles[0][1]), "write object file") from exc
        for _, _, fd in handles:
            with contextlib.suppress(OSError):
                os.close(fd)
        done = 0
        try:
            for tmp, target, _ in handles:
                os.replace(tmp, target)
                done += 1
            if self.fsync:
                dirs = {target[: -2 * DIGEST_SIZE + 1] for _, target, _ in handles}
                if self._new_dirs:
                    dirs.add(self._root)
                self._run_all(fsync_dir, sorted(dirs))
            self._new_dirs = False
        except OSError as exc:
            for tmp, _, _ in handles[done:]:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise write_error(exc, Path(handles[0][1]), "write object file") from exc
        log.debug("stored %d blobs", len(staged))

    def discard(self, staged: list[Staged]) -> None:
        for item in staged:
            tmp, _, fd = item.handle
            self._discard_one(tmp, fd)

    @staticmethod
    def _discard_one(tmp: str, fd: int) -> None:
        with contextlib.suppress(OSError):
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        except OSError:
            log.warning("could not remove temporary file %s", tmp)

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
