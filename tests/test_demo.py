"""The demo simulation: deterministic, shaped like a real world, exactly resumable.

The tests of the simulation itself use a world of a few hundred settlements,
which behaves like the default one but keeps the suite fast; the tests of
`run_demo` check its summary against the vault it wrote.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest

from tickvault import Vault
from tickvault.demo import (
    DemoConfig,
    DemoSummary,
    World,
    engine_rng,
    history,
    initial_world,
    resume,
    run_demo,
    step,
)

SMALL = DemoConfig(settlements=300, relations=400)
SEED = 3
TICKS = 12
INTERVAL = 4


def worlds(seed: int, ticks: int, config: DemoConfig = SMALL) -> list[World]:
    """Return the worlds of ticks 0 to ``ticks`` of the history of ``seed``."""
    return [world for world, _ in itertools.islice(history(seed, config), ticks + 1)]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    """A small demo run whose vault the tests only read."""
    directory = tmp_path_factory.mktemp("demo") / "vault"
    return run_demo(
        directory, ticks=TICKS, interval=INTERVAL, fsync=False, seed=SEED, config=SMALL
    )


def test_same_seed_gives_equal_histories() -> None:
    assert worlds(7, 5) == worlds(7, 5)


def test_different_seeds_give_different_worlds() -> None:
    assert worlds(1, 0) != worlds(2, 0)


def test_ticks_count_up_by_one_from_zero() -> None:
    assert [world.tick for world in worlds(0, 4)] == [0, 1, 2, 3, 4]


def test_default_world_has_thousands_of_records_of_many_fields() -> None:
    world = initial_world(0)
    record = next(iter(world.settlements.values()))

    assert len(world.settlements) >= 2000
    assert 12 <= len(dataclasses.fields(record)) <= 20


def test_step_changes_a_few_percent_of_the_settlements() -> None:
    before = initial_world(0, SMALL)

    after = step(before, engine_rng(0), SMALL)

    changed = [
        key
        for key, record in before.settlements.items()
        if after.settlements[key] != record
    ]
    assert 1 <= len(changed) <= 0.1 * len(before.settlements)


def test_step_rebuilds_every_record_as_a_new_object() -> None:
    before = initial_world(0, SMALL)

    after = step(before, engine_rng(0), SMALL)

    assert all(
        after.settlements[key] is not record
        and after.settlements[key].stocks is not record.stocks
        for key, record in before.settlements.items()
    )
    assert all(
        new is not old
        for new, old in zip(after.relations, before.relations, strict=False)
    )


def test_step_leaves_its_input_unchanged() -> None:
    before = initial_world(0, SMALL)
    snapshot = copy.deepcopy(before)

    step(before, engine_rng(0), SMALL)

    assert before == snapshot


def test_event_log_grows_only_by_appending() -> None:
    history_worlds = worlds(4, 6)

    for older, newer in itertools.pairwise(history_worlds):
        assert len(newer.events) > len(older.events)
        assert newer.events[: len(older.events)] == older.events


def test_resume_from_a_context_continues_the_same_history() -> None:
    full = list(itertools.islice(history(5, SMALL), 9))
    world, context = full[4]

    resumed = [later for later, _ in itertools.islice(resume(world, context, SMALL), 4)]

    assert resumed == [later for later, _ in full[5:9]]


def test_resume_rejects_a_context_without_the_generator_state() -> None:
    world = initial_world(0, SMALL)

    with pytest.raises(ValueError, match="rng_state"):
        resume(world, {}, SMALL)


@pytest.mark.parametrize(
    ("field", "value"),
    [("settlements", 1), ("relations", 0), ("change_fraction", 1.5)],
)
def test_demo_config_names_the_field_of_an_invalid_value(
    field: str, value: Any
) -> None:
    with pytest.raises(ValueError, match=f"'{field}' must be"):
        DemoConfig(**{field: value})


def test_summary_counts_every_checkpoint_in_the_vault(demo_run: DemoSummary) -> None:
    with Vault(demo_run.vault) as vault:
        ticks = [metadata.tick for metadata in vault.log()]

    assert ticks == list(range(0, TICKS + 1, INTERVAL))
    assert demo_run.checkpoints == len(ticks)


def test_summary_logical_bytes_are_the_sum_over_the_log(
    demo_run: DemoSummary,
) -> None:
    with Vault(demo_run.vault) as vault:
        logical = sum(metadata.logical_bytes for metadata in vault.log())

    assert demo_run.logical_bytes == logical > 0


def test_summary_disk_bytes_are_the_vaults_disk_usage(demo_run: DemoSummary) -> None:
    with Vault(demo_run.vault) as vault:
        assert demo_run.disk_bytes == vault.disk_usage() > 0


def test_dedup_ratio_is_logical_over_disk_bytes(demo_run: DemoSummary) -> None:
    expected = demo_run.logical_bytes / demo_run.disk_bytes

    assert demo_run.dedup_ratio == pytest.approx(expected)


def test_summary_has_a_positive_median_time(demo_run: DemoSummary) -> None:
    assert demo_run.median_ms > 0


def test_checkpointed_states_equal_the_simulated_worlds(
    demo_run: DemoSummary,
) -> None:
    expected = worlds(SEED, TICKS)

    with Vault(demo_run.vault) as vault:
        for metadata in vault.log():
            checkpoint = vault.read(metadata.path, state_type=World)
            assert checkpoint.state == expected[metadata.tick]


def test_resume_from_a_checkpoint_continues_the_same_history(
    demo_run: DemoSummary,
) -> None:
    resume_tick = TICKS - INTERVAL
    with Vault(demo_run.vault) as vault:
        checkpoint = vault.read(resume_tick, state_type=World)

    resumed = itertools.islice(
        resume(checkpoint.state, checkpoint.context, SMALL), INTERVAL
    )

    assert [world for world, _ in resumed] == worlds(SEED, TICKS)[resume_tick + 1 :]


def test_two_demo_runs_store_equal_states(tmp_path: Path) -> None:
    first = run_demo(tmp_path / "a", ticks=4, interval=2, fsync=False, config=SMALL)
    second = run_demo(tmp_path / "b", ticks=4, interval=2, fsync=False, config=SMALL)

    with Vault(first.vault) as one, Vault(second.vault) as other:
        pairs = list(zip(one.log(), other.log(), strict=True))
        for left, right in pairs:
            assert one.read(left.path).state == other.read(right.path).state
    assert len(pairs) == 3


def test_progress_is_reported_after_every_tick(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []

    run_demo(
        tmp_path / "vault",
        ticks=5,
        interval=5,
        fsync=False,
        config=SMALL,
        progress=lambda tick, total: calls.append((tick, total)),
    )

    assert calls == [(tick, 5) for tick in range(6)]
