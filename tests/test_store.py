"""The ObjectStore contract, run against every backend.

`LocalObjectStore` is the folder backend. `MemoryStore` is the smallest store
the interface allows: it implements only the abstract methods, so the
default staging on top of `put_many` is checked too. A new backend joins by
adding a fixture parameter.
"""

from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from tickvault import CheckpointNotFoundError, LocalObjectStore, ObjectStore
from tickvault.ids import ObjectId, digest


class MemoryStore(ObjectStore):
    def __init__(self) -> None:
        self.blobs: dict[ObjectId, bytes] = {}

    def contains(self, oid: ObjectId) -> bool:
        return oid in self.blobs

    def get(self, oid: ObjectId) -> bytes:
        try:
            return self.blobs[oid]
        except KeyError:
            raise CheckpointNotFoundError(f"no object {oid.hex()}") from None

    def put_many(self, blobs: Mapping[ObjectId, bytes]) -> None:
        self.blobs.update(blobs)

    def delete(self, oid: ObjectId) -> None:
        self.blobs.pop(oid, None)

    def iter_ids(self) -> Iterator[ObjectId]:
        return iter(list(self.blobs))

    def location(self, oid: ObjectId) -> str:
        return f"memory:{oid.hex()}"

    def size(self, oid: ObjectId) -> int:
        return len(self.blobs.get(oid, b""))


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ObjectStore]:
    if request.param == "local":
        (tmp_path / "objects").mkdir()
        backend: ObjectStore = LocalObjectStore(tmp_path / "objects", fsync=False)
    else:
        backend = MemoryStore()
    yield backend
    backend.close()


def blob(text: str) -> tuple[ObjectId, bytes]:
    data = text.encode()
    return digest(data), b"blob:" + data


def test_a_stored_blob_reads_back(store: ObjectStore) -> None:
    oid, data = blob("one")

    store.put_many({oid: data})

    assert store.contains(oid)
    assert store.get(oid) == data
    assert store.size(oid) == len(data)


def test_a_missing_blob_is_checkpoint_not_found(store: ObjectStore) -> None:
    oid, _ = blob("never stored")

    assert not store.contains(oid)
    with pytest.raises(CheckpointNotFoundError):
        store.get(oid)


def test_storing_a_present_blob_again_is_harmless(store: ObjectStore) -> None:
    oid, data = blob("twice")
    store.put_many({oid: data})

    store.put_many({oid: data})

    assert store.get(oid) == data
    assert list(store.iter_ids()) == [oid]


def test_staged_blobs_appear_only_when_published(store: ObjectStore) -> None:
    first, second = blob("a"), blob("b")
    staged = [store.stage(*first), store.stage(*second)]

    assert not store.contains(first[0])
    store.publish(staged)

    assert store.get(first[0]) == first[1]
    assert store.get(second[0]) == second[1]


def test_discarded_blobs_never_appear(store: ObjectStore) -> None:
    oid, data = blob("dropped")

    store.discard([store.stage(oid, data)])

    assert not store.contains(oid)
    assert list(store.iter_ids()) == []


def test_iter_ids_lists_every_blob_once(store: ObjectStore) -> None:
    blobs = dict(blob(f"item {index}") for index in range(20))

    store.put_many(blobs)

    assert sorted(store.iter_ids()) == sorted(blobs)


def test_a_deleted_blob_is_gone_and_deleting_again_is_harmless(
    store: ObjectStore,
) -> None:
    oid, data = blob("short-lived")
    store.put_many({oid: data})

    store.delete(oid)
    store.delete(oid)

    assert not store.contains(oid)


def test_the_local_store_leaves_no_temporary_files(tmp_path: Path) -> None:
    """Publishing and discarding both clean up the files that staging made."""
    store = LocalObjectStore(tmp_path, fsync=True)
    kept, dropped = blob("kept"), blob("dropped")

    store.publish([store.stage(*kept)])
    store.discard([store.stage(*dropped)])

    names = [path.name for path in tmp_path.rglob("*") if path.is_file()]
    assert names == [kept[0].hex()[2:]]
