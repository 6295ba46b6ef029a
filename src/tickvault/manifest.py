"""Manifests: the record of one checkpoint.

A manifest is a framed record (see `tickvault.records`) whose map names the
roots of the checkpoint's three trees (state, config, context), the previous
checkpoint, and the figures a log shows. Its file name is
``<position, 12 digits>-t<tick, 12 digits>.manifest``: names sort in creation
order, show the tick, and differ even for two checkpoints of the same tick
written in the same nanosecond, because the position is unique in a vault.
The name holds no part of the checkpoint id, so that it is known before the
manifest is written, when a commit in the background returns.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CheckpointIOError, CheckpointNotFoundError, CheckpointSchemaError
from .ids import DIGEST_SIZE, HexId, ObjectId, to_hex
from .records import MAX_RECORD_SIZE, decode_record, encode_record

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_MAGIC",
    "MANIFEST_SUFFIX",
    "CheckpointMetadata",
    "Manifest",
    "manifest_name",
    "parse_manifest_name",
    "read_manifest",
]

MANIFEST_MAGIC = b"TVMF"
FORMAT_VERSION = 1
SUPPORTED_VERSIONS = frozenset({FORMAT_VERSION})
MANIFEST_SUFFIX = ".manifest"
MAX_TICK = 2**63 - 1

_NAME = re.compile(r"^(\d{12,})-t(\d{12,})\.manifest$")


@dataclass(frozen=True, slots=True)
class CheckpointMetadata:
    """What a vault records about one checkpoint.

    Attributes:
        checkpoint_id: The blake3 digest of the manifest file, in hex.
        position: The checkpoint's place in the vault's history: unique and
            increasing in creation order, from 0, never reused.
        tick: The simulation tick the checkpoint holds.
        created_at: When it was written, in UTC.
        description: Free text given when it was written.
        format_version: The manifest's format version.
        parent_id: The id of the checkpoint written before it, if any.
        logical_bytes: The size of state, config and context as one plain
            msgpack encoding: what the checkpoint would take unsplit and
            uncompressed.
        new_objects: How many objects this checkpoint added to the vault.
        new_bytes: How many bytes it added on disk, blobs and manifest.
        path: The manifest file.
    """

    checkpoint_id: HexId
    position: int
    tick: int
    created_at: dt.datetime
    description: str
    format_version: int
    parent_id: HexId | None
    logical_bytes: int
    new_objects: int
    new_bytes: int
    path: Path


@dataclass(frozen=True, slots=True)
class Manifest:
    """The content of a manifest file, with raw object ids."""

    tick: int
    created_ns: int
    description: str
    position: int
    parent: ObjectId | None
    state: ObjectId
    config: ObjectId
    context: ObjectId
    logical_bytes: int
    new_objects: int
    new_bytes: int
    writer: str

    def encode(self) -> bytes:
        """Return the manifest's file bytes."""
        body = {
            "tick": self.tick,
            "created_ns": self.created_ns,
            "description": self.description,
            "position": self.position,
            "parent": self.parent,
            "roots": {
                "state": self.state,
                "config": self.config,
                "context": self.context,
            },
            "sizes": {
                "logical": self.logical_bytes,
                "new_objects": self.new_objects,
                "new_bytes": self.new_bytes,
            },
            "writer": self.writer,
        }
        return encode_record(MANIFEST_MAGIC, FORMAT_VERSION, body)

    def metadata(
        self, checkpoint_id: ObjectId, path: Path, file_size: int
    ) -> CheckpointMetadata:
        """Return the public metadata of this manifest, stored at ``path``."""
        seconds, nanos = divmod(self.created_ns, 1_000_000_000)
        created = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(
            microsecond=nanos // 1000
        )
        return CheckpointMetadata(
            checkpoint_id=to_hex(checkpoint_id),
            position=self.position,
            tick=self.tick,
            created_at=created,
            description=self.description,
            format_version=FORMAT_VERSION,
            parent_id=to_hex(self.parent) if self.parent is not None else None,
            logical_bytes=self.logical_bytes,
            new_objects=self.new_objects,
            new_bytes=self.new_bytes + file_size,
            path=path,
        )


def manifest_name(position: int, tick: int) -> str:
    """Return the file name of a manifest."""
    return f"{position:012d}-t{tick:012d}{MANIFEST_SUFFIX}"


def parse_manifest_name(name: str) -> tuple[int, int] | None:
    """Return (position, tick) from a manifest file name, or None."""
    match = _NAME.match(name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def read_manifest(path: Path) -> tuple[Manifest, ObjectId, int]:
    """Read and check the manifest at ``path``.

    Returns:
        The manifest, the checkpoint id, and the file's size.

    Raises:
        CheckpointNotFoundError: There is no such file.
        CheckpointCorruptedError: The file is truncated or damaged.
        CheckpointSchemaError: The file is not a manifest of a supported
            format version.
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_RECORD_SIZE + 1)
    except FileNotFoundError:
        raise CheckpointNotFoundError(f"no checkpoint at {path}", path=path) from None
    except IsADirectoryError:
        raise CheckpointSchemaError(
            f"{path} is a folder, not a checkpoint manifest", path=path
        ) from None
    except OSError as exc:
        raise CheckpointIOError(
            f"cannot read {path}: {exc.strerror}", path=path
        ) from exc
    if len(data) > MAX_RECORD_SIZE:
        raise CheckpointSchemaError(f"{path} is too large to be a manifest", path=path)
    _, body, checkpoint_id = decode_record(
        data,
        magic=MANIFEST_MAGIC,
        versions=SUPPORTED_VERSIONS,
        path=path,
        what="manifest",
    )
    return _manifest_from(body, path), checkpoint_id, len(data)


def _manifest_from(body: dict[str, Any], path: Path) -> Manifest:
    def bad(field: str, want: str) -> CheckpointSchemaError:
        return CheckpointSchemaError(
            f"manifest {path}: field {field!r} is missing or not {want}", path=path
        )

    def integer(mapping: dict[str, Any], name: str, low: int = 0) -> int:
        value = mapping.get(name)
        if type(value) is not int or value < low:
            raise bad(name, f"an integer >= {low}")
        return value

    def oid(
        mapping: dict[str, Any], name: str, *, optional: bool = False
    ) -> ObjectId | None:
        value = mapping.get(name)
        if value is None and optional:
            return None
        if type(value) is not bytes or len(value) != DIGEST_SIZE:
            raise bad(name, "a 32-byte id")
        return ObjectId(value)

    roots, sizes = body.get("roots"), body.get("sizes")
    if type(roots) is not dict:
        raise bad("roots", "a map")
    if type(sizes) is not dict:
        raise bad("sizes", "a map")
    description, writer = body.get("description"), body.get("writer", "")
    if type(description) is not str:
        raise bad("description", "a string")
    if type(writer) is not str:
        raise bad("writer", "a string")
    tick = integer(body, "tick")
    if tick > MAX_TICK:
        raise bad("tick", f"at most {MAX_TICK}")
    return Manifest(
        tick=tick,
        created_ns=integer(body, "created_ns"),
        description=description,
        position=integer(body, "position"),
        parent=oid(body, "parent", optional=True),
        state=oid(roots, "state"),  # type: ignore[arg-type]
        config=oid(roots, "config"),  # type: ignore[arg-type]
        context=oid(roots, "context"),  # type: ignore[arg-type]
        logical_bytes=integer(sizes, "logical"),
        new_objects=integer(sizes, "new_objects"),
        new_bytes=integer(sizes, "new_bytes"),
        writer=writer,
    )
