"""Structural sharing: values an engine reuses between ticks are skipped safely.

The fast path applies only when the object handed in is the very object of
the previous checkpoint *and* nothing reachable from it can change in place.
These tests pin both halves: reused frozen values cost nothing, and a change
anywhere inside a value, even one wrapped in a frozen container, is stored.
"""

import dataclasses
from pathlib import Path
from typing import Any

import pydantic

from tickvault import Vault
from tickvault.codec import is_frozen

CONFIG = {"rng_seed": 0}


@dataclasses.dataclass(frozen=True)
class Cell:
    name: str
    level: int
    neighbours: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Box:
    """Frozen on the outside, but it holds a list that can change in place."""

    label: str
    items: list[int]


class Unit(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)

    name: str
    hp: float
    tags: tuple[str, ...]


def cells(count: int) -> dict[str, Cell]:
    return {
        f"c{i:05d}": Cell(f"cell {i}", i % 7, (f"c{i - 1:05d}", f"c{i + 1:05d}"))
        for i in range(count)
    }


class TestIsFrozen:
    def test_scalars_tuples_and_frozen_dataclasses_are_frozen(self) -> None:
        assert is_frozen(("a", 1, 2.5, None, b"x", frozenset({1})))
        assert is_frozen(Cell("a", 1, ("b",)))

    def test_a_frozen_dataclass_holding_a_list_is_not_frozen(self) -> None:
        assert not is_frozen(Box("a", [1, 2]))

    def test_a_tuple_holding_a_dict_is_not_frozen(self) -> None:
        assert not is_frozen((1, {"a": 1}))

    def test_a_frozen_model_of_frozen_values_is_frozen(self) -> None:
        assert is_frozen(Unit(name="u", hp=1.0, tags=("x",)))

    def test_lists_dicts_and_plain_objects_are_not_frozen(self) -> None:
        assert not is_frozen([1])
        assert not is_frozen({"a": 1})
        assert not is_frozen(object())


def test_reused_frozen_records_add_no_objects(tmp_path: Path) -> None:
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        world = cells(3000)
        vault.commit({"tick": 0, "cells": world}, CONFIG)

        path = vault.commit({"tick": 1, "cells": world}, CONFIG)

        assert vault.resolve(path).new_objects == 1  # the root: its tick changed


def test_a_record_replaced_among_reused_ones_is_stored(tmp_path: Path) -> None:
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        world = cells(3000)
        vault.commit({"tick": 0, "cells": world}, CONFIG)
        changed = dict(world)
        changed["c01234"] = dataclasses.replace(world["c01234"], level=99)

        path = vault.commit({"tick": 1, "cells": changed}, CONFIG)

        assert vault.read(path).state["cells"]["c01234"]["level"] == 99
        assert vault.read(path).state["cells"]["c01235"]["level"] == 1235 % 7


def test_a_list_changed_inside_a_reused_frozen_object_is_stored(
    tmp_path: Path,
) -> None:
    """The same Box object, its list mutated in place: never mistaken as unchanged."""
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        boxes = {f"b{i:04d}": Box(f"box {i}", list(range(40))) for i in range(200)}
        vault.commit({"tick": 0, "boxes": boxes}, CONFIG)
        boxes["b0100"].items[17] = -1

        path = vault.commit({"tick": 1, "boxes": boxes}, CONFIG)

        assert vault.read(path).state["boxes"]["b0100"]["items"][17] == -1


def test_a_dict_changed_inside_a_reused_large_value_is_stored(tmp_path: Path) -> None:
    """A large field reused as the same dict, changed deep inside, is re-read."""
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        table: dict[str, Any] = {
            "rows": [{"id": i, "cells": {"a": i, "b": [i, i + 1]}} for i in range(50)]
        }
        vault.commit({"tick": 0, "table": table}, CONFIG)
        table["rows"][31]["cells"]["b"][1] = "deep change"

        path = vault.commit({"tick": 1, "table": table}, CONFIG)

        assert vault.read(path).state["table"]["rows"][31]["cells"]["b"][1] == (
            "deep change"
        )


def test_reused_frozen_models_round_trip_as_models(tmp_path: Path) -> None:
    class Army(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(frozen=True)

        tick: int
        units: tuple[Unit, ...]

    units = tuple(Unit(name=f"u{i}", hp=float(i), tags=("inf",)) for i in range(300))
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        vault.commit(Army(tick=0, units=units), CONFIG)
        later = Army(tick=1, units=(*units[:-1], Unit(name="u299", hp=0.5, tags=())))

        path = vault.commit(later, CONFIG)

        assert vault.read(path, state_type=Army).state == later


@dataclasses.dataclass(frozen=True)
class Watched:
    """A frozen record that counts how often its fields are read."""

    reads = 0

    name: str
    level: int

    def __getattribute__(self, attribute: str) -> Any:
        if attribute in ("name", "level"):
            type(self).reads += 1
        return object.__getattribute__(self, attribute)


def test_reused_frozen_records_are_not_even_read(tmp_path: Path) -> None:
    """Once known frozen, a reused record costs an identity check, no packing."""
    records = {f"w{i:04d}": Watched(f"w{i}", i) for i in range(500)}
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        vault.commit({"tick": 0, "records": records}, CONFIG)
        vault.commit({"tick": 1, "records": records}, CONFIG)
        before = Watched.reads

        vault.commit({"tick": 2, "records": records}, CONFIG)

        assert Watched.reads == before


def test_a_frozen_model_keeps_its_extra_fields(tmp_path: Path) -> None:
    class Open(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(frozen=True, extra="allow")

        tick: int

    state = Open(tick=3, weather="rain", turns=[1, 2])
    with Vault(tmp_path / "v", create=True, fsync=False) as vault:
        path = vault.commit(state, CONFIG)

        assert vault.read(path, state_type=Open).state == state
        assert vault.read(path).state == {"tick": 3, "weather": "rain", "turns": [1, 2]}
