"""Object ids: blake3 digests, raw and in hex.

An object is named by the blake3 digest of its raw (uncompressed) bytes.
Hashing before compressing makes the name independent of the compression
level and of whether the object was stored whole or as a delta, so the same
content always deduplicates. Raw digests (`ObjectId`, 32 bytes) are what the
format stores; hex ids (`HexId`, 64 characters) are what file names and
people see. They are distinct types so that one is never passed for the
other.
"""

from __future__ import annotations

from typing import NewType

import blake3

__all__ = [
    "DIGEST_SIZE",
    "HexId",
    "ObjectId",
    "digest",
    "is_hex_prefix",
    "to_hex",
]

DIGEST_SIZE = 32

ObjectId = NewType("ObjectId", bytes)
HexId = NewType("HexId", str)

_HEX_DIGITS = frozenset("0123456789abcdef")


def digest(data: bytes) -> ObjectId:
    """Return the object id of ``data``."""
    return ObjectId(blake3.blake3(data).digest())


def to_hex(oid: ObjectId) -> HexId:
    """Return the hex form of a raw object id."""
    return HexId(oid.hex())


def is_hex_prefix(text: str) -> bool:
    """Tell whether ``text`` is a non-empty run of lowercase hex digits."""
    return bool(text) and all(ch in _HEX_DIGITS for ch in text)
