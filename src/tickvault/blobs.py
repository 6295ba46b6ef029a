"""The blob: how one object's bytes are stored.

A blob is a short header followed by one zstd frame::

    magic "TVOB" | version u8 | encoding u8 | [base id, 32 bytes] | zstd frame

Encoding 0 is a plain frame of the object's raw bytes. Encoding 1 is a frame
compressed with the raw bytes of a *base* object as a raw-content dictionary:
a delta. A new version of a record or run differs from an earlier version
in a few fields, so as a delta it costs about what changed instead of what it
holds. A base may itself be a delta; writers keep chains to about
log2(versions) links (see `tickvault.tree`), and readers refuse chains longer
than `MAX_CHAIN`, which also stops a crafted loop of deltas.

The frame records its content size and no checksum: the object id is the
blake3 digest of the raw bytes, and every read checks it, which is a stronger
check than zstd's own. A reader refuses frames larger than
`MAX_OBJECT_SIZE` before it allocates anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import zstandard

from .ids import DIGEST_SIZE, ObjectId, digest, to_hex

__all__ = [
    "BLOB_MAGIC",
    "BLOB_VERSION",
    "ENCODING_DELTA",
    "ENCODING_FULL",
    "MAX_CHAIN",
    "MAX_OBJECT_SIZE",
    "BlobError",
    "BlobHeader",
    "Compressor",
    "decode_blob",
    "parse_header",
]

BLOB_MAGIC = b"TVOB"
BLOB_VERSION = 1
ENCODING_FULL = 0
ENCODING_DELTA = 1
MAX_OBJECT_SIZE = 1 << 28
MAX_CHAIN = 64

_FULL_HEADER = BLOB_MAGIC + bytes((BLOB_VERSION, ENCODING_FULL))
_DELTA_HEADER = BLOB_MAGIC + bytes((BLOB_VERSION, ENCODING_DELTA))


class BlobError(ValueError):
    """A blob is malformed; the caller adds the file and object to the message."""


@dataclass(frozen=True, slots=True)
class BlobHeader:
    """What the header of a blob says."""

    encoding: int
    base: ObjectId | None
    frame_offset: int


class Compressor:
    """Turn raw objects into blobs, whole or as deltas.

    A skip-delta base serves the next versions of its place too, so the
    compressors primed with recent bases are kept: priming one with its
    dictionary costs more than a small compression. One instance serves one
    thread: zstd contexts are not shared.
    """

    def __init__(self, level: int = 3, *, primed: int = 32) -> None:
        self.level = level
        self._cctx = zstandard.ZstdCompressor(
            level=level, write_checksum=False, write_content_size=True
        )
        self._primed: dict[ObjectId, zstandard.ZstdCompressor] = {}
        self._primed_limit = primed

    def full(self, raw: bytes) -> bytes:
        """Return the blob that stores ``raw`` whole."""
        return _FULL_HEADER + self._cctx.compress(raw)

    def delta(self, raw: bytes, base_id: ObjectId, base_raw: bytes) -> bytes:
        """Return the blob that stores ``raw`` as a delta against a base."""
        cctx = self._primed.pop(base_id, None)
        if cctx is None:
            dictionary = zstandard.ZstdCompressionDict(
                base_raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            # Sized to the input, the context takes kilobytes instead of the
            # half megabyte that the level's defaults allocate.
            params = zstandard.ZstdCompressionParameters.from_level(
                self.level,
                source_size=len(raw) + len(base_raw),
                write_checksum=0,
                write_content_size=1,
                write_dict_id=0,
            )
            cctx = zstandard.ZstdCompressor(
                compression_params=params, dict_data=dictionary
            )
            if len(self._primed) >= self._primed_limit:
                del self._primed[next(iter(self._primed))]
        self._primed[base_id] = cctx
        return _DELTA_HEADER + base_id + cctx.compress(raw)


def parse_header(blob: bytes) -> BlobHeader:
    """Read and check a blob's header.

    Raises:
        BlobError: The magic, version or encoding is not one this reader
            knows, or the blob is too short to hold its header.
    """
    if len(blob) < 6 or blob[:4] != BLOB_MAGIC:
        raise BlobError(f"not a tickvault blob (starts with {blob[:6]!r})")
    if blob[4] != BLOB_VERSION:
        raise BlobError(f"blob format version {blob[4]} is not supported")
    encoding = blob[5]
    if encoding == ENCODING_FULL:
        return BlobHeader(ENCODING_FULL, None, 6)
    if encoding == ENCODING_DELTA:
        if len(blob) < 6 + DIGEST_SIZE:
            raise BlobError("delta blob is truncated inside its base id")
        return BlobHeader(ENCODING_DELTA, ObjectId(blob[6 : 6 + DIGEST_SIZE]), 38)
    raise BlobError(f"unknown blob encoding {encoding}")


def decode_blob(
    oid: ObjectId,
    blob: bytes,
    base_raw: Callable[[ObjectId], bytes],
    dctx: zstandard.ZstdDecompressor,
) -> bytes:
    """Return the raw bytes that ``blob`` stores, checked against ``oid``.

    Args:
        oid: The id the blob is stored under.
        blob: The stored bytes.
        base_raw: Returns the raw bytes of a base object; called only for
            deltas.
        dctx: A decompressor for full frames.

    Raises:
        BlobError: The blob is malformed, does not decompress, or its content
            does not hash to ``oid``.
    """
    header = parse_header(blob)
    frame = blob[header.frame_offset :]
    try:
        size = zstandard.frame_content_size(frame)
    except zstandard.ZstdError as exc:
        raise BlobError(f"bad zstd frame header: {exc}") from None
    if size < 0:
        raise BlobError("zstd frame does not record its content size")
    if size > MAX_OBJECT_SIZE:
        raise BlobError(f"object claims {size} bytes, over the limit")
    try:
        if header.base is None:
            raw = dctx.decompress(frame)
        else:
            dictionary = zstandard.ZstdCompressionDict(
                base_raw(header.base), dict_type=zstandard.DICT_TYPE_RAWCONTENT
            )
            raw = zstandard.ZstdDecompressor(dict_data=dictionary).decompress(frame)
    except zstandard.ZstdError as exc:
        raise BlobError(f"zstd frame does not decompress: {exc}") from None
    if digest(raw) != oid:
        raise BlobError(
            f"content hashes to {to_hex(digest(raw))}, not to the id it is stored under"
        )
    return raw
