"""Framed records: the envelope of every small metadata file in a vault.

A record is ``magic (4 bytes) | version (u8) | msgpack map | blake3 digest``.
The magic says what the file is, the version which layout its map follows,
and the trailing 32-byte digest of everything before it catches truncation
and flipped bytes before any field is trusted. The digest doubles as the
record's identity: a checkpoint's id is the digest of its manifest.

Maps are packed with plain msgpack types only, so that a reader in another
language needs no knowledge of tickvault's ext types to read metadata.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgpack

from .errors import CheckpointCorruptedError, CheckpointSchemaError
from .ids import DIGEST_SIZE, ObjectId, digest

__all__ = ["MAX_RECORD_SIZE", "decode_record", "encode_record"]

MAX_RECORD_SIZE = 16 << 20
_HEADER_SIZE = 5


def encode_record(magic: bytes, version: int, body: dict[str, Any]) -> bytes:
    """Return the framed bytes of a record."""
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    framed = magic + bytes((version,)) + packed
    return framed + digest(framed)


def decode_record(
    data: bytes, *, magic: bytes, versions: frozenset[int], path: Path, what: str
) -> tuple[int, dict[str, Any], ObjectId]:
    """Check and unpack a framed record.

    Args:
        data: The file's bytes.
        magic: The magic the file must start with.
        versions: The format versions this reader supports.
        path: The file, for messages.
        what: What the file should be ("manifest"), for messages.

    Returns:
        The version, the map, and the record's digest.

    Raises:
        CheckpointCorruptedError: The bytes are truncated or damaged.
        CheckpointSchemaError: The file is of another kind or version, or its
            body is not a map.
    """
    if len(data) < _HEADER_SIZE + DIGEST_SIZE + 1:
        if data[:4] == magic[: len(data[:4])]:
            raise CheckpointCorruptedError(
                f"{what} {path} is truncated ({len(data)} bytes)", path=path
            )
        raise CheckpointSchemaError(f"{path} is not a tickvault {what}", path=path)
    if data[:4] != magic:
        raise CheckpointSchemaError(
            f"{path} is not a tickvault {what}: it starts with {data[:4]!r}, "
            f"not {magic!r}",
            path=path,
        )
    version = data[4]
    framed, trailer = data[:-DIGEST_SIZE], data[-DIGEST_SIZE:]
    if digest(framed) != trailer:
        raise CheckpointCorruptedError(
            f"{what} {path} is damaged: its checksum does not match its content",
            path=path,
            expected=trailer.hex(),
            found=digest(framed).hex(),
        )
    if version not in versions:
        known = ", ".join(str(v) for v in sorted(versions))
        raise CheckpointSchemaError(
            f"{what} {path} has format version {version}; this reader supports {known}",
            path=path,
        )
    try:
        body = msgpack.unpackb(framed[_HEADER_SIZE:], raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises many types on bad input
        raise CheckpointCorruptedError(
            f"{what} {path} does not decode: {exc}", path=path
        ) from None
    if type(body) is not dict:
        raise CheckpointSchemaError(f"{what} {path} does not hold a map", path=path)
    return version, body, ObjectId(trailer)
