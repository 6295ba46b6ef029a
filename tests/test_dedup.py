"""Dedup: a checkpoint costs what changed, not what the state weighs.

Sizes are measured two ways: the ``new_objects`` / ``new_bytes`` a
checkpoint reports, and the growth of the files under ``objects/`` and
``manifests/`` on disk.
"""

import copy
from pathlib import Path
from typing import Any

import pytest

from tickvault import Vault

CONFIG = {"rng_seed": 0}
KIB = 1024


def object_files(vault_dir: Path) -> list[Path]:
    return [path for path in (vault_dir / "objects").rglob("*") if path.is_file()]


def stored_bytes(vault_dir: Path) -> int:
    """Bytes of every object and manifest file, as the file sizes say."""
    folders = [vault_dir / "objects", vault_dir / "manifests"]
    return sum(
        path.stat().st_size
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file()
    )


def record(index: int, generation: int = 0) -> dict[str, Any]:
    """A record of 20 fields, shaped like the campaign's entities."""
    return {
        "id": f"entity_{index:06d}",
        "name": f"Entity number {index}",
        "kind": ("worker", "owner", "state")[index % 3],
        "territory": f"territory_{index % 97:03d}",
        "population": 1000 + index * 7 + generation,
        "wealth": index * 1.25 + generation,
        "income": (index % 13) * 0.5,
        "consciousness": (index % 100) / 100,
        "organization": (index * 31 % 100) / 100,
        "alive": index % 17 != 0,
        "employer": f"entity_{(index * 7919) % 100_003:06d}",
        "wage": 10 + index % 5,
        "debt": 0.0,
        "loyalty": index % 7,
        "tags": [f"t{index % 11}", f"t{index % 5}"],
        "founded": 1900 + index % 120,
        "stockpile": {"food": index % 50, "tools": index % 9},
        "notes": "",
        "flags": index % 4,
        "rank": index,
    }


def world(records: int, tick: int = 0) -> dict[str, Any]:
    return {
        "tick": tick,
        "entities": {f"entity_{index:06d}": record(index) for index in range(records)},
        "economy": {"gdp": 1.0e9, "inflation": 0.02},
    }


def event(index: int) -> str:
    entity = index * 7919 % 100_003
    return f"tick {index // 7}: entity_{entity:06d} moved to t{index % 613}"


def event_log_state(items: int, tick: int = 0) -> dict[str, Any]:
    return {"tick": tick, "event_log": [event(index) for index in range(items)]}


def test_saving_an_unchanged_state_twice_adds_no_objects(vault_dir: Path) -> None:
    state = world(500)
    copy_of_state = copy.deepcopy(state)
    copy_of_state["tick"] = state["tick"]

    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(state, CONFIG)
        objects_before = len(object_files(vault_dir))
        second = vault.read(vault.commit(copy_of_state, CONFIG)).metadata

    assert len(object_files(vault_dir)) == objects_before
    assert second.new_objects == 0


def test_unchanged_state_adds_no_objects_after_reopening_the_vault(
    vault_dir: Path,
) -> None:
    """Content addressing alone dedups: no in-memory layout is needed."""
    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(world(300), CONFIG)
    objects_before = len(object_files(vault_dir))

    with Vault(vault_dir, fsync=False) as vault:
        second = vault.read(vault.commit(world(300), CONFIG)).metadata

    assert len(object_files(vault_dir)) == objects_before
    assert second.new_objects == 0


def test_unchanged_state_costs_only_a_manifest_on_disk(vault_dir: Path) -> None:
    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(world(1000), CONFIG)
        before = stored_bytes(vault_dir)
        vault.commit(world(1000, tick=1), CONFIG)

    assert stored_bytes(vault_dir) - before < 2 * KIB


def test_new_bytes_equals_the_growth_of_the_vault_on_disk(vault_dir: Path) -> None:
    state = world(1000)

    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(state, CONFIG)
        before = stored_bytes(vault_dir)
        state["entities"]["entity_000500"]["wealth"] = -1.0
        state["tick"] = 1
        metadata = vault.read(vault.commit(state, CONFIG)).metadata

    assert metadata.new_bytes == stored_bytes(vault_dir) - before


def test_new_objects_equals_the_number_of_object_files_added(vault_dir: Path) -> None:
    state = world(1000)

    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(state, CONFIG)
        before = len(object_files(vault_dir))
        state["entities"]["entity_000010"]["alive"] = False
        state["tick"] = 1
        metadata = vault.read(vault.commit(state, CONFIG)).metadata

    assert metadata.new_objects == len(object_files(vault_dir)) - before
    assert metadata.new_objects > 0


def bytes_added_by_changing_one_record(
    vault_dir: Path, records: int
) -> tuple[int, int]:
    """Commit a world, change one record's field, commit again.

    Returns:
        The second checkpoint's ``new_bytes`` and the growth on disk.
    """
    state = world(records)

    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(state, CONFIG)
        before = stored_bytes(vault_dir)
        changed = state["entities"][f"entity_{records // 2:06d}"]
        changed["wealth"] += 1000.0
        changed["population"] += 1
        state["tick"] = 1
        metadata = vault.read(vault.commit(state, CONFIG)).metadata

    return metadata.new_bytes, stored_bytes(vault_dir) - before


@pytest.fixture(scope="module")
def one_record_changed(
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[int, tuple[int, int]]:
    return {
        records: bytes_added_by_changing_one_record(
            tmp_path_factory.mktemp(f"records-{records}") / "vault", records
        )
        for records in (10**3, 10**4)
    }


def test_changing_one_record_of_ten_thousand_adds_a_few_kib(
    one_record_changed: dict[int, tuple[int, int]],
) -> None:
    reported, on_disk = one_record_changed[10**4]

    assert reported < 8 * KIB
    assert on_disk < 8 * KIB


def test_bytes_for_one_changed_record_do_not_depend_on_collection_size(
    one_record_changed: dict[int, tuple[int, int]],
) -> None:
    """Ten times the records may cost at most a small constant more, not 10x."""
    small, _ = one_record_changed[10**3]
    large, _ = one_record_changed[10**4]

    assert large - small < 2 * KIB, (small, large)


@pytest.fixture(scope="module")
def event_log_growth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Bytes stored by a 10^5-item event log and by appends to it."""
    vault_dir = tmp_path_factory.mktemp("event-log") / "vault"
    state = event_log_state(10**5)
    sizes = {}

    with Vault(vault_dir, create=True, fsync=False) as vault:
        sizes["whole"] = vault.read(vault.commit(state, CONFIG)).metadata.new_bytes
        for appended, tick in ((10, 1), (1000, 2)):
            start = len(state["event_log"])
            state["event_log"].extend(event(start + i) for i in range(appended))
            state["tick"] = tick
            before = stored_bytes(vault_dir)
            metadata = vault.read(vault.commit(state, CONFIG)).metadata
            sizes[f"reported+{appended}"] = metadata.new_bytes
            sizes[f"disk+{appended}"] = stored_bytes(vault_dir) - before

    return sizes


def test_appending_ten_items_to_a_long_list_adds_bytes_of_the_order_of_ten_items(
    event_log_growth: dict[str, int],
) -> None:
    assert event_log_growth["reported+10"] < 16 * KIB
    assert event_log_growth["disk+10"] < 16 * KIB


def test_appending_more_items_adds_more_bytes(
    event_log_growth: dict[str, int],
) -> None:
    assert event_log_growth["reported+1000"] > event_log_growth["reported+10"]
    assert event_log_growth["disk+1000"] > event_log_growth["disk+10"]


def test_appending_a_thousand_items_adds_far_less_than_the_list(
    event_log_growth: dict[str, int],
) -> None:
    assert event_log_growth["disk+1000"] < event_log_growth["whole"] / 10


def test_an_insertion_in_the_middle_of_a_long_list_adds_far_less_than_the_list(
    vault_dir: Path,
) -> None:
    """Only the runs around the insertion are rewritten, not everything after it."""
    state = event_log_state(10**5)

    with Vault(vault_dir, create=True, fsync=False) as vault:
        whole = vault.read(vault.commit(state, CONFIG)).metadata.new_bytes
        before = stored_bytes(vault_dir)
        state["event_log"].insert(50_000, "an event inserted in the middle")
        state["tick"] = 1
        vault.commit(state, CONFIG)

    assert stored_bytes(vault_dir) - before < whole / 10


def test_a_deletion_in_the_middle_of_a_long_list_adds_far_less_than_the_list(
    vault_dir: Path,
) -> None:
    state = event_log_state(10**5)

    with Vault(vault_dir, create=True, fsync=False) as vault:
        whole = vault.read(vault.commit(state, CONFIG)).metadata.new_bytes
        before = stored_bytes(vault_dir)
        del state["event_log"][30_000:30_003]
        state["tick"] = 1
        vault.commit(state, CONFIG)

    assert stored_bytes(vault_dir) - before < whole / 10


def test_a_record_shared_by_two_collections_is_stored_once(vault_dir: Path) -> None:
    """An object that exists already is not written again, even in a new place."""
    big = {"payload": [f"row {index}" for index in range(2000)], "name": "shared"}

    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit({"tick": 0, "a": copy.deepcopy(big)}, CONFIG)
        before = stored_bytes(vault_dir)
        vault.commit({"tick": 1, "a": copy.deepcopy(big), "b": big}, CONFIG)

    assert stored_bytes(vault_dir) - before < 4 * KIB


def test_every_checkpoint_of_an_evolving_state_reads_back(vault_dir: Path) -> None:
    """Dedup never costs correctness: each checkpoint reads back its own state."""
    state = world(200)
    expected = []

    with Vault(vault_dir, create=True, fsync=False) as vault:
        paths = []
        for tick in range(8):
            state["tick"] = tick
            state["entities"][f"entity_{tick * 20:06d}"]["wealth"] = -float(tick)
            if tick % 3 == 0:
                del state["entities"][f"entity_{tick + 150:06d}"]
            expected.append(copy.deepcopy(state))
            paths.append(vault.commit(state, CONFIG))

    with Vault(vault_dir) as vault:
        read_back = [vault.read(path).state for path in paths]

    assert read_back == expected
