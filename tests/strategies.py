"""Hypothesis strategies for every kind of value a checkpoint can hold.

Also defines what "equal after a round trip" means. Python's ``==`` is too
lenient for that (``1 == 1.0 == True``, ``0.0 == -0.0``, ``[1] != (1,)`` but
``{1} == {True}``) and too strict in one place (``nan != nan``), so
:func:`same_value` compares types exactly and treats nan as equal to nan.
"""

import dataclasses
import enum
import math
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pydantic
from hypothesis import strategies as st


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


class Priority(enum.Enum):
    LOW = 1
    HIGH = 2


class ZoneStatus(enum.Enum):
    CALM = "calm"
    UNREST = "unrest"
    REVOLT = "revolt"


# -- equality ----------------------------------------------------------------


def _same_float(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def _same_decimal(a: Decimal, b: Decimal) -> bool:
    # as_tuple keeps sign, digits and exponent: 1.0 and 1.00 are different
    # values to store, and Decimal("NaN") compares unequal to itself.
    return a.as_tuple() == b.as_tuple()


def _same_datetime(a: datetime, b: datetime) -> bool:
    if (a.tzinfo is None) != (b.tzinfo is None):
        return False
    same_wall_clock = a.replace(tzinfo=None) == b.replace(tzinfo=None)
    return same_wall_clock and a.utcoffset() == b.utcoffset()


def _same_members(a: Any, b: Any) -> bool:
    """Compare two sets, or the keys of two dicts, member by member."""
    if len(a) != len(b):
        return False
    # Map each member of b to itself so that an equal member of a finds the
    # exact object that b holds (True and 1 hash alike but must differ).
    b_members = {member: member for member in b}
    for member in a:
        if member not in b_members or not same_value(member, b_members[member]):
            return False
    return True


def same_value(a: Any, b: Any) -> bool:
    """Tell whether b is a faithful copy of a: same types, same values.

    nan equals nan; 0.0 and -0.0 differ; 1, 1.0 and True differ; list and
    tuple differ; an aware datetime must keep its offset; dict order is
    ignored (it has a test of its own). Models and dataclasses are compared
    field by field, so that a nan inside one does not make it unequal.
    """
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return _same_float(a, b)
    if isinstance(a, Decimal):
        return _same_decimal(a, b)
    if isinstance(a, datetime):
        return _same_datetime(a, b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, (set, frozenset)):
        return _same_members(a, b)
    if isinstance(a, dict):
        if not _same_members(a.keys(), b.keys()):
            return False
        b_keys = {key: key for key in b}
        return all(same_value(value, b[b_keys[key]]) for key, value in a.items())
    if dataclasses.is_dataclass(a):
        return all(
            same_value(getattr(a, field.name), getattr(b, field.name))
            for field in dataclasses.fields(a)
        )
    if isinstance(a, pydantic.BaseModel):
        return all(
            same_value(getattr(a, name), getattr(b, name))
            for name in type(a).model_fields
        )
    return bool(a == b)


def to_plain(value: Any) -> Any:
    """Return what a value reads back as when no type is asked for.

    Models and dataclasses become dicts of their fields, an Enum becomes its
    value, and everything else keeps its type, containers included.
    """
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if isinstance(value, pydantic.BaseModel):
        return {
            name: to_plain(getattr(value, name)) for name in type(value).model_fields
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_plain(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, dict):
        return {to_plain(key): to_plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(to_plain(item) for item in value)
    if isinstance(value, frozenset):
        return frozenset(to_plain(item) for item in value)
    if isinstance(value, set):
        return {to_plain(item) for item in value}
    return value


# -- scalars -----------------------------------------------------------------

# msgpack's native integers stop at [-2**63, 2**64 - 1]; the edges and just
# past them are where an encoder has to switch representation.
INT_EDGES = [
    0,
    -1,
    2**31,
    2**32,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**40,
    -(10**40),
]

big_ints = st.one_of(
    st.integers(min_value=2**64, max_value=2**300),
    st.integers(min_value=-(2**300), max_value=-(2**63) - 1),
)
int_values = st.one_of(st.integers(), big_ints, st.sampled_from(INT_EDGES))

float_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0, 5e-324]),
)

fixed_offsets = st.one_of(
    st.just(UTC),
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    ),
)
datetimes = st.one_of(
    st.datetimes(),
    st.datetimes(timezones=fixed_offsets),
)

decimals = st.decimals(allow_nan=False, allow_infinity=False)

scalar_values = st.one_of(
    st.text(),
    st.binary(),
    int_values,
    float_values,
    st.booleans(),
    st.none(),
    datetimes,
    st.dates(),
    st.uuids(),
    decimals,
)

# Members of sets and keys of dicts: hashable and never nan, because a nan
# member cannot be found again in a set even by the same equality check.
hashable_values = st.recursive(
    st.one_of(
        st.text(max_size=8),
        st.binary(max_size=8),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.dates(),
        st.uuids(),
    ),
    lambda children: st.one_of(
        st.tuples(children, children),
        st.frozensets(children, max_size=3),
    ),
    max_leaves=4,
)

dict_keys = st.one_of(
    st.text(max_size=10),
    st.integers(),
    st.tuples(st.integers(), st.text(max_size=4)),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=6),
        st.lists(children, max_size=4).map(tuple),
        st.dictionaries(st.text(max_size=10), children, max_size=6),
        st.dictionaries(dict_keys, children, max_size=4),
        st.sets(hashable_values, max_size=5),
        st.frozensets(hashable_values, max_size=5),
    )


plain_values = st.recursive(scalar_values, _containers, max_leaves=25)
"""Any plain value: scalars, containers and nesting, no Enum and no model."""

ticks = st.integers(min_value=0, max_value=2**40)


@st.composite
def plain_states(draw: st.DrawFn) -> dict[Any, Any]:
    """A mapping state: a tick plus arbitrary plain fields."""
    fields = draw(st.dictionaries(st.text(max_size=10), plain_values, max_size=6))
    fields["tick"] = draw(ticks)
    return fields


# -- dataclasses ---------------------------------------------------------------


@dataclasses.dataclass
class FlatRecord:
    """A dataclass state holding one field of every scalar kind."""

    tick: int
    name: str
    blob: bytes
    count: int
    ratio: float
    alive: bool
    nothing: None
    when: datetime
    day: date
    uid: UUID
    amount: Decimal
    color: Color
    priority: Priority
    tags: frozenset[str]
    ids: set[int]
    pair: tuple[int, str]
    history: list[float]
    weights: dict[str, float]


@dataclasses.dataclass(frozen=True)
class FrozenFlatRecord:
    tick: int
    name: str
    color: Color
    ratio: float


@dataclasses.dataclass
class Inner:
    label: str
    value: int
    color: Color


@dataclasses.dataclass
class NestedRecord:
    """A dataclass state with dataclasses inside, directly and in containers."""

    tick: int
    inner: Inner
    inners: list[Inner]
    by_name: dict[str, Inner]
    maybe: Inner | None
    notes: list[str] = dataclasses.field(default_factory=list)


inners = st.builds(
    Inner,
    label=st.text(max_size=10),
    value=int_values,
    color=st.sampled_from(Color),
)

dataclass_states = st.builds(
    FlatRecord,
    tick=ticks,
    name=st.text(),
    blob=st.binary(),
    count=int_values,
    ratio=float_values,
    alive=st.booleans(),
    nothing=st.none(),
    when=datetimes,
    day=st.dates(),
    uid=st.uuids(),
    amount=decimals,
    color=st.sampled_from(Color),
    priority=st.sampled_from(Priority),
    tags=st.frozensets(st.text(max_size=5), max_size=4),
    ids=st.sets(st.integers(), max_size=4),
    pair=st.tuples(st.integers(), st.text(max_size=5)),
    history=st.lists(float_values, max_size=5),
    weights=st.dictionaries(st.text(max_size=5), float_values, max_size=4),
)

frozen_dataclass_states = st.builds(
    FrozenFlatRecord,
    tick=ticks,
    name=st.text(),
    color=st.sampled_from(Color),
    ratio=float_values,
)

nested_dataclass_states = st.builds(
    NestedRecord,
    tick=ticks,
    inner=inners,
    inners=st.lists(inners, max_size=4),
    by_name=st.dictionaries(st.text(max_size=5), inners, max_size=4),
    maybe=st.none() | inners,
    notes=st.lists(st.text(max_size=10), max_size=4),
)


# -- pydantic models -----------------------------------------------------------


class ZoneModel(pydantic.BaseModel):
    zone_id: str
    population: int
    wealth: float
    status: ZoneStatus
    founded: date
    neighbours: tuple[str, ...]


class WorldModel(pydantic.BaseModel):
    """A pydantic state shaped like a simulation's world."""

    tick: int
    seed: int
    updated: datetime
    run_id: UUID
    treasury: Decimal
    flags: set[str]
    frozen_flags: frozenset[int]
    raw: bytes
    zones: dict[str, ZoneModel]
    capital: ZoneModel | None
    events: list[str]
    scores: list[float]


class FrozenZone(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)

    zone_id: str
    status: ZoneStatus
    wealth: float


class FrozenWorld(pydantic.BaseModel):
    """A frozen pydantic state, as engines that step immutable worlds use."""

    model_config = pydantic.ConfigDict(frozen=True)

    tick: int
    zones: tuple[FrozenZone, ...]
    by_id: dict[str, FrozenZone]
    events: tuple[str, ...]


zone_models = st.builds(
    ZoneModel,
    zone_id=st.text(max_size=8),
    population=int_values,
    wealth=float_values,
    status=st.sampled_from(ZoneStatus),
    founded=st.dates(),
    neighbours=st.lists(st.text(max_size=5), max_size=3).map(tuple),
)

world_states = st.builds(
    WorldModel,
    tick=ticks,
    seed=int_values,
    updated=datetimes,
    run_id=st.uuids(),
    treasury=decimals,
    flags=st.sets(st.text(max_size=5), max_size=4),
    frozen_flags=st.frozensets(st.integers(), max_size=4),
    raw=st.binary(),
    zones=st.dictionaries(st.text(max_size=6), zone_models, max_size=4),
    capital=st.none() | zone_models,
    events=st.lists(st.text(max_size=20), max_size=6),
    scores=st.lists(float_values, max_size=5),
)

frozen_zones = st.builds(
    FrozenZone,
    zone_id=st.text(max_size=8),
    status=st.sampled_from(ZoneStatus),
    wealth=float_values,
)

frozen_world_states = st.builds(
    FrozenWorld,
    tick=ticks,
    zones=st.lists(frozen_zones, max_size=4).map(tuple),
    by_id=st.dictionaries(st.text(max_size=6), frozen_zones, max_size=4),
    events=st.lists(st.text(max_size=20), max_size=5).map(tuple),
)
