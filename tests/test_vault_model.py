"""The Vault against a plain model, and how refs name checkpoints.

The state machine commits, reads, removes the oldest checkpoint and reopens
the vault in any order, and after every step checks the vault against a
list of (manifest path, tick, state) kept in plain Python.
"""

import copy
import re
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

from strategies import plain_values, same_value
from tickvault import CheckpointNotFoundError, Vault, load_checkpoint

CONFIG = {"rng_seed": 0}
HEX_ID = re.compile(r"[0-9a-f]{64}")


class VaultMachine(RuleBasedStateMachine):
    """Commit / read / remove-oldest / reopen, checked against a list."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="tickvault-model-"))
        self.vault = Vault(self.folder / "vault", create=True, fsync=False)
        self.model: list[tuple[Path, int, Any]] = []
        self.removed: list[Path] = []
        self.world: dict[str, Any] = {
            "tick": 0,
            "records": {f"r{index:03d}": index for index in range(100)},
            "log": [],
        }

    def teardown(self) -> None:
        self.vault.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _commit(self, state: dict[str, Any], description: str) -> None:
        path = self.vault.commit(state, CONFIG, description=description)
        self.model.append((path, state["tick"], copy.deepcopy(state)))

    @rule(tick=st.integers(min_value=0, max_value=50), value=plain_values)
    def commit_arbitrary(self, tick: int, value: Any) -> None:
        self._commit({"tick": tick, "value": value}, "arbitrary")

    @rule(
        changed=st.integers(min_value=0, max_value=99),
        new_value=st.integers(),
        appended=st.integers(min_value=0, max_value=80),
    )
    def commit_evolved_world(self, changed: int, new_value: int, appended: int) -> None:
        """The common case: a record changes and the log grows."""
        self.world["tick"] += 1
        self.world["records"][f"r{changed:03d}"] = new_value
        start = len(self.world["log"])
        self.world["log"].extend(f"event {start + i}" for i in range(appended))
        self._commit(self.world, "evolved")

    @rule(data=st.data())
    @precondition(lambda self: self.model)
    def read_by_path(self, data: st.DataObject) -> None:
        path, tick, state = data.draw(st.sampled_from(self.model))

        checkpoint = self.vault.read(path)

        assert checkpoint.metadata.tick == tick
        assert same_value(checkpoint.state, state)

    @rule(data=st.data())
    @precondition(lambda self: self.model)
    def read_by_position_back(self, data: st.DataObject) -> None:
        back = data.draw(st.integers(min_value=1, max_value=len(self.model)))

        checkpoint = self.vault.read(-back)

        assert checkpoint.metadata.path == self.model[-back][0]
        assert same_value(checkpoint.state, self.model[-back][2])

    @rule()
    @precondition(lambda self: self.model)
    def remove_oldest(self) -> None:
        oldest, _, _ = self.model.pop(0)

        removed = self.vault.remove(oldest)

        assert removed == oldest
        self.removed.append(oldest)

    @rule()
    @precondition(lambda self: self.removed)
    def read_a_removed_checkpoint(self) -> None:
        with pytest.raises(CheckpointNotFoundError):
            self.vault.read(self.removed[-1])

    @rule()
    def reopen(self) -> None:
        self.vault.close()
        self.vault = Vault(self.folder / "vault", fsync=False)

    @invariant()
    def log_matches_the_model(self) -> None:
        log = self.vault.log()

        assert [(meta.path, meta.tick) for meta in log] == [
            (path, tick) for path, tick, _ in self.model
        ]

    @invariant()
    def latest_is_the_last_in_the_model(self) -> None:
        latest = self.vault.latest()

        if self.model:
            assert latest is not None and latest.path == self.model[-1][0]
        else:
            assert latest is None


TestVaultMachine = VaultMachine.TestCase


# -- refs -----------------------------------------------------------------------


@pytest.fixture
def history(vault_dir: Path) -> tuple[Vault, list[Path]]:
    """A vault of five checkpoints, ticks 0, 10, 10, 20, 30, left open."""
    vault = Vault(vault_dir, create=True, fsync=False)
    paths = [
        vault.commit({"tick": tick, "n": index}, CONFIG, description=f"c{index}")
        for index, tick in enumerate([0, 10, 10, 20, 30])
    ]
    yield vault, paths
    vault.close()


def test_log_lists_checkpoints_in_creation_order_with_positions(history: Any) -> None:
    vault, paths = history

    log = vault.log()

    assert [(meta.position, meta.path) for meta in log] == list(enumerate(paths))


def test_each_checkpoint_names_its_parent(history: Any) -> None:
    vault, _ = history

    log = vault.log()

    assert log[0].parent_id is None
    assert [meta.parent_id for meta in log[1:]] == [
        meta.checkpoint_id for meta in log[:-1]
    ]


def test_checkpoint_ids_are_64_hex_characters_and_distinct(history: Any) -> None:
    vault, _ = history

    ids = [meta.checkpoint_id for meta in vault.log()]

    assert all(HEX_ID.fullmatch(checkpoint_id) for checkpoint_id in ids)
    assert len(set(ids)) == len(ids)


def test_created_at_is_aware_utc_and_recent(history: Any) -> None:
    vault, _ = history

    created = [meta.created_at for meta in vault.log()]

    now = datetime.now(UTC)
    assert all(moment.utcoffset() == timedelta(0) for moment in created)
    assert all(now - timedelta(minutes=5) < moment <= now for moment in created)


def test_manifest_file_names_sort_in_creation_order_and_show_the_tick(
    history: Any,
) -> None:
    _, paths = history

    names = [path.name for path in paths]

    assert sorted(names) == names
    assert all(
        str(tick) in name for tick, name in zip([0, 10, 10, 20, 30], names, strict=True)
    )


def test_description_is_stored(history: Any) -> None:
    vault, paths = history

    assert vault.read(paths[2]).metadata.description == "c2"


@pytest.mark.parametrize(
    ("ref", "expected_index"),
    [
        (-1, 4),
        (-2, 3),
        ("latest", 4),
        ("~0", 4),
        ("~1", 3),
        ("~4", 0),
        (0, 0),
        (20, 3),
        ("20", 3),
        (10, 2),
        ("10", 2),
    ],
    ids=repr,
)
def test_ref_names_the_expected_checkpoint(
    history: Any, ref: Any, expected_index: int
) -> None:
    """A tick names the latest checkpoint of that tick."""
    vault, paths = history

    metadata = vault.resolve(ref)

    assert metadata.path == paths[expected_index]


def test_ref_as_manifest_path(history: Any) -> None:
    vault, paths = history

    assert vault.resolve(paths[1]).path == paths[1]


def test_ref_as_id_prefix(history: Any) -> None:
    vault, paths = history
    checkpoint_id = vault.read(paths[3]).metadata.checkpoint_id

    metadata = vault.resolve(checkpoint_id[:12])

    assert metadata.path == paths[3]


@pytest.mark.parametrize("ref", [99, "99", -6, "~5", "ffffffffffff"], ids=repr)
def test_unknown_ref_is_checkpoint_not_found(history: Any, ref: Any) -> None:
    vault, _ = history

    with pytest.raises(CheckpointNotFoundError):
        vault.resolve(ref)


def test_read_resolves_refs_like_resolve(history: Any) -> None:
    vault, _ = history

    checkpoint = vault.read("~1")

    assert checkpoint.state == {"tick": 20, "n": 3}


def test_latest_of_an_empty_vault_is_none(vault_dir: Path) -> None:
    with Vault(vault_dir, create=True, fsync=False) as vault:
        latest = vault.latest()

    assert latest is None


def test_remove_drops_one_checkpoint_and_keeps_the_rest_readable(
    history: Any,
) -> None:
    vault, paths = history

    removed = vault.remove(paths[2])

    assert removed == paths[2]
    assert [meta.path for meta in vault.log()] == [*paths[:2], *paths[3:]]
    assert vault.read(paths[3]).state == {"tick": 20, "n": 3}


def test_disk_usage_counts_every_file_in_the_vault(history: Any) -> None:
    vault, _ = history

    usage = vault.disk_usage()

    total = sum(path.stat().st_size for path in vault.path.rglob("*") if path.is_file())
    assert usage == total


def test_load_checkpoint_reads_what_the_vault_wrote(history: Any) -> None:
    vault, paths = history

    checkpoint = load_checkpoint(paths[4])

    assert checkpoint.state == {"tick": 30, "n": 4}
    assert checkpoint.metadata == vault.read(paths[4]).metadata


def test_checkpoint_is_immutable(history: Any) -> None:
    vault, paths = history
    checkpoint = vault.read(paths[0])

    with pytest.raises(AttributeError):
        checkpoint.state = {}  # type: ignore[misc]


def test_commit_with_an_explicit_tick_accepts_a_state_without_one(
    vault_dir: Path,
) -> None:
    with Vault(vault_dir, create=True, fsync=False) as vault:
        path = vault.commit([1, 2, 3], CONFIG, tick=42)

        checkpoint = vault.read(path)

    assert checkpoint.metadata.tick == 42
    assert checkpoint.state == [1, 2, 3]
