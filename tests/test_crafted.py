"""Crafted vaults: well-formed bytes arranged to make a reader blow up.

Each test builds objects and a manifest by hand, with correct digests, so
that only the reader's own limits stand between it and the attack.
"""

import contextlib
import time
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickvault import CheckpointCorruptedError, CheckpointIOError, Vault
from tickvault.blobs import Compressor
from tickvault.codec import EXT_REF, EXT_TUPLE
from tickvault.ids import ObjectId, digest
from tickvault.manifest import Manifest, manifest_name
from tickvault.store import LocalObjectStore


def ref(oid: ObjectId) -> msgpack.ExtType:
    return msgpack.ExtType(EXT_REF, oid)


def store_raw(vault_dir: Path, raw: bytes) -> ObjectId:
    oid = digest(raw)
    LocalObjectStore(vault_dir / "objects", fsync=False).put_many(
        {oid: Compressor().full(raw)}
    )
    return oid


def publish(vault_dir: Path, state: ObjectId, logical: int) -> Path:
    none = store_raw(vault_dir, msgpack.packb(None))
    manifest = Manifest(
        tick=0,
        created_ns=time.time_ns(),
        description="crafted",
        position=0,
        parent=None,
        state=state,
        config=none,
        context=none,
        logical_bytes=logical,
        new_objects=0,
        new_bytes=0,
        writer="a test",
    )
    path = vault_dir / "manifests" / manifest_name(0, 0)
    path.write_bytes(manifest.encode())
    return path


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    Vault(tmp_path / "v", create=True, fsync=False).close()
    return tmp_path / "v"


def test_a_tree_that_names_one_object_a_million_times_is_refused(
    vault_dir: Path,
) -> None:
    """Three levels of 100 references to a 1 KiB leaf would expand to 1 GiB."""
    level = store_raw(vault_dir, msgpack.packb(b"x" * 1024))
    for _ in range(3):
        level = store_raw(vault_dir, msgpack.packb([ref(level)] * 100))
    path = publish(vault_dir, level, logical=2048)

    with pytest.raises(CheckpointCorruptedError, match="expands to more than"):
        Vault(vault_dir).read(path)


def test_a_chain_of_references_deeper_than_the_limit_is_refused(
    vault_dir: Path,
) -> None:
    level = store_raw(vault_dir, msgpack.packb(0))
    for _ in range(300):
        level = store_raw(vault_dir, msgpack.packb([ref(level)]))
    path = publish(vault_dir, level, logical=10_000)

    with pytest.raises(CheckpointCorruptedError, match="nested deeper"):
        Vault(vault_dir).read(path)


def test_a_well_formed_crafted_tree_within_the_limits_reads(vault_dir: Path) -> None:
    leaf = store_raw(vault_dir, msgpack.packb({"a": 1}))
    root = store_raw(vault_dir, msgpack.packb({"tick": 0, "x": ref(leaf)}))
    path = publish(vault_dir, root, logical=64)

    assert Vault(vault_dir).read(path).state == {"tick": 0, "x": {"a": 1}}


def test_tuples_nested_deeper_than_the_limit_in_one_object_are_refused(
    vault_dir: Path,
) -> None:
    """Each ext payload is a nested unpack; a deep pile must not overflow the stack."""
    payload = msgpack.packb(0)
    for _ in range(500):
        # A tuple whose only item is the previous tuple: 0x91 is a 1-array.
        payload = msgpack.packb(msgpack.ExtType(EXT_TUPLE, b"\x91" + payload))
    root = store_raw(vault_dir, payload)
    path = publish(vault_dir, root, logical=len(payload))

    with pytest.raises(CheckpointCorruptedError, match="nested deeper"):
        Vault(vault_dir).read(path)


_EXT_CODES = st.sampled_from([EXT_REF, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 99])
_INTS = st.integers(-(2**63), 2**64 - 1)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    _INTS,
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.binary(max_size=40),
    st.builds(msgpack.ExtType, _EXT_CODES, st.binary(max_size=40)),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(st.text(max_size=5), _INTS), inner, max_size=5),
        st.builds(
            msgpack.ExtType,
            _EXT_CODES,
            st.lists(inner, max_size=4).map(msgpack.packb),
        ),
    ),
    max_leaves=20,
)


@given(value=_VALUES)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_well_formed_object_reads_or_fails_with_our_error(
    vault_dir: Path, value: object
) -> None:
    """Objects with valid digests but arbitrary content never crash a reader."""
    raw = msgpack.packb({"tick": 0, "x": value})
    root = store_raw(vault_dir, raw)
    path = publish(vault_dir, root, logical=len(raw))

    with contextlib.suppress(CheckpointIOError):
        Vault(vault_dir).read(path)


@given(data=st.binary(max_size=300))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_bytes_as_a_blob_fail_with_our_error(vault_dir: Path, data: bytes) -> None:
    """A file of any bytes under an object's name is reported as damage."""
    oid = digest(b"the content that was meant to be here")
    target = vault_dir / "objects" / oid.hex()[:2] / oid.hex()[2:]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(data)
    path = publish(vault_dir, oid, logical=100)

    with pytest.raises(CheckpointIOError):
        Vault(vault_dir).read(path)
