"""Reading trees back: fetch each object, verify it, and reassemble the value.

`TreeReader` follows the references of a tree from its root. Every blob is
checked against its id, delta chains are followed to their full base, and
chunked nodes are put back together with their counts checked. Anything a
crafted file could use to make a reader loop, recurse without end or
allocate without bound is capped: delta chains at `MAX_CHAIN` links, nesting
at `MAX_DEPTH` objects and ext values, and the bytes one read may decode at a budget the
caller sets from the manifest. Every failure is a `CheckpointIOError` that
names the object and its file.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import zstandard

from .blobs import MAX_CHAIN, BlobError, decode_blob
from .codec import EXT_CHUNKED, EXT_REF, decode_scalar_ext, unpack
from .errors import (
    CheckpointCorruptedError,
    CheckpointIOError,
    CheckpointNotFoundError,
)
from .ids import DIGEST_SIZE, ObjectId, to_hex
from .store import ObjectStore
from .tree import KIND_DICT, KIND_LIST, KIND_TUPLE

__all__ = ["MAX_DEPTH", "TreeReader"]

MAX_DEPTH = 32
"""How deeply objects and ext values may nest. Each level is a nested
msgpack unpack, and each of those takes tens of kilobytes of C stack: about
180 levels overflow the main thread's 8 MiB stack and crash the process.
Trees that tickvault writes nest a handful of levels."""
_BASE_CACHE = 1024


class TreeReader:
    """Fetch, verify and reassemble the values stored in a tree.

    Args:
        store: Where the objects are.
        budget: The most raw bytes one read may decode, counting an object
            each time it is referenced. It bounds what a crafted tree that
            names the same object many times can make a reader allocate.
    """

    def __init__(self, store: ObjectStore, *, budget: int | None = None) -> None:
        self._store = store
        self._dctx = zstandard.ZstdDecompressor()
        self._bases: dict[ObjectId, bytes] = {}
        self._chain = 0
        self._depth = 0
        self.budget = budget
        self._spent = 0

    def raw(self, oid: ObjectId) -> bytes:
        """Return the verified raw bytes of the object ``oid``.

        Raises:
            CheckpointNotFoundError: The object is missing.
            CheckpointCorruptedError: The object is damaged.
        """
        blob = self._store.get(oid)
        try:
            return decode_blob(oid, blob, self._base_raw, self._dctx)
        except BlobError as exc:
            raise self._corrupt(oid, str(exc)) from None

    def _base_raw(self, oid: ObjectId) -> bytes:
        cached = self._bases.get(oid)
        if cached is not None:
            return cached
        if self._chain >= MAX_CHAIN:
            raise BlobError(f"its chain of deltas is longer than {MAX_CHAIN}")
        self._chain += 1
        try:
            blob = self._store.get(oid)
            raw = decode_blob(oid, blob, self._base_raw, self._dctx)
        except CheckpointNotFoundError:
            raise BlobError(f"its delta base {to_hex(oid)} is missing") from None
        finally:
            self._chain -= 1
        if len(self._bases) >= _BASE_CACHE:
            del self._bases[next(iter(self._bases))]
        self._bases[oid] = raw
        return raw

    def value(self, oid: ObjectId) -> Any:
        """Return the value stored in the tree rooted at ``oid``."""
        # The budget covers every value read through this reader, so that
        # the three roots of one checkpoint share it.
        self._depth = 0
        return self._load(oid)

    def _load(self, oid: ObjectId) -> Any:
        if self._depth >= MAX_DEPTH:
            raise self._corrupt(oid, f"the tree is nested deeper than {MAX_DEPTH}")
        raw = self.raw(oid)
        self._spent += len(raw)
        if self.budget is not None and self._spent > self.budget:
            raise self._corrupt(
                oid, f"the tree expands to more than {self.budget} bytes"
            )
        self._depth += 1
        try:
            return unpack(raw, self._hook)
        except CheckpointIOError:
            raise
        except Exception as exc:  # msgpack raises many types on bad input
            raise self._corrupt(oid, f"it does not decode ({exc})") from None
        finally:
            self._depth -= 1

    def _corrupt(self, oid: ObjectId, why: str) -> CheckpointCorruptedError:
        where = self._store.location(oid)
        return CheckpointCorruptedError(
            f"object {to_hex(oid)} at {where} is damaged: {why}",
            path=where,
            object_id=to_hex(oid),
        )

    def _hook(self, code: int, data: bytes) -> Any:
        if code == EXT_REF:
            if len(data) != DIGEST_SIZE:
                raise ValueError(f"a reference holds {len(data)} bytes, not 32")
            return self._load(ObjectId(data))
        # Ext payloads are decoded by a nested unpack, which costs C stack
        # like a reference does, so they count against the same depth.
        if self._depth >= MAX_DEPTH:
            raise ValueError(f"values are nested deeper than {MAX_DEPTH}")
        self._depth += 1
        try:
            if code == EXT_CHUNKED:
                return self._assemble(data)
            return decode_scalar_ext(code, data, self._hook)
        finally:
            self._depth -= 1

    def _assemble(self, payload: bytes) -> Any:
        node = unpack(payload, self._hook)
        if type(node) is not list or len(node) != 4:
            raise ValueError("a chunked node is not [kind, level, total, children]")
        kind, level, total, children = node
        if kind not in (KIND_LIST, KIND_TUPLE, KIND_DICT) or type(level) is not int:
            raise ValueError(f"a chunked node has unknown kind {kind!r}")
        if type(total) is not int or type(children) is not list:
            raise ValueError("a chunked node has a malformed header")
        parts = _checked_children(children, dict if kind == KIND_DICT else None)
        if kind == KIND_DICT:
            merged: dict[Any, Any] = {}
            for part in parts:
                merged.update(part)
            result: Any = merged
        else:
            items: list[Any] = []
            for part in parts:
                items.extend(part)
            result = tuple(items) if kind == KIND_TUPLE else items
        if len(result) != total:
            raise ValueError(f"a chunked node holds {len(result)} entries, not {total}")
        return result


def _checked_children(children: list[Any], map_type: type | None) -> Iterable[Any]:
    for child in children:
        if type(child) is not list or len(child) != 2:
            raise ValueError("a chunked node's child is not [count, value]")
        count, part = child
        if map_type is not None:
            if type(part) is not dict:
                raise ValueError("a run of a mapping is not a map")
        elif type(part) not in (list, tuple):
            raise ValueError("a run of a sequence is not an array")
        if len(part) != count:
            raise ValueError(f"a run holds {len(part)} entries, not {count}")
        yield part
