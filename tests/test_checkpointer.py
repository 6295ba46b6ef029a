"""The AutoCheckpointer: when it writes, what it keeps, and how a run resumes."""

import dataclasses
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategies import same_value
from tickvault import (
    AutoCheckpointer,
    CheckpointConfig,
    CheckpointSchemaError,
    UnsupportedValueError,
    create_checkpointed_step,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)

SIM_CONFIG = {"rng_seed": 0, "scenario": "test"}


@dataclasses.dataclass(frozen=True)
class TinyWorld:
    tick: int
    population: int


def world(tick: int) -> dict[str, Any]:
    return {"tick": tick, "population": 100 + tick, "log": [f"t{tick}"]}


def fast_config(**overrides: Any) -> CheckpointConfig:
    return CheckpointConfig(**{"fsync": False, **overrides})


@contextmanager
def checkpointer_in(folder: Path, **overrides: Any) -> Iterator[AutoCheckpointer]:
    checkpointer = AutoCheckpointer(fast_config(**overrides), base_dir=folder)
    try:
        yield checkpointer
    finally:
        checkpointer.close()


@contextmanager
def scratch_checkpointer(**overrides: Any) -> Iterator[AutoCheckpointer]:
    """A checkpointer in a fresh folder, usable once per Hypothesis example."""
    with (
        tempfile.TemporaryDirectory(prefix="tickvault-ck-") as name,
        checkpointer_in(Path(name), **overrides) as checkpointer,
    ):
        yield checkpointer


def checkpoint_count(checkpointer: AutoCheckpointer) -> int:
    if not checkpointer.checkpoint_dir.exists():
        return 0
    return len(list_checkpoints(checkpointer.checkpoint_dir))


# -- CheckpointConfig ----------------------------------------------------------


class TestCheckpointConfig:
    def test_defaults_match_the_contract(self) -> None:
        config = CheckpointConfig()

        assert (
            config.enabled,
            config.interval,
            config.checkpoint_dir,
            config.max_checkpoints,
            config.fsync,
        ) == (True, 10, "checkpoints", 10, True)

    def test_is_immutable(self) -> None:
        config = CheckpointConfig()

        with pytest.raises(dataclasses.FrozenInstanceError):
            config.interval = 5  # type: ignore[misc]

    @given(st.integers(max_value=0))
    def test_interval_below_one_is_a_value_error_naming_it(self, interval: int) -> None:
        with pytest.raises(ValueError) as caught:
            CheckpointConfig(interval=interval)

        assert "interval" in str(caught.value)
        assert str(interval) in str(caught.value)

    @given(st.integers(max_value=-1))
    def test_negative_max_checkpoints_is_a_value_error_naming_it(
        self, max_checkpoints: int
    ) -> None:
        with pytest.raises(ValueError) as caught:
            CheckpointConfig(max_checkpoints=max_checkpoints)

        assert "max_checkpoints" in str(caught.value)
        assert str(max_checkpoints) in str(caught.value)

    def test_zero_max_checkpoints_is_allowed_and_means_unlimited(self) -> None:
        config = CheckpointConfig(max_checkpoints=0)

        assert config.max_checkpoints == 0


# -- AutoCheckpointer basics -----------------------------------------------------


def test_checkpoint_dir_is_base_dir_joined_with_the_configured_folder(
    tmp_path: Path,
) -> None:
    with checkpointer_in(tmp_path, checkpoint_dir="ckpts") as checkpointer:
        checkpoint_dir = checkpointer.checkpoint_dir

    assert Path(checkpoint_dir) == tmp_path / "ckpts"


def test_base_dir_defaults_to_the_current_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    checkpointer = AutoCheckpointer(fast_config())
    checkpointer.close()

    assert Path(checkpointer.checkpoint_dir).resolve() == tmp_path / "checkpoints"


def test_config_is_exposed_unchanged(tmp_path: Path) -> None:
    config = fast_config(interval=3)

    checkpointer = AutoCheckpointer(config, base_dir=tmp_path)
    checkpointer.close()

    assert checkpointer.config == config


# -- interval semantics, as properties ----------------------------------------

step_sequences = st.lists(st.integers(min_value=0, max_value=60), max_size=25)


@given(
    interval=st.integers(min_value=1, max_value=7),
    enabled=st.booleans(),
    ticks=step_sequences,
)
def test_on_step_writes_exactly_when_enabled_and_tick_is_a_multiple(
    interval: int, enabled: bool, ticks: list[int]
) -> None:
    """Tick 0 counts as a multiple; the return value says whether it wrote."""
    with scratch_checkpointer(
        interval=interval, enabled=enabled, max_checkpoints=0
    ) as checkpointer:
        for tick in ticks:
            before = checkpoint_count(checkpointer)

            path = checkpointer.on_step(world(tick), SIM_CONFIG)

            should_write = enabled and tick % interval == 0
            assert (path is not None) == should_write
            assert checkpoint_count(checkpointer) == before + int(should_write)


@given(
    interval=st.integers(min_value=1, max_value=4),
    max_checkpoints=st.integers(min_value=1, max_value=4),
    ticks=step_sequences,
)
def test_on_step_never_leaves_more_than_max_checkpoints(
    interval: int, max_checkpoints: int, ticks: list[int]
) -> None:
    with scratch_checkpointer(
        interval=interval, max_checkpoints=max_checkpoints
    ) as checkpointer:
        for tick in ticks:
            checkpointer.on_step(world(tick), SIM_CONFIG)

            assert checkpoint_count(checkpointer) <= max_checkpoints


@given(ticks=step_sequences)
def test_on_step_with_unlimited_checkpoints_keeps_every_one(ticks: list[int]) -> None:
    with scratch_checkpointer(interval=1, max_checkpoints=0) as checkpointer:
        for tick in ticks:
            checkpointer.on_step(world(tick), SIM_CONFIG)

        count = checkpoint_count(checkpointer)

    assert count == len(ticks)


@given(
    interval=st.integers(min_value=1, max_value=4),
    max_checkpoints=st.integers(min_value=0, max_value=3),
    ticks=step_sequences,
)
def test_latest_checkpoint_is_the_one_just_written(
    interval: int, max_checkpoints: int, ticks: list[int]
) -> None:
    with scratch_checkpointer(
        interval=interval, max_checkpoints=max_checkpoints
    ) as checkpointer:
        for tick in ticks:
            path = checkpointer.on_step(world(tick), SIM_CONFIG)

            if path is not None:
                assert checkpointer.get_latest_checkpoint() == path
                assert load_checkpoint(path).metadata.tick == tick


def test_on_step_off_interval_returns_none_and_writes_nothing(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=5) as checkpointer:
        path = checkpointer.on_step(world(3), SIM_CONFIG)
        count = checkpoint_count(checkpointer)

    assert path is None
    assert count == 0


def test_disabled_checkpointer_writes_nothing_even_at_tick_zero(
    tmp_path: Path,
) -> None:
    with checkpointer_in(tmp_path, enabled=False, interval=1) as checkpointer:
        path = checkpointer.on_step(world(0), SIM_CONFIG)
        count = checkpoint_count(checkpointer)

    assert path is None
    assert count == 0


def test_get_latest_checkpoint_is_none_before_any_checkpoint(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path) as checkpointer:
        latest = checkpointer.get_latest_checkpoint()

    assert latest is None


def test_on_step_reads_tick_from_an_attribute(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=4) as checkpointer:
        skipped = checkpointer.on_step(TinyWorld(tick=6, population=1), SIM_CONFIG)
        written = checkpointer.on_step(TinyWorld(tick=8, population=2), SIM_CONFIG)

    assert skipped is None
    assert written is not None
    assert load_checkpoint(written, state_type=TinyWorld).state == TinyWorld(8, 2)


def test_on_step_stores_config_and_context(tmp_path: Path) -> None:
    context = {"previous_wages": {"t1": 1.5}, "history": [1, 2, 3]}

    with checkpointer_in(tmp_path, interval=1) as checkpointer:
        path = checkpointer.on_step(world(2), SIM_CONFIG, context=context)
    checkpoint = load_checkpoint(path)

    assert same_value(checkpoint.config, SIM_CONFIG)
    assert same_value(checkpoint.context, context)


# -- force_checkpoint -------------------------------------------------------------


def test_force_checkpoint_ignores_interval_and_enabled(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, enabled=False, interval=1000) as checkpointer:
        path = checkpointer.force_checkpoint(world(7), SIM_CONFIG, "before shutdown")
    checkpoint = load_checkpoint(path)

    assert checkpoint.metadata.tick == 7
    assert checkpoint.metadata.description == "before shutdown"
    assert same_value(checkpoint.state, world(7))


def test_force_checkpoint_stores_its_context(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path) as checkpointer:
        path = checkpointer.force_checkpoint(world(1), SIM_CONFIG, context=[1, "a"])

    assert load_checkpoint(path).context == [1, "a"]


def test_two_checkpoints_of_the_same_tick_never_overwrite_each_other(
    tmp_path: Path,
) -> None:
    """Written back to back, well within one second, both survive."""
    first_state = {"tick": 5, "value": "first"}
    second_state = {"tick": 5, "value": "second"}

    with checkpointer_in(tmp_path, max_checkpoints=0) as checkpointer:
        first = checkpointer.force_checkpoint(first_state, SIM_CONFIG)
        second = checkpointer.force_checkpoint(second_state, SIM_CONFIG)
        listed = [path for path, _ in list_checkpoints(checkpointer.checkpoint_dir)]

    assert first != second
    assert listed == [first, second]
    assert load_checkpoint(first).state == first_state
    assert load_checkpoint(second).state == second_state


def test_identical_checkpoints_of_the_same_tick_are_both_kept(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, max_checkpoints=0) as checkpointer:
        paths = [checkpointer.force_checkpoint(world(9), SIM_CONFIG) for _ in range(3)]
        count = checkpoint_count(checkpointer)

    assert len(set(paths)) == 3
    assert count == 3


# -- rotation -----------------------------------------------------------------------


def write_history(folder: Path, ticks: list[int]) -> list[Path]:
    with checkpointer_in(folder, max_checkpoints=0) as checkpointer:
        return [
            checkpointer.force_checkpoint(world(tick), SIM_CONFIG) for tick in ticks
        ]


def test_rotation_removes_the_oldest_in_creation_order_not_by_mtime(
    tmp_path: Path,
) -> None:
    """Ticks out of order and mtimes reversed: only creation order counts."""
    paths = write_history(tmp_path, [50, 10, 40, 20, 30, 0])
    for age, path in enumerate(paths):
        # The oldest file gets the newest modification time.
        stamp = 2_000_000_000 - age * 1000
        os.utime(path, (stamp, stamp))

    with checkpointer_in(tmp_path, max_checkpoints=2) as checkpointer:
        removed = checkpointer.rotate_checkpoints()
        remaining = [path for path, _ in list_checkpoints(checkpointer.checkpoint_dir)]

    assert removed == paths[:4]
    assert remaining == paths[4:]
    assert not any(path.exists() for path in removed)


def test_rotation_with_nothing_to_remove_returns_an_empty_list(
    tmp_path: Path,
) -> None:
    write_history(tmp_path, [0, 1])

    with checkpointer_in(tmp_path, max_checkpoints=5) as checkpointer:
        removed = checkpointer.rotate_checkpoints()

    assert removed == []


def test_rotation_with_unlimited_checkpoints_removes_nothing(tmp_path: Path) -> None:
    paths = write_history(tmp_path, [0, 1, 2, 3])

    with checkpointer_in(tmp_path, max_checkpoints=0) as checkpointer:
        removed = checkpointer.rotate_checkpoints()

    assert removed == []
    assert all(path.exists() for path in paths)


def test_checkpoints_kept_after_rotation_still_load(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=1, max_checkpoints=3) as checkpointer:
        for tick in range(10):
            checkpointer.on_step(world(tick), SIM_CONFIG)
        kept = list_checkpoints(checkpointer.checkpoint_dir)

    assert [metadata.tick for _, metadata in kept] == [7, 8, 9]
    assert [load_checkpoint(path).state for path, _ in kept] == [
        world(7),
        world(8),
        world(9),
    ]


# -- resuming ---------------------------------------------------------------------


def test_load_latest_returns_the_newest_checkpoint(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=10, max_checkpoints=0) as checkpointer:
        for tick in range(26):
            checkpointer.on_step(world(tick), SIM_CONFIG, context={"at": tick})

        latest = checkpointer.load_latest()

    assert latest is not None
    assert latest.metadata.tick == 20
    assert latest.state == world(20)
    assert latest.context == {"at": 20}


def test_load_latest_resumes_in_a_new_checkpointer(tmp_path: Path) -> None:
    """What a run does on start after a crash: a new object, the same folder."""
    with checkpointer_in(tmp_path, interval=1) as checkpointer:
        for tick in range(5):
            checkpointer.on_step(TinyWorld(tick, tick * 10), SIM_CONFIG)

    with checkpointer_in(tmp_path, interval=1) as restarted:
        resumed = restarted.load_latest(state_type=TinyWorld)

    assert resumed is not None
    assert resumed.state == TinyWorld(4, 40)


def test_load_latest_is_none_without_checkpoints(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path) as checkpointer:
        latest = checkpointer.load_latest()

    assert latest is None


def test_a_resumed_run_appends_after_the_existing_history(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=1, max_checkpoints=0) as checkpointer:
        first = [checkpointer.on_step(world(tick), SIM_CONFIG) for tick in range(3)]

    with checkpointer_in(tmp_path, interval=1, max_checkpoints=0) as restarted:
        later = restarted.on_step(world(3), SIM_CONFIG)
        listed = [path for path, _ in list_checkpoints(restarted.checkpoint_dir)]

    assert listed == [*first, later]


# -- create_checkpointed_step ---------------------------------------------------------


def test_checkpointed_step_returns_the_same_state_object(tmp_path: Path) -> None:
    """The wrapper observes the state; it does not step the simulation."""
    state = TinyWorld(tick=3, population=7)

    with checkpointer_in(tmp_path, interval=2) as checkpointer:
        wrapper = create_checkpointed_step(SIM_CONFIG, checkpointer)
        returned, path = wrapper(state)

    assert returned is state
    assert path is None


def test_checkpointed_step_checkpoints_on_the_interval(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=2) as checkpointer:
        wrapper = create_checkpointed_step(SIM_CONFIG, checkpointer)
        results = [wrapper(TinyWorld(tick, tick))[1] for tick in range(5)]

    assert [path is not None for path in results] == [True, False, True, False, True]


def test_checkpointed_step_stores_the_sim_config(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=1) as checkpointer:
        wrapper = create_checkpointed_step(SIM_CONFIG, checkpointer)
        _, path = wrapper(TinyWorld(0, 0))

    assert path is not None
    assert load_checkpoint(path).config == SIM_CONFIG


def test_checkpointed_step_called_twice_does_not_advance_the_tick(
    tmp_path: Path,
) -> None:
    state = {"tick": 4, "value": 1}

    with checkpointer_in(tmp_path, interval=1, max_checkpoints=0) as checkpointer:
        wrapper = create_checkpointed_step(SIM_CONFIG, checkpointer)
        once, first = wrapper(state)
        twice, second = wrapper(once)

    assert twice == {"tick": 4, "value": 1}
    assert load_checkpoint(first).metadata.tick == 4
    assert load_checkpoint(second).metadata.tick == 4


# -- states the checkpointer must refuse --------------------------------------------

BAD_TICK_STATES = {
    "missing key": {"population": 1},
    "negative": {"tick": -1},
    "bool": {"tick": True},
    "str": {"tick": "5"},
    "float": {"tick": 5.0},
    "None": {"tick": None},
    "not a mapping or object with tick": 5,
}


@pytest.mark.parametrize("state", BAD_TICK_STATES.values(), ids=BAD_TICK_STATES)
def test_state_without_a_non_negative_int_tick_is_a_schema_error(
    tmp_path: Path, state: Any
) -> None:
    with (
        checkpointer_in(tmp_path, interval=1) as checkpointer,
        pytest.raises(CheckpointSchemaError, match="tick"),
    ):
        checkpointer.force_checkpoint(state, SIM_CONFIG)


@pytest.mark.parametrize("state", BAD_TICK_STATES.values(), ids=BAD_TICK_STATES)
def test_on_step_with_a_bad_tick_raises_value_error_and_writes_nothing(
    tmp_path: Path, state: Any
) -> None:
    with checkpointer_in(tmp_path, interval=1) as checkpointer:
        with pytest.raises(ValueError, match="tick"):
            checkpointer.on_step(state, SIM_CONFIG)
        count = checkpoint_count(checkpointer)

    assert count == 0


def test_dataclass_without_a_tick_field_is_a_schema_error(tmp_path: Path) -> None:
    @dataclasses.dataclass
    class NoTick:
        population: int

    with pytest.raises(CheckpointSchemaError, match="tick"):
        save_checkpoint(NoTick(3), SIM_CONFIG, tmp_path / "vault")


def test_negative_tick_attribute_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointSchemaError, match="tick"):
        save_checkpoint(TinyWorld(tick=-4, population=0), SIM_CONFIG, tmp_path / "v")


@pytest.mark.parametrize(
    "state",
    [
        {"tick": 0, "thing": object()},
        {"tick": 0, "nested": [1, {"deep": (2, lambda: 3)}]},
        {"tick": 0, "handle": open},
    ],
    ids=["object", "lambda nested", "builtin function"],
)
def test_value_of_an_unsupported_type_is_an_unsupported_value_error(
    tmp_path: Path, state: dict[str, Any]
) -> None:
    with checkpointer_in(tmp_path) as checkpointer:
        with pytest.raises(UnsupportedValueError) as caught:
            checkpointer.force_checkpoint(state, SIM_CONFIG)
        count = checkpoint_count(checkpointer)

    assert isinstance(caught.value, TypeError)
    assert count == 0


def test_unsupported_value_in_the_config_is_an_unsupported_value_error(
    tmp_path: Path,
) -> None:
    with pytest.raises(UnsupportedValueError):
        save_checkpoint({"tick": 0}, {"seed": object()}, tmp_path / "vault")


def test_a_refused_state_does_not_break_the_next_checkpoint(tmp_path: Path) -> None:
    with checkpointer_in(tmp_path, interval=1) as checkpointer:
        with pytest.raises(UnsupportedValueError):
            checkpointer.on_step({"tick": 0, "thing": object()}, SIM_CONFIG)

        path = checkpointer.on_step(world(1), SIM_CONFIG)

    assert path is not None
    assert load_checkpoint(path).state == world(1)
