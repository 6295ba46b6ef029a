"""Splitting values into trees of objects, and putting them back together.

A value is stored as a tree whose nodes are objects that name each other by
id (see ``docs/FORMAT.md`` for the byte layout). The split follows the
value's own structure:

* a small value (packed, at most `INLINE_MAX` bytes) is inlined in its parent;
  below about 2 KiB, a 32-byte id and a blob header cost more than the delta
  that a separate object would save (``docs/FORMAT.md`` gives the figures);
* a larger one is an object of its own, so a large record of a keyed
  collection costs nothing when it is unchanged;
* a mapping or list that packs to more than `SPLIT_MIN` bytes keeps its
  larger members as objects of their own;
* a mapping or list of more than `CHUNK_MIN` entries is cut into *runs*, and
  the list of runs into nodes of at most `FANOUT` entries, so that changing,
  appending or inserting a few entries rewrites a few runs and one path of
  nodes, not the whole collection. A run holds about a 32nd of its
  container, from `RUN_BYTES` to `RUN_BYTES_MAX`: scattered edits touch
  most runs of a large collection, and every touched run costs an id and a
  blob header, so large collections get fewer, larger runs.

`TreeWriter` remembers how it encoded the previous checkpoint (the reading
side is `tickvault.reader`). For each place in the tree it keeps the packed
bytes it saw last time. Most engines rebuild their state every tick, so
identity tells little; but packing is done in C, and when the packed bytes
of a run or record equal last time's, the object id is last time's too and
nothing is hashed, compressed or written. Work in Python is spent only where
something changed. An engine that does hand back last tick's objects gets
more: a value that is the very same object and deeply immutable
(`tickvault.codec.is_frozen`) is not even packed.

A changed object is stored as a *skip-delta* against an earlier version of
the same place: version v is compressed with version ``v & (v - 1)`` (v with
its lowest set bit cleared) as zstd's dictionary. Consecutive versions share
most of their bytes, so a delta costs about what changed; and since each step
down a chain clears one bit, reading any version decodes at most
``log2(versions)`` deltas, with no periodic full rewrite. When a delta would
cost nearly as much as a full blob, the place starts again from a full blob.

Run boundaries survive edits: entries are compared run by run against last
time's runs; where a run differs, entries are re-cut one by one until the
position lines up with an old boundary again, counted from the end of the
sequence, after which old runs are compared again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from functools import partial
from operator import itemgetter
from typing import Any

import msgpack

from .blobs import Compressor
from .codec import (
    EXT_CHUNKED,
    EXT_REF,
    array_header,
    fields_of,
    is_frozen,
    map_header,
    new_packer,
)
from .ids import DIGEST_SIZE, ObjectId, digest
from .store import ObjectStore

__all__ = [
    "CHUNK_MIN",
    "FANOUT",
    "INLINE_MAX",
    "KIND_DICT",
    "KIND_LIST",
    "KIND_TUPLE",
    "RUN_BYTES",
    "RUN_BYTES_MAX",
    "SPLIT_MIN",
    "Batch",
    "Submit",
    "TreeWriter",
    "ref_bytes",
    "run_inline",
]

INLINE_MAX = 2048
SPLIT_MIN = 4096
CHUNK_MIN = 64
RUN_BYTES = 8192
RUN_BYTES_MAX = 65536
RUNS_PER_CONTAINER = 32
RUN_MAX_ENTRIES = 1024
FANOUT = 128

KIND_LIST = 0
KIND_TUPLE = 1
KIND_DICT = 2

_REF_PREFIX = b"\xc7\x20" + bytes((EXT_REF,))
_DELTA_GIVE_UP = 0.8
_FIRST_RATIO = 0.5


def ref_bytes(oid: ObjectId) -> bytes:
    """Return the packed reference to ``oid``, as embedded in a parent."""
    return _REF_PREFIX + oid


@dataclass(frozen=True, slots=True)
class _Base:
    """A stored version of a place that later versions may delta against."""

    version: int
    oid: ObjectId
    raw: bytes


@dataclass(slots=True)
class _Slot:
    """One object that the previous checkpoint held at one place.

    ``version`` counts the versions of this place since its last full blob;
    ``bases`` are the versions that later skip-deltas will use, lowest
    version first; ``ratio`` is the compression ratio of the last full blob,
    to judge whether a delta still pays. The compressing thread sets
    ``restart`` when it stored this version whole after all, so that the
    next version counts from it.
    """

    raw: bytes
    oid: ObjectId
    version: int
    bases: tuple[_Base, ...]
    ratio: float
    restart: bool = False


@dataclass(slots=True)
class _Leaf:
    """A value packed whole and stored as one object."""

    full: bytes
    slot: _Slot
    logical: int
    source: Any = None
    frozen: bool | None = None

    @property
    def embedded(self) -> bytes:
        return ref_bytes(self.slot.oid)


@dataclass(slots=True)
class _Split:
    """A container whose larger members are objects of their own.

    ``slot`` is None when the container itself, with references in place
    of its larger members, is small enough to be inlined in its parent.
    """

    full: bytes | None
    embedded: bytes
    slot: _Slot | None
    logical: int
    children: dict[Any, _Memo]
    source: Any = None
    frozen: bool | None = None


@dataclass(slots=True)
class _Run:
    """One run of a chunked container.

    ``keys`` are a map run's keys. The entries last seen in the run are
    ``origin[start:start + count]``: ``origin`` is the whole entry list of
    that checkpoint, shared by all its runs, so remembering them copies
    nothing. ``frozen`` tells whether they are all deeply immutable (None
    until asked).
    """

    count: int
    full: bytes
    slot: _Slot
    logical: int
    children: dict[Any, _Memo]
    keys: list[Any] | None
    origin: list[Any]
    start: int
    frozen: bool | None = None


@dataclass(slots=True)
class _Chunked:
    """A container cut into runs; ``levels[-1]`` holds the top node."""

    kind: int
    total: int
    runs: list[_Run]
    levels: list[list[_Slot | None]]
    embedded: bytes
    logical: int
    source: Any = None
    frozen: bool | None = None


_Memo = _Leaf | _Split | _Chunked


@dataclass(slots=True)
class _Root:
    memo: _Memo | None
    slot: _Slot | None


@dataclass
class Batch:
    """The new objects and the memory that one commit produces.

    Each new object's blob is being made by the committer thread; the
    future of that job is in ``blobs``. Nothing in a batch takes effect until
    `TreeWriter.accept` is called, so a commit whose encoding fails leaves
    the writer's memory as it was.
    """

    blobs: dict[ObjectId, Future[Any]] = field(default_factory=dict)
    roots: dict[str, _Root] = field(default_factory=dict)
    logical: int = 0


Submit = Callable[[ObjectId, Callable[[], bytes]], "Future[Any]"]
"""Runs the job that makes an object's blob, usually on another thread.

The future's result is whatever the caller makes of the blob (a vault
stages it in its store); the tree only keeps the futures in its batch.
"""


def run_inline(oid: ObjectId, job: Callable[[], bytes]) -> Future[Any]:
    """Run a compression job at once, on the calling thread."""
    future: Future[Any] = Future()
    try:
        future.set_result(job())
    except Exception as exc:
        future.set_exception(exc)
    return future


class TreeWriter:
    """Encode values as trees, remembering the last layout of each root.

    Args:
        store: Where existing objects are looked up.
        compressor: Makes the blobs; used only by the jobs given to
            ``submit``, so only by the thread that runs them.
        submit: Runs compression jobs. The default runs them at once; a
            vault runs them on its committer thread, so that compressing
            overlaps with encoding.
    """

    def __init__(
        self,
        store: ObjectStore,
        compressor: Compressor,
        submit: Submit = run_inline,
    ) -> None:
        self._store = store
        self._compressor = compressor
        self._submit = submit
        self._pack = new_packer()
        self._roots: dict[str, _Root] = {}
        self._known: set[ObjectId] = set()
        self._batch = Batch()

    def begin(self) -> Batch:
        """Start a new batch of objects."""
        self._batch = Batch()
        return self._batch

    def accept(self, batch: Batch) -> None:
        """Adopt a batch once it is fully encoded.

        Its blobs may still be on their way to the store. If publishing them
        fails, the vault calls `forget`, since this memory then names
        objects that were never written.
        """
        self._roots.update(batch.roots)
        self._known.update(batch.blobs)

    def forget(self) -> None:
        """Drop all memory of earlier layouts, e.g. after objects were deleted."""
        self._roots.clear()
        self._known.clear()

    def encode_root(self, name: str, value: Any) -> ObjectId:
        """Encode ``value`` as the root named ``name`` of the current batch.

        A root is always an object of its own, since a manifest names it by
        id.

        Raises:
            UnsupportedValueError: ``value`` holds a type tickvault cannot
                store.
        """
        batch = self._batch
        prev = self._roots.get(name) or _Root(None, None)
        struct = _structure(value)
        memo: _Memo | None
        if type(struct) is dict and len(struct) <= CHUNK_MIN:
            old = prev.memo if type(prev.memo) is _Split else None
            embedded, memo, logical = self._encode_fields(struct, old)
        else:
            embedded, memo, logical = self._encode_value(value, prev.memo)
        if len(embedded) == len(_REF_PREFIX) + DIGEST_SIZE and embedded.startswith(
            _REF_PREFIX
        ):
            oid, slot = ObjectId(embedded[len(_REF_PREFIX) :]), None
        else:
            slot = self._put(embedded, prev.slot)
            oid = slot.oid
        batch.roots[name] = _Root(memo, slot)
        batch.logical += logical
        return oid

    def _encode_fields(
        self, struct: dict[Any, Any], prev: _Split | None
    ) -> tuple[bytes, _Split, int]:
        raw, children = self._encode_members(struct, prev)
        logical = (
            len(raw)
            - sum(len(m.embedded) for m in children.values())
            + sum(m.logical for m in children.values())
        )
        return raw, _Split(None, raw, None, logical, children), logical

    def _encode_members(
        self, struct: Any, prev: _Split | None
    ) -> tuple[bytes, dict[Any, _Memo]]:
        pack = self._pack
        old_children = prev.children if prev is not None else {}
        children: dict[Any, _Memo] = {}
        if type(struct) is dict:
            parts = [map_header(len(struct))]
            for key, item in struct.items():
                embedded, memo, _ = self._encode_value(item, old_children.get(key))
                parts.append(pack(key))
                parts.append(embedded)
                if memo is not None:
                    children[key] = memo
        else:
            parts = [array_header(len(struct))]
            for index, item in enumerate(struct):
                embedded, memo, _ = self._encode_value(item, old_children.get(index))
                parts.append(embedded)
                if memo is not None:
                    children[index] = memo
        return b"".join(parts), children

    def _encode_value(
        self, value: Any, prev: _Memo | None
    ) -> tuple[bytes, _Memo | None, int]:
        """Return the bytes to embed for ``value``, its memory and its size."""
        if prev is not None and prev.source is value:
            # The engine handed back last tick's object. If nothing inside it
            # can change, neither can its bytes: skip packing it at all.
            if prev.frozen is None:
                prev.frozen = is_frozen(value)
            if prev.frozen:
                return prev.embedded, prev, prev.logical
        struct = _structure(value)
        kind = _KINDS.get(type(struct))
        if kind is not None and len(struct) > CHUNK_MIN:
            chunked = self._encode_chunked(
                kind, struct, prev if type(prev) is _Chunked else None
            )
            chunked.source = value
            return chunked.embedded, chunked, chunked.logical
        packed = self._pack(struct)
        if len(packed) <= INLINE_MAX:
            return packed, None, len(packed)
        if (type(prev) is _Leaf or type(prev) is _Split) and prev.full == packed:
            if prev.source is not value:
                prev = replace(prev, source=value, frozen=None)
            return prev.embedded, prev, prev.logical
        old_slot = prev.slot if type(prev) is _Leaf or type(prev) is _Split else None
        if kind is not None and kind != KIND_TUPLE and len(packed) > SPLIT_MIN:
            split_prev = prev if type(prev) is _Split else None
            raw, children = self._encode_members(struct, split_prev)
            if len(raw) <= INLINE_MAX:
                split = _Split(packed, raw, None, len(packed), children, value)
            else:
                slot = self._put(raw, old_slot)
                split = _Split(
                    packed, ref_bytes(slot.oid), slot, len(packed), children, value
                )
            return split.embedded, split, split.logical
        leaf = _Leaf(packed, self._put(packed, old_slot), len(packed), value)
        return leaf.embedded, leaf, leaf.logical

    def _encode_chunked(
        self, kind: int, struct: Any, prev: _Chunked | None
    ) -> _Chunked:
        cutter = _Cutter(self, kind, struct, prev)
        runs = cutter.cut()
        levels, embedded = self._build_nodes(kind, runs, prev)
        header = map_header if kind == KIND_DICT else array_header
        logical = len(header(cutter.total)) + sum(run.logical for run in runs)
        return _Chunked(kind, cutter.total, runs, levels, embedded, logical)

    def _build_nodes(
        self, kind: int, runs: list[_Run], prev: _Chunked | None
    ) -> tuple[list[list[_Slot | None]], bytes]:
        """Group runs into nodes; return every level's slots and the top's bytes.

        A top node small enough to inline is embedded in the parent and has
        no slot.
        """
        children = [(run.count, run.slot.oid) for run in runs]
        old_levels = prev.levels if prev is not None else []
        levels: list[list[_Slot | None]] = []
        level = 0
        while True:
            groups = [children[i : i + FANOUT] for i in range(0, len(children), FANOUT)]
            old = old_levels[level] if level < len(old_levels) else []
            if len(groups) <= 1:
                raw = self._node_raw(kind, level, groups[0] if groups else [])
                if len(raw) <= INLINE_MAX:
                    levels.append([None])
                    return levels, raw
                top = self._put(raw, old[0] if old else None)
                levels.append([top])
                return levels, ref_bytes(top.oid)
            slots = [
                self._put(
                    self._node_raw(kind, level, group),
                    old[index] if index < len(old) else None,
                )
                for index, group in enumerate(groups)
            ]
            levels.append(list(slots))
            children = [
                (sum(count for count, _ in group), slot.oid)
                for group, slot in zip(groups, slots, strict=True)
            ]
            level += 1

    def _node_raw(
        self, kind: int, level: int, group: list[tuple[int, ObjectId]]
    ) -> bytes:
        pack = self._pack
        total = sum(count for count, _ in group)
        entries = b"".join(
            b"\x92" + pack(count) + ref_bytes(oid) for count, oid in group
        )
        payload = (
            b"\x94"
            + pack(kind)
            + pack(level)
            + pack(total)
            + array_header(len(group))
            + entries
        )
        return pack(msgpack.ExtType(EXT_CHUNKED, payload))

    def _put(self, raw: bytes, old: _Slot | None) -> _Slot:
        """Make ``raw`` an object of this batch, reusing ``old`` if it is equal."""
        if old is not None and old.raw == raw:
            return old
        oid = digest(raw)
        batch = self._batch
        # The store is asked only about places this writer has not seen yet
        # (a reopened vault): a changed part is new content unless it went
        # back to a version this writer stored, which _known remembers.
        if (
            oid in batch.blobs
            or oid in self._known
            or (old is None and self._store.contains(oid))
        ):
            self._known.add(oid)
            return self._next_version(old, raw, oid)
        slot = self._next_version(old, raw, oid)
        base = None
        if slot.version:
            base_version = slot.version & (slot.version - 1)
            base = next(b for b in slot.bases if b.version == base_version)
        batch.blobs[oid] = self._submit(oid, partial(self._compress, slot, base))
        return slot

    @staticmethod
    def _next_version(old: _Slot | None, raw: bytes, oid: ObjectId) -> _Slot:
        # The bases a skip-delta chain needs are the versions whose binary
        # form is a prefix of the current one: clear its lowest set bits one
        # by one. Version 0 is full; version v deltas against v & (v - 1).
        if old is None or old.restart:
            ratio = old.ratio if old is not None else _FIRST_RATIO
            if old is None:
                return _Slot(raw, oid, 0, (_Base(0, oid, raw),), ratio)
            old = _Slot(old.raw, old.oid, 0, (_Base(0, old.oid, old.raw),), ratio)
        version = old.version + 1
        base_version = version & (version - 1)
        kept = tuple(b for b in old.bases if b.version <= base_version)
        return _Slot(raw, oid, version, (*kept, _Base(version, oid, raw)), old.ratio)

    def _compress(self, slot: _Slot, base: _Base | None) -> bytes:
        """Return the blob of ``slot``'s object: a delta if that still pays."""
        raw = slot.raw
        if base is not None:
            blob = self._compressor.delta(raw, base.oid, base.raw)
            if len(blob) < _DELTA_GIVE_UP * slot.ratio * len(raw):
                return blob
        blob = self._compressor.full(raw)
        slot.ratio = len(blob) / max(len(raw), 1)
        slot.restart = slot.version > 0
        return blob


_KINDS: dict[type, int] = {list: KIND_LIST, tuple: KIND_TUPLE, dict: KIND_DICT}
_first = itemgetter(0)
_second = itemgetter(1)


_PLAIN = frozenset({dict, list, tuple, str, int, float, bool, bytes, type(None)})


def _structure(value: Any) -> Any:
    """Return the container view of ``value`` that the tree splits along."""
    if type(value) in _PLAIN:
        return value
    flat = fields_of(value)
    return value if flat is None else flat


class _Cutter:
    """Cut one sequence of entries into runs, reusing last time's runs."""

    def __init__(
        self, writer: TreeWriter, kind: int, struct: Any, prev: _Chunked | None
    ) -> None:
        self.writer = writer
        self.kind = kind
        self.is_map = kind == KIND_DICT
        self.entries: list[Any] = list(struct.items()) if self.is_map else list(struct)
        self.total = len(self.entries)
        self.old_runs = prev.runs if prev is not None and prev.kind == kind else []
        self.old_starts: dict[int, int] = {}
        position = 0
        for index, run in enumerate(self.old_runs):
            self.old_starts[position] = index
            position += run.count
        self.shift = self.total - position
        self._old_children: dict[Any, _Memo] | None = None
        self.run_bytes = self._run_target()

    def _run_target(self) -> int:
        if self.old_runs:
            size = sum(len(run.full) for run in self.old_runs)
        else:
            sample = self.entries[:CHUNK_MIN]
            size = len(self._slice_full(0, len(sample))) * self.total // len(sample)
        return min(max(size // RUNS_PER_CONTAINER, RUN_BYTES), RUN_BYTES_MAX)

    def _slice_full(self, start: int, end: int) -> bytes:
        chunk = self.entries[start:end]
        return self.writer._pack(dict(chunk) if self.is_map else chunk)

    def cut(self) -> list[_Run]:
        runs: list[_Run] = []
        old_runs = self.old_runs
        position = 0
        index = 0
        while position < self.total:
            if index < len(old_runs):
                run = old_runs[index]
                end = position + run.count
                if end <= self.total:
                    position, index = self._compare(run, position, end, index, runs)
                    continue
            position, index = self._recut(position, index, runs)
        return runs

    def _compare(
        self, run: _Run, start: int, end: int, index: int, runs: list[_Run]
    ) -> tuple[int, int]:
        """Reuse, rewrite or re-cut old run ``index`` for entries from ``start``."""
        # The last run grows by what is appended after it until it is full,
        # so that appends do not leave a trail of tiny runs.
        open_tail = index == len(self.old_runs) - 1 and end < self.total
        if self._unchanged_objects(run, start, end):
            if not (open_tail and len(run.full) < self.run_bytes):
                runs.append(run)
                return end, index + 1
            return self._recut(end, index, runs, seed=run)
        full = self._slice_full(start, end)
        if full == run.full:
            if open_tail and len(run.full) < self.run_bytes:
                return self._recut(end, index, runs, seed=run)
            runs.append(replace(run, origin=self.entries, start=start, frozen=None))
            return end, index + 1
        if self._same_places(run, start, end):
            runs.append(self._rewrite(run, full, start, end))
            return end, index + 1
        return self._recut(start, index, runs)

    def _unchanged_objects(self, run: _Run, start: int, end: int) -> bool:
        """Tell whether the run holds the very objects it held last time, frozen.

        Engines that rebuild their state fail the first comparison, so this
        costs them one identity check a run.
        """
        if run.frozen is False:
            return False
        new, old = self.entries, run.origin
        offset = run.start - start
        if self.is_map:
            for index in range(start, end):
                now, then = new[index], old[index + offset]
                if now[1] is not then[1] or now[0] is not then[0]:
                    return False
            values = list(map(_second, new[start:end]))
        else:
            for index in range(start, end):
                if new[index] is not old[index + offset]:
                    return False
            values = new[start:end]
        if run.frozen is None:
            run.frozen = all(map(is_frozen, values))
        return run.frozen

    def _same_places(self, run: _Run, start: int, end: int) -> bool:
        """Tell whether entries ``start:end`` are edits in place of ``run``'s.

        They are when the run held no objects of its own and, for a map, the
        keys are the same; for a list, when the list kept its length. Then
        the new run can be the packed slice itself, with no entry re-encoded.
        """
        if run.children or not (self.shift == 0 or self.is_map):
            return False
        if self.is_map:
            return run.keys == list(map(_first, self.entries[start:end]))
        return True

    def _rewrite(self, run: _Run, full: bytes, start: int, end: int) -> _Run:
        slot = self.writer._put(full, run.slot)
        logical = len(full) - len(map_header(run.count))
        keys = self._keys(start, end)
        return _Run(run.count, full, slot, logical, {}, keys, self.entries, start)

    def _keys(self, start: int, end: int) -> list[Any] | None:
        return list(map(_first, self.entries[start:end])) if self.is_map else None

    def _lookup(self, key: Any) -> _Memo | None:
        if self._old_children is None:
            flat: dict[Any, _Memo] = {}
            start = 0
            for run in self.old_runs:
                for child_key, memo in run.children.items():
                    flat[child_key if self.is_map else start + child_key] = memo
                start += run.count
            self._old_children = flat
        return self._old_children.get(key)

    def _recut(
        self, position: int, index: int, runs: list[_Run], seed: _Run | None = None
    ) -> tuple[int, int]:
        """Cut entries one by one from ``position`` until aligned again.

        With a ``seed``, the new run starts as a copy of that old run, whose
        entries are known to be unchanged, and grows by the entries after it.
        """
        writer = self.writer
        pack = writer._pack
        old_runs = self.old_runs
        region_old_start = sum(run.count for run in old_runs[:index])
        base_index = index
        parts = _Parts()
        if seed is not None:
            parts.take(seed, self.is_map)
        while position < self.total:
            entry = self.entries[position]
            if self.is_map:
                key, item = entry
                key_bytes = pack(key)
                embedded, memo, logical = writer._encode_value(item, self._lookup(key))
                full = key_bytes + (
                    embedded if memo is None else memo_full(memo, pack, item)
                )
                parts.add(full, key_bytes + embedded, logical + len(key_bytes))
                if memo is not None:
                    parts.children[key] = memo
            else:
                embedded, memo, logical = writer._encode_value(
                    entry, self._lookup(position)
                )
                full = embedded if memo is None else memo_full(memo, pack, entry)
                if memo is not None:
                    parts.children[parts.count] = memo
                parts.add(full, embedded, logical)
            position += 1
            old_position = position - self.shift
            aligned = (
                old_position > region_old_start
                and old_position in self.old_starts
                and position < self.total
            )
            full_run = parts.size >= self.run_bytes or parts.count >= RUN_MAX_ENTRIES
            if aligned or full_run or position == self.total:
                base = old_runs[base_index] if base_index < len(old_runs) else None
                runs.append(self._make_run(position, parts, base))
                base_index += 1
                parts = _Parts()
                if aligned:
                    return position, self.old_starts[old_position]
        return position, len(old_runs)

    def _make_run(self, end: int, parts: _Parts, base: _Run | None) -> _Run:
        count = parts.count
        header = map_header(count) if self.is_map else array_header(count)
        full = header + b"".join(parts.full)
        raw = header + b"".join(parts.stored)
        slot = self.writer._put(raw, base.slot if base is not None else None)
        start = end - count
        keys = self._keys(start, end)
        return _Run(
            count, full, slot, parts.logical, parts.children, keys, self.entries, start
        )


@dataclass(slots=True)
class _Parts:
    """The entries of a run being cut: packed whole, as stored, and objects."""

    full: list[bytes] = field(default_factory=list)
    stored: list[bytes] = field(default_factory=list)
    children: dict[Any, _Memo] = field(default_factory=dict)
    count: int = 0
    size: int = 0
    logical: int = 0

    def add(self, full: bytes, stored: bytes, logical: int) -> None:
        self.full.append(full)
        self.stored.append(stored)
        self.count += 1
        self.size += len(full)
        self.logical += logical

    def take(self, run: _Run, is_map: bool) -> None:
        """Start with all of an old run's entries, without their header."""
        skip = len(map_header(run.count) if is_map else array_header(run.count))
        self.full.append(run.full[skip:])
        self.stored.append(run.slot.raw[skip:])
        self.children.update(run.children)
        self.count, self.size, self.logical = run.count, len(run.full), run.logical


def memo_full(memo: _Memo, pack: Callable[[Any], bytes], value: Any) -> bytes:
    """Return the packed bytes of a value that is stored as an object."""
    full = None if type(memo) is _Chunked else memo.full  # type: ignore[union-attr]
    return pack(value) if full is None else full
