"""Round trips: whatever is saved reads back as an equal value of the same type.

Without a type, a checkpoint reads back as plain data: models and
dataclasses come back as dicts of their fields and an Enum comes back as its
value (the lead's decision: plain data carries no types). With a type, the
reader rebuilds an equal object of that type.
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from strategies import (
    Color,
    FlatRecord,
    FrozenFlatRecord,
    FrozenWorld,
    NestedRecord,
    Priority,
    WorldModel,
    dataclass_states,
    frozen_dataclass_states,
    frozen_world_states,
    nested_dataclass_states,
    plain_states,
    plain_values,
    same_value,
    scalar_values,
    to_plain,
    world_states,
)
from tickvault import Vault, load_checkpoint, save_checkpoint

CONFIG = {"rng_seed": 0}


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A fresh folder per Hypothesis example (tmp_path is per test)."""
    with tempfile.TemporaryDirectory(prefix="tickvault-rt-") as name:
        yield Path(name)


def round_trip(state: Any, config: Any = CONFIG, context: Any = None, **types: Any):
    with scratch_dir() as folder:
        path = save_checkpoint(state, config, folder / "vault", context=context)
        return load_checkpoint(path, **types)


@given(plain_states())
def test_plain_state_reads_back_equal_without_a_type(state: dict[Any, Any]) -> None:
    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, state)


@given(plain_values)
def test_any_plain_value_reads_back_equal_as_config(value: Any) -> None:
    checkpoint = round_trip({"tick": 0}, config=value)

    assert same_value(checkpoint.config, value)


@given(plain_values)
def test_any_plain_value_reads_back_equal_as_context(value: Any) -> None:
    checkpoint = round_trip({"tick": 0}, context=value)

    assert same_value(checkpoint.context, value)


def test_context_defaults_to_none() -> None:
    checkpoint = round_trip({"tick": 3})

    assert checkpoint.context is None


@given(st.lists(scalar_values, min_size=1, max_size=30))
def test_scalars_keep_their_exact_types(values: list[Any]) -> None:
    """1, 1.0 and True, 0.0 and -0.0, nan, big ints: each reads back as itself."""
    state = {"tick": 1, "values": values}

    checkpoint = round_trip(state)

    assert same_value(checkpoint.state["values"], values)


def test_list_and_tuple_are_told_apart() -> None:
    state = {"tick": 0, "list": [1, 2], "tuple": (1, 2), "nested": [(1,), [(2, [3])]]}

    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, state)


def test_integers_past_the_msgpack_range_read_back_exactly() -> None:
    numbers = [2**64 - 1, 2**64, 2**200, -(2**63), -(2**63) - 1, -(2**200)]
    state = {"tick": 0, "numbers": numbers, "keyed": {2**70: "big", -(2**70): "neg"}}

    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, state)


def test_aware_datetime_keeps_its_utc_offset() -> None:
    offset = timezone(timedelta(hours=-5, minutes=-30))
    moment = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=offset)

    checkpoint = round_trip({"tick": 0, "at": moment})

    assert checkpoint.state["at"].utcoffset() == timedelta(hours=-5, minutes=-30)


def test_naive_datetime_stays_naive() -> None:
    moment = datetime(2024, 3, 1, 12, 0, 0, 7)

    checkpoint = round_trip({"tick": 0, "at": moment})

    assert same_value(checkpoint.state["at"], moment)


def test_decimal_nan_and_infinity_read_back_as_themselves() -> None:
    """Decimal NaN never equals itself, so it is compared by its digits."""
    values = [Decimal("NaN"), Decimal("-Infinity"), Decimal("Infinity"), Decimal("-0")]

    checkpoint = round_trip({"tick": 0, "values": values})

    assert same_value(checkpoint.state["values"], values)


def test_decimal_keeps_its_exponent() -> None:
    """Decimal("1.10") and Decimal("1.1") are equal but are different values."""
    values = [Decimal("1.10"), Decimal("1.1"), Decimal("1E+3"), Decimal("1000")]

    checkpoint = round_trip({"tick": 0, "values": values})

    assert [str(value) for value in checkpoint.state["values"]] == [
        "1.10",
        "1.1",
        "1E+3",
        "1000",
    ]


def test_enum_reads_back_as_its_value_without_a_type() -> None:
    """Plain data carries no types, so an Enum member becomes its value."""
    state = {"tick": 0, "color": Color.GREEN, "priority": Priority.HIGH}

    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, {"tick": 0, "color": "green", "priority": 2})


def test_dict_key_order_is_preserved() -> None:
    keys = [f"k{index}" for index in (5, 1, 9, 3, 7, 0, 2)]
    state = {"tick": 0, "table": {key: len(key) for key in keys}}

    checkpoint = round_trip(state)

    assert list(checkpoint.state["table"]) == keys


def test_mixed_key_types_in_one_dict_read_back() -> None:
    """Keys that cannot be sorted together (str, int, tuple) still round-trip."""
    table = {"b": 1, 3: "three", (1, "x"): None, "a": 2, -7: [1]}

    checkpoint = round_trip({"tick": 0, "table": table})

    assert same_value(checkpoint.state["table"], table)


@given(dataclass_states)
def test_dataclass_state_reads_back_as_that_dataclass(state: FlatRecord) -> None:
    checkpoint = round_trip(state, state_type=FlatRecord)

    assert same_value(checkpoint.state, state)


@given(frozen_dataclass_states)
def test_frozen_dataclass_state_reads_back(state: FrozenFlatRecord) -> None:
    checkpoint = round_trip(state, state_type=FrozenFlatRecord)

    assert same_value(checkpoint.state, state)


@given(nested_dataclass_states)
def test_nested_dataclass_state_reads_back_as_that_dataclass(
    state: NestedRecord,
) -> None:
    checkpoint = round_trip(state, state_type=NestedRecord)

    assert same_value(checkpoint.state, state)


@given(dataclass_states)
def test_dataclass_state_reads_back_as_a_dict_without_a_type(
    state: FlatRecord,
) -> None:
    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, to_plain(state))


@given(nested_dataclass_states)
def test_nested_dataclass_reads_back_as_nested_dicts_without_a_type(
    state: NestedRecord,
) -> None:
    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, to_plain(state))


@given(world_states)
def test_pydantic_state_reads_back_as_that_model(state: WorldModel) -> None:
    checkpoint = round_trip(state, state_type=WorldModel)

    assert same_value(checkpoint.state, state)


@given(frozen_world_states)
def test_frozen_pydantic_state_reads_back_as_that_model(state: FrozenWorld) -> None:
    checkpoint = round_trip(state, state_type=FrozenWorld)

    assert same_value(checkpoint.state, state)


@given(world_states)
def test_pydantic_state_reads_back_as_its_python_dump_without_a_type(
    state: WorldModel,
) -> None:
    """Untyped, a model is the dict of its fields (python-mode, Enums as values)."""
    checkpoint = round_trip(state)

    assert same_value(checkpoint.state, to_plain(state))


@given(world_states, dataclass_states)
def test_config_and_context_read_back_as_their_types(
    config: WorldModel, context: FlatRecord
) -> None:
    checkpoint = round_trip(
        {"tick": 0},
        config=config,
        context=context,
        config_type=WorldModel,
        context_type=FlatRecord,
    )

    assert same_value(checkpoint.config, config)
    assert same_value(checkpoint.context, context)


@given(st.lists(plain_states(), min_size=2, max_size=5))
def test_successive_unrelated_states_in_one_vault_each_read_back(
    states: list[dict[Any, Any]],
) -> None:
    """The writer's memory of the previous layout never leaks into the next."""
    with scratch_dir() as folder, Vault(folder, create=True, fsync=False) as vault:
        paths = [vault.commit(state, CONFIG) for state in states]

        read_back = [vault.read(path).state for path in paths]

    assert all(map(same_value, read_back, states))


# -- large values: the vault splits these into runs ---------------------------


small_values = st.one_of(scalar_values, st.lists(scalar_values, max_size=3))


@given(
    st.lists(st.tuples(st.text(max_size=6), small_values), min_size=65, max_size=150)
)
def test_dict_of_more_than_64_entries_reads_back(
    entries: list[tuple[str, Any]],
) -> None:
    # Keys made distinct by an index: drawing 65 unique keys is slow.
    table = {f"{index}:{key}": value for index, (key, value) in enumerate(entries)}

    checkpoint = round_trip({"tick": 0, "table": table})

    assert same_value(checkpoint.state["table"], table)


@given(st.lists(scalar_values, min_size=65, max_size=300))
def test_list_of_more_than_64_items_reads_back(items: list[Any]) -> None:
    checkpoint = round_trip({"tick": 0, "items": items})

    assert same_value(checkpoint.state["items"], items)


@given(st.lists(st.integers(), min_size=65, max_size=300).map(tuple))
def test_tuple_of_more_than_64_items_stays_a_tuple(items: tuple[int, ...]) -> None:
    checkpoint = round_trip({"tick": 0, "items": items})

    assert same_value(checkpoint.state["items"], items)


def test_list_of_ten_thousand_items_reads_back() -> None:
    items = [f"event {index}: entity e{index * 7919 % 10007}" for index in range(10**4)]
    items[5000] = 5000
    items[7777] = None

    checkpoint = round_trip({"tick": 0, "events": items})

    assert same_value(checkpoint.state["events"], items)


def test_mapping_of_two_thousand_records_reads_back() -> None:
    records = {
        f"entity_{index:05d}": {
            "id": index,
            "name": f"Entity {index}",
            "wealth": index * 1.5,
            "alive": index % 3 != 0,
            "tags": (index % 7, "t"),
            "owner": None if index % 5 else f"entity_{index // 5:05d}",
        }
        for index in range(2000)
    }

    checkpoint = round_trip({"tick": 0, "entities": records})

    assert same_value(checkpoint.state["entities"], records)


def test_two_thousand_records_keep_their_order() -> None:
    keys = [f"entity_{(index * 7919) % 2000:05d}" for index in range(2000)]
    records = {key: {"id": key} for key in keys}

    checkpoint = round_trip({"tick": 0, "entities": records})

    assert list(checkpoint.state["entities"]) == keys
