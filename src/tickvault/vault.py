"""The vault: a folder of objects and manifests, and the one writer it admits.

A vault folder holds the marker file ``VAULT``, the folder ``objects/`` of
blobs and the folder ``manifests/`` of checkpoint manifests (see
``docs/FORMAT.md``). A commit writes its new blobs first and makes them
durable, and only then publishes the manifest by temporary file, fsync,
rename and folder fsync. A manifest therefore never names an object that a
crash could lose, and a crash at any instant leaves every published manifest
loadable; what a crash can leave behind is unreferenced blobs and temporary
files, which cost space and nothing else.

One process at a time may write a vault: the first commit takes an ``flock``
on ``lock`` and holds it until the vault is closed, so a second writer fails
at once with `VaultLockedError` instead of interleaving positions. Within a
process, every `Vault` open on the same folder shares that lock and the
position counter. Readers take no lock.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

from . import __version__
from ._fsutil import TEMP_SUFFIX, WriterLock, atomic_write, fsync_dir, write_error
from .codec import from_plain
from .committer import Committer
from .errors import (
    CheckpointIOError,
    CheckpointNotFoundError,
    CheckpointSchemaError,
    UnsupportedValueError,
)
from .ids import DIGEST_SIZE, ObjectId, is_hex_prefix
from .manifest import (
    MANIFEST_SUFFIX,
    MAX_TICK,
    CheckpointMetadata,
    Manifest,
    manifest_name,
    parse_manifest_name,
    read_manifest,
)
from .reader import TreeReader
from .records import decode_record, encode_record
from .store import LocalObjectStore, Staged
from .tree import Batch, TreeWriter

__all__ = ["Checkpoint", "Ref", "Vault", "tick_of"]

log = logging.getLogger(__name__)

VAULT_MARKER = "VAULT"
VAULT_MAGIC = b"TVVT"
HIGH_WATER = "high-water"
HIGH_WATER_MAGIC = b"TVHW"
VAULT_VERSION = 1
_READ_BUDGET_FACTOR = 4
_READ_BUDGET_SLACK = 1 << 20

Ref = Path | int | str
"""A way to name a checkpoint; see `Vault.resolve`."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One checkpoint, loaded.

    Attributes:
        metadata: What the vault records about it.
        state: The simulation state, typed if a type was asked for.
        config: The simulation config given when it was written.
        context: The engine's carried context, or None.
    """

    metadata: CheckpointMetadata
    state: Any
    config: Any
    context: Any


def tick_of(state: Any) -> int:
    """Return the tick of a state: ``state.tick``, or ``state["tick"]``.

    Raises:
        CheckpointSchemaError: The state has no tick, or it is not an integer
            from 0 to 2**63 - 1.
    """
    if isinstance(state, Mapping):
        if "tick" not in state:
            raise CheckpointSchemaError("the state has no 'tick' key")
        tick = state["tick"]
    else:
        try:
            tick = state.tick
        except AttributeError:
            raise CheckpointSchemaError(
                f"the state ({type(state).__name__}) has no 'tick' attribute"
            ) from None
    if isinstance(tick, bool) or not isinstance(tick, int) or not 0 <= tick <= MAX_TICK:
        raise CheckpointSchemaError(
            f"the state's tick must be an integer from 0 to {MAX_TICK} (got {tick!r})"
        )
    return int(tick)


@dataclass(frozen=True, slots=True)
class _Entry:
    position: int
    tick: int
    path: Path


class _Session:
    """The writer side of one vault folder, shared within a process.

    It holds the writer lock, the committer thread, and the head of the
    history: the next position and the id of the last published checkpoint.
    ``parent`` is read and written only by jobs on the committer thread.
    ``epoch`` grows whenever a publication fails, telling every `Vault`
    that shares the session to forget its layouts, which may name objects
    that were never written.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.lock = WriterLock(root / "lock")
        self.mutex = threading.RLock()
        self.committer = Committer()
        self.users = 0
        self.next_position = 0
        self.parent: ObjectId | None = None
        self.epoch = 0


_SESSIONS: dict[Path, _Session] = {}
_SESSIONS_MUTEX = threading.Lock()


class Vault:
    """A folder of checkpoints.

    Args:
        path: The vault's folder.
        create: Create the vault if the folder holds none.
        fsync: Make every commit durable before it returns. Off trades crash
            safety for speed, for tests and benchmarks.
        compression_level: The zstd level for new blobs.
        background: Return from `commit` once the checkpoint is encoded,
            and publish it on the committer thread. `flush` waits for it;
            a crash loses the checkpoints not yet published, never one
            that was. See `commit`.

    Raises:
        CheckpointNotFoundError: There is no vault at ``path`` and ``create``
            is false.
        CheckpointSchemaError: ``path`` holds something else, or a vault of
            an unsupported format version.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        create: bool = False,
        fsync: bool = True,
        compression_level: int = 3,
        background: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.background = background
        self._level = compression_level
        self._manifests = self.path / "manifests"
        marker = self.path / VAULT_MARKER
        if not marker.is_file():
            if not create:
                raise CheckpointNotFoundError(
                    f"no tickvault vault at {self.path} (no {VAULT_MARKER} file)",
                    path=self.path,
                )
            self._create()
        self._check_marker(marker)
        self._store = LocalObjectStore(self.path / "objects", fsync=fsync)
        self._writer: TreeWriter | None = None
        self._epoch = 0
        self._session: _Session | None = None

    def _create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for name in ("objects", "manifests"):
                (self.path / name).mkdir(exist_ok=True)
            body = {"created_ns": time.time_ns(), "writer": f"tickvault {__version__}"}
            atomic_write(
                self.path / VAULT_MARKER,
                encode_record(VAULT_MAGIC, VAULT_VERSION, body),
                fsync=self.fsync,
            )
            if self.fsync:
                fsync_dir(self.path.parent if self.path.parent.exists() else self.path)
        except OSError as exc:
            raise write_error(exc, self.path, "create the vault") from exc
        log.info("created vault %s", self.path)

    def _check_marker(self, marker: Path) -> None:
        try:
            data = marker.read_bytes()
        except OSError as exc:
            raise CheckpointIOError(
                f"cannot read {marker}: {exc.strerror}", path=marker
            ) from exc
        decode_record(
            data,
            magic=VAULT_MAGIC,
            versions=frozenset({VAULT_VERSION}),
            path=marker,
            what="vault marker",
        )

    def __enter__(self) -> Vault:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Vault({str(self.path)!r})"

    def close(self) -> None:
        """Wait for background commits, then release the writer lock and store.

        Raises:
            CheckpointIOError: A background commit failed; the vault is
                closed all the same.
        """
        session, self._session = self._session, None
        try:
            if session is not None:
                with session.mutex:
                    self._settle(session)
        finally:
            if session is not None:
                with _SESSIONS_MUTEX:
                    session.users -= 1
                    if session.users == 0:
                        session.committer.close()
                        session.lock.release()
                        _SESSIONS.pop(session.root, None)
            self._store.close()

    def __del__(self) -> None:
        if getattr(self, "_session", None) is not None:
            try:
                self.close()
            except CheckpointIOError as exc:
                log.warning("closing %s: %s", self.path, exc)

    def flush(self) -> None:
        """Wait until every checkpoint committed so far is published.

        Raises:
            CheckpointIOError: A background commit failed. The checkpoint it
                was writing, and those committed after it, were not
                written; every checkpoint published before it is intact.
        """
        session = self._session
        if session is not None:
            with session.mutex:
                self._settle(session)

    def _settle(self, session: _Session) -> None:
        try:
            session.committer.wait()
        except KeyboardInterrupt:
            raise
        except BaseException:
            # A publication failed: what this process thought it had
            # published may not be there.
            self._load_head(session)
            session.epoch += 1
            raise

    def _write_session(self) -> _Session:
        if self._session is not None:
            return self._session
        root = self.path.resolve()
        with _SESSIONS_MUTEX:
            session = _SESSIONS.get(root)
            if session is None:
                session = _Session(root)
                session.lock.acquire()
                self._load_head(session)
                _SESSIONS[root] = session
            session.users += 1
        self._session = session
        return session

    def _load_head(self, session: _Session) -> None:
        # Positions only grow: past the newest manifest, past the high-water
        # mark that removing the newest one leaves, and past any position
        # this session handed out already, published or not.
        entries = self._entries()
        newest = entries[-1].position if entries else -1
        session.next_position = max(
            session.next_position, newest + 1, self._high_water() + 1
        )
        session.parent = None
        for entry in reversed(entries):
            try:
                _, checkpoint_id, _ = read_manifest(entry.path)
            except CheckpointIOError as exc:
                log.warning("skipping damaged manifest while finding the head: %s", exc)
                continue
            session.parent = checkpoint_id
            return

    def _high_water(self) -> int:
        path = self.path / HIGH_WATER
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return -1
        except OSError as exc:
            raise CheckpointIOError(
                f"cannot read {path}: {exc.strerror}", path=path
            ) from exc
        _, body, _ = decode_record(
            data,
            magic=HIGH_WATER_MAGIC,
            versions=frozenset({VAULT_VERSION}),
            path=path,
            what="high-water mark",
        )
        position = body.get("position")
        if type(position) is not int or position < 0:
            raise CheckpointSchemaError(
                f"high-water mark {path} holds no valid position", path=path
            )
        return position

    def commit(
        self,
        state: Any,
        config: Any,
        *,
        tick: int | None = None,
        description: str = "",
        context: Any = None,
        keep: int = 0,
    ) -> Path:
        """Write a checkpoint and return the path of its manifest.

        The values are encoded before this returns, so the caller may change
        them afterwards. Without ``background`` the checkpoint is published
        (durable, if ``fsync``) when this returns. With it, the manifest
        appears at the returned path once the committer has written it;
        `flush` waits for that, and a failure is raised by the next
        `commit`, `flush` or `close`.

        Args:
            state: The simulation state: a model, a dataclass or plain data.
            config: The simulation config, of the same kinds.
            tick: The tick to record; by default the state's own.
            description: Free text to record.
            context: What the engine carries beside the state, if anything.
            keep: After publishing, remove the oldest checkpoints so that at
                most this many remain; 0 keeps them all.

        Raises:
            CheckpointSchemaError: The state has no valid tick.
            UnsupportedValueError: A value is of a type tickvault cannot
                store.
            CheckpointWriteError: The disk refused a write. Nothing already
                stored is affected.
            VaultLockedError: Another process is writing this vault.
        """
        tick = tick_of(state) if tick is None else tick_of({"tick": tick})
        if not isinstance(description, str):
            raise CheckpointSchemaError(
                f"'description' must be a str (got {type(description).__name__})"
            )
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
            raise ValueError(f"'keep' must be an int >= 0 (got {keep!r})")
        session = self._write_session()
        with session.mutex:
            if session.committer.failed:
                self._settle(session)
            session.committer.throttle()
            writer = self._tree_writer(session)
            batch = writer.begin()
            try:
                roots = [
                    self._encode(writer, name, value)
                    for name, value in (
                        ("state", state),
                        ("config", config),
                        ("context", context),
                    )
                ]
            except BaseException:
                session.committer.run(partial(self._discard, batch))
                raise
            writer.accept(batch)
            position = session.next_position
            session.next_position += 1
            path = self._manifests / manifest_name(position, tick)
            manifest = Manifest(
                tick=tick,
                created_ns=time.time_ns(),
                description=description,
                position=position,
                parent=None,
                state=roots[0],
                config=roots[1],
                context=roots[2],
                logical_bytes=batch.logical,
                new_objects=len(batch.blobs),
                new_bytes=0,
                writer=f"tickvault {__version__}",
            )
            session.committer.publish(
                partial(self._publish, session, batch, manifest, path, keep),
                partial(self._discard, batch),
            )
            if not self.background:
                self._settle(session)
        return path

    def _tree_writer(self, session: _Session) -> TreeWriter:
        if self._writer is None:
            committer = session.committer
            self._writer = TreeWriter(
                self._store,
                committer.compressor(self._level),
                lambda oid, job: committer.run(partial(self._stage, oid, job)),
            )
            self._epoch = session.epoch
        elif self._epoch != session.epoch:
            self._writer.forget()
            self._epoch = session.epoch
        return self._writer

    def _publish(
        self,
        session: _Session,
        batch: Batch,
        manifest: Manifest,
        path: Path,
        keep: int,
    ) -> None:
        # Runs on the committer thread, after every job submitted before it,
        # so every future of the batch is done.
        try:
            staged = [future.result() for future in batch.blobs.values()]
        except BaseException:
            self._discard(batch)
            raise
        self._store.publish(staged)
        manifest = replace(
            manifest,
            parent=session.parent,
            new_bytes=sum(item.size for item in staged),
        )
        data = manifest.encode()
        atomic_write(path, data, fsync=self.fsync)
        session.parent = ObjectId(data[-DIGEST_SIZE:])
        log.debug(
            "checkpoint %s: tick %d, %d new objects, %d bytes",
            path.name,
            manifest.tick,
            manifest.new_objects,
            manifest.new_bytes,
        )
        if keep:
            self.trim(keep)

    def _discard(self, batch: Batch) -> None:
        # Runs on the committer thread: drop what a batch staged.
        staged = []
        for future in batch.blobs.values():
            if future.done() and future.exception() is None:
                staged.append(future.result())
        self._store.discard(staged)

    def _stage(self, oid: ObjectId, job: Callable[[], bytes]) -> Staged:
        return self._store.stage(oid, job())

    def trim(self, keep: int) -> list[Path]:
        """Remove the oldest checkpoints so that at most ``keep`` remain."""
        paths = self.paths()
        return [self.remove(path) for path in paths[: max(0, len(paths) - keep)]]

    @staticmethod
    def _encode(writer: TreeWriter, name: str, value: Any) -> ObjectId:
        try:
            return writer.encode_root(name, value)
        except UnsupportedValueError as exc:
            raise UnsupportedValueError(f"the {name} holds {exc.message}") from None
        except CheckpointIOError:
            raise
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            raise UnsupportedValueError(f"cannot encode the {name}: {exc}") from exc

    def _entries(self) -> list[_Entry]:
        try:
            names = os.listdir(self._manifests)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointIOError(
                f"cannot list {self._manifests}: {exc.strerror}", path=self._manifests
            ) from exc
        entries = []
        for name in names:
            parsed = parse_manifest_name(name)
            if parsed is None:
                if not name.endswith(TEMP_SUFFIX):
                    log.debug("ignoring %s: not a manifest name", name)
                continue
            position, tick = parsed
            entries.append(_Entry(position, tick, self._manifests / name))
        entries.sort(key=lambda entry: entry.position)
        return entries

    def log(self) -> list[CheckpointMetadata]:
        """Return every readable checkpoint's metadata, in creation order.

        A damaged manifest is skipped with a warning.
        """
        result = []
        for entry in self._entries():
            try:
                result.append(self._metadata(entry.path))
            except CheckpointIOError as exc:
                log.warning("skipping a damaged checkpoint: %s", exc)
        return result

    def paths(self) -> list[Path]:
        """Return the manifest paths in creation order, reading none of them."""
        return [entry.path for entry in self._entries()]

    def _metadata(self, path: Path) -> CheckpointMetadata:
        manifest, checkpoint_id, size = read_manifest(path)
        return manifest.metadata(checkpoint_id, path, size)

    def latest(self) -> CheckpointMetadata | None:
        """Return the newest checkpoint's metadata, or None in an empty vault."""
        entries = self._entries()
        return self._metadata(entries[-1].path) if entries else None

    def resolve(self, ref: Ref) -> CheckpointMetadata:
        """Find the checkpoint that ``ref`` names.

        A ref is a manifest path; an ``int`` tick (the latest checkpoint of
        that tick) or a negative ``int`` counted from the end (-1 is the
        latest); or a string: ``latest``, ``~N`` (N back from the latest),
        all digits (a tick), or a hex prefix of at least 4 characters of the
        checkpoint id.

        Raises:
            CheckpointNotFoundError: Nothing matches, or a prefix is
                ambiguous.
        """
        return self._metadata(self._resolve_path(ref))

    def _resolve_path(self, ref: Ref) -> Path:
        if isinstance(ref, Path):
            return ref
        if isinstance(ref, bool):
            raise CheckpointNotFoundError(f"{ref!r} does not name a checkpoint")
        if isinstance(ref, int):
            return self._by_number(ref)
        text = ref.strip()
        if text in ("latest", "HEAD"):
            return self._by_number(-1)
        if text.startswith("~") and text[1:].isdigit():
            return self._by_number(-1 - int(text[1:]))
        if text.isdigit():
            return self._by_number(int(text))
        lowered = text.lower()
        if len(lowered) >= 4 and is_hex_prefix(lowered):
            return self._by_prefix(lowered)
        if text.endswith(MANIFEST_SUFFIX) or os.sep in text:
            return Path(text)
        raise CheckpointNotFoundError(
            f"{ref!r} does not name a checkpoint: give a tick, ~N, 'latest', an id "
            "prefix of 4 or more hex digits, or a manifest path"
        )

    def _by_number(self, number: int) -> Path:
        entries = self._entries()
        if number < 0:
            if -number > len(entries):
                raise CheckpointNotFoundError(
                    f"the vault at {self.path} holds {len(entries)} checkpoints; "
                    f"there is none {-number - 1} back from the latest",
                    path=self.path,
                )
            return entries[number].path
        matches = [entry for entry in entries if entry.tick == number]
        if not matches:
            raise CheckpointNotFoundError(
                f"no checkpoint of tick {number} in the vault at {self.path}",
                path=self.path,
            )
        return matches[-1].path

    def _by_prefix(self, prefix: str) -> Path:
        matches = [
            meta.path for meta in self.log() if meta.checkpoint_id.startswith(prefix)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise CheckpointNotFoundError(
                f"no checkpoint id starts with {prefix!r} in the vault at {self.path}",
                path=self.path,
            )
        raise CheckpointNotFoundError(
            f"the id prefix {prefix!r} is ambiguous: it matches {len(matches)} "
            "checkpoints; give more digits",
            path=self.path,
        )

    def read(
        self,
        ref: Ref,
        *,
        state_type: Any = None,
        config_type: Any = None,
        context_type: Any = None,
    ) -> Checkpoint:
        """Load the checkpoint that ``ref`` names.

        Without a type, state, config and context come back as plain data;
        with one, as an equal object of that type.

        Raises:
            CheckpointNotFoundError: No such checkpoint, or one of its
                objects is missing.
            CheckpointCorruptedError: The manifest or an object is damaged.
            CheckpointSchemaError: The checkpoint is of an unsupported format,
                or does not fit a type asked for.
        """
        path = self._resolve_path(ref)
        manifest, checkpoint_id, size = read_manifest(path)
        budget = _READ_BUDGET_FACTOR * manifest.logical_bytes + _READ_BUDGET_SLACK
        reader = TreeReader(self._store, budget=budget)
        values = []
        for root, wanted, what in (
            (manifest.state, state_type, "state"),
            (manifest.config, config_type, "config"),
            (manifest.context, context_type, "context"),
        ):
            values.append(from_plain(wanted, reader.value(root), what=what))
        return Checkpoint(manifest.metadata(checkpoint_id, path, size), *values)

    def roots_present(self, path: Path) -> bool:
        """Tell whether the root objects a manifest names are all stored."""
        manifest, _, _ = read_manifest(path)
        return all(
            self._store.contains(oid)
            for oid in (manifest.state, manifest.config, manifest.context)
        )

    def remove(self, ref: Ref) -> Path:
        """Remove one checkpoint's manifest and return its path.

        Its objects stay until a garbage collection finds them unreferenced.

        Raises:
            CheckpointNotFoundError: ``ref`` names no checkpoint.
            VaultLockedError: Another process is writing this vault.
        """
        path = self._resolve_path(ref)
        # The lock, not the session mutex: the committer thread removes
        # checkpoints for `commit(keep=...)` while a caller may hold the mutex.
        self._write_session()
        entries = self._entries()
        parsed = parse_manifest_name(path.name)
        if parsed is not None and entries and entries[-1].path.name == path.name:
            # Removing the newest checkpoint must not let a later one take
            # its position, and so its path, again.
            body = {"position": parsed[0]}
            record = encode_record(HIGH_WATER_MAGIC, VAULT_VERSION, body)
            atomic_write(self.path / HIGH_WATER, record, fsync=self.fsync)
        try:
            path.unlink()
        except FileNotFoundError:
            raise CheckpointNotFoundError(
                f"no checkpoint at {path}", path=path
            ) from None
        except OSError as exc:
            raise write_error(exc, path, "remove") from exc
        if self.fsync:
            fsync_dir(path.parent)
        log.debug("removed checkpoint %s", path.name)
        return path

    def disk_usage(self) -> int:
        """Return the bytes of every file in the vault folder."""
        total = 0
        for folder, _, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.stat(os.path.join(folder, name)).st_size
                except FileNotFoundError:
                    continue
        return total
