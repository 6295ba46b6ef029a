"""Workloads for ``tools/bench.py``: the shared campaigns and a synthetic world.

A workload is a sequence of ticks, each a state plus the engine context, all
held in memory before any contender is timed, so that parsing and generation
are never part of the measured cost. A workload is described by a small JSON
spec, so that every contender can rebuild the same workload in its own process
and report its own peak RSS.

The campaign archives are unpacked with ``zstandard`` and ``tarfile`` into a
temporary folder by the parent process; the specs then point at that folder.
"""

from __future__ import annotations

import gc
import glob
import json
import random
import re
import statistics
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import zstandard
from pydantic import BaseModel, ConfigDict

__all__ = [
    "CAMPAIGNS",
    "SYNTHETIC_DEFAULTS",
    "WORKLOADS",
    "Workload",
    "WorldState",
    "archive_path",
    "check_model_round_trip",
    "load_workload",
    "measure_floor",
    "synthetic_states",
    "unpack_campaign",
]

CAMPAIGNS = ("imperial_circuit", "single_county")
WORKLOADS = (
    "imperial_circuit-pydantic",
    "imperial_circuit-dict",
    "single_county-pydantic",
    "single_county-dict",
    "synthetic",
)
SYNTHETIC_DEFAULTS: dict[str, Any] = {
    "records": 5000,
    "fields": 15,
    "edges": 20000,
    "change_rate": 0.02,
    "edge_change_rate": 0.01,
    "append_rate": 10,
    "seed": 0,
}

_TICK_FILE = re.compile(r"(?:^|/)(?:tick|context)_(\d+)\.json$")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Ideology(_Record):
    class_consciousness: float
    national_identity: float
    agitation: float


class Entity(_Record):
    id: str
    name: str
    role: str
    description: str
    wealth: float
    wealth_share: float
    ideology: Ideology
    p_acquiescence: float
    p_revolution: float
    subsistence_threshold: float
    organization: float
    repression_faced: float
    effective_wealth: float
    unearned_increment: float
    ppp_multiplier: float
    active: bool
    s_bio: float
    s_class: float
    subsistence_multiplier: float
    population: int
    inequality: float
    county_fips: str | None
    community_memberships: list[Any]
    community_cost_modifier: float
    entitlement: float
    volatility: float
    fascist_alignment: float
    aligned_faction_id: str | None
    consumption_needs: float


class Territory(_Record):
    id: str
    county_fips: str | None
    h3_index: str | None
    name: str
    sector_type: str
    territory_type: str
    host_id: str | None
    occupant_id: str | None
    profile: str
    heat: float
    rent_level: float
    population: int
    under_eviction: bool
    biocapacity: float
    max_biocapacity: float
    regeneration_rate: float
    extraction_intensity: float
    raw_material_stock: float | None
    raw_material_capacity: float | None
    median_wage: float
    reserve_ratio: float
    reserve_army_stock: float
    wealth: float
    foreclosure_rate: float
    eviction_rate: float
    displacement_rate: float
    concentrated_ownership: float
    absentee_landlord_share: float
    investigation_intel: float


class Relationship(_Record):
    source_id: str
    target_id: str
    edge_type: str
    value_flow: float
    tension: float
    description: str
    subsidy_cap: float
    solidarity_strength: float
    influence_level: float | None
    support_type: str | None
    control_level: float | None
    legal_status: str | None


class Event(_Record):
    model_config = ConfigDict(frozen=True, extra="allow")

    event_type: str
    tick: int
    timestamp: str


class Contradiction(_Record):
    id: str
    type: str
    aspect_a: str
    aspect_b: str
    principal_aspect: str
    identity: float
    intensity: float
    aspect_balance: float
    form_of_struggle: str
    is_antagonistic: bool


class ContradictionFrame(_Record):
    principal: Contradiction | None
    secondary: Contradiction | None


class Market(_Record):
    price_log: float
    price_velocity: float
    fictitious_log: float
    fictitious_velocity: float
    surplus_ema: float
    value_ema: float
    tick: int
    corrections: int
    last_correction_tick: int | None


class WorldState(_Record):
    """The campaign's world state after one tick, as the engine's frozen model."""

    tick: int
    entities: dict[str, Entity]
    territories: dict[str, Territory]
    relationships: list[Relationship]
    event_log: list[str]
    events: list[Event]
    economy: dict[str, Any]
    state_finances: dict[str, Any]
    contradiction_frames: dict[str, ContradictionFrame]
    player_org_id: str | None
    wealth_distribution: dict[str, Any] | None
    market: Market | None
    market_county: dict[str, Market] | None
    opposition_states: dict[str, Any]
    field_stack: dict[str, Any]
    principal_field: dict[str, Any]
    dialectical_regime: dict[str, Any]
    organizations: dict[str, Any]
    institutions: dict[str, Any]
    institution_relations: list[Any]
    industries: dict[str, Any]
    sovereigns: dict[str, Any]
    factions: dict[str, Any]
    total_biocapacity: float
    total_consumption: float
    overshoot_ratio: float


@dataclass
class Workload:
    """Every tick of a workload, materialised in memory.

    Attributes:
        name: The workload's name, one of ``WORKLOADS``.
        ticks: The tick number of each state.
        states: One state per tick: a ``WorldState`` or a plain dict.
        contexts: The engine context after each tick, or ``None`` per tick.
        sim_config: The run's configuration, the same for every tick.
        state_type: ``WorldState`` for pydantic workloads, else ``None``.
    """

    name: str
    ticks: list[int]
    states: list[Any]
    contexts: list[Any]
    sim_config: dict[str, Any]
    state_type: type[WorldState] | None


def archive_path(data_dir: Path, campaign: str) -> Path:
    """Return where the archive of ``campaign`` is expected in ``data_dir``."""
    return data_dir / f"babylon-{campaign}.tar.zst"


def unpack_campaign(archive: Path, dest: Path, max_ticks: int | None = None) -> Path:
    """Unpack a campaign archive and return the folder holding its tick files.

    Args:
        archive: A ``babylon-*.tar.zst`` file.
        dest: An empty folder to unpack into.
        max_ticks: If given, only ticks below this number are unpacked.

    Raises:
        FileNotFoundError: The archive holds no ``tick_00000.json``.
    """

    def wanted(name: str) -> bool:
        match = _TICK_FILE.search(name)
        if match is None:
            return name.endswith(".json")
        return max_ticks is None or int(match.group(1)) < max_ticks

    dctx = zstandard.ZstdDecompressor(max_window_size=2**31)
    with (
        archive.open("rb") as raw,
        dctx.stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        for member in tar:
            if member.isfile() and wanted(member.name):
                tar.extract(member, dest, filter="data")
    found = sorted(dest.rglob("tick_00000.json"))
    if not found:
        raise FileNotFoundError(f"{archive} holds no tick_00000.json")
    return found[0].parent


def check_model_round_trip(text: str | bytes) -> None:
    """Check that ``WorldState`` reproduces one tick's JSON exactly.

    Raises:
        ValueError: The model's JSON dump differs from the parsed file.
    """
    dumped = WorldState.model_validate_json(text).model_dump(mode="json")
    if dumped != json.loads(text):
        raise ValueError("WorldState does not round-trip the campaign JSON")


def _babylon_ticks(scenario_dir: Path, limit: int | None) -> list[int]:
    ticks = sorted(
        int(Path(p).stem.split("_")[1])
        for p in glob.glob(str(scenario_dir / "tick_*.json"))
    )
    return ticks if limit is None else ticks[:limit]


def _load_babylon(spec: dict[str, Any]) -> Workload:
    scenario_dir = Path(spec["scenario_dir"])
    ticks = _babylon_ticks(scenario_dir, spec.get("ticks"))
    pydantic = spec["model"] == "pydantic"
    parse: Callable[[bytes], Any] = (
        WorldState.model_validate_json if pydantic else json.loads
    )
    states = []
    contexts = []
    for tick in ticks:
        states.append(parse((scenario_dir / f"tick_{tick:05d}.json").read_bytes()))
        context_file = scenario_dir / f"context_{tick:05d}.json"
        contexts.append(json.loads(context_file.read_bytes()))
    config_file = scenario_dir / "simulation_config.json"
    sim_config = json.loads(config_file.read_bytes()) if config_file.exists() else {}
    return Workload(
        name=spec["name"],
        ticks=ticks,
        states=states,
        contexts=contexts,
        sim_config=sim_config,
        state_type=WorldState if pydantic else None,
    )


def _field_kinds(count: int) -> list[tuple[str, str]]:
    cycle = ("float", "int", "str", "float", "bool", "int", "float", "tags")
    fields = [("id", "id")]
    for index in range(1, count):
        kind = cycle[(index - 1) % len(cycle)]
        fields.append((f"{kind}_{index:02d}", kind))
    return fields


_WORDS = (
    *("north", "south", "east", "west", "river", "hill", "forest", "plain"),
    *("coast", "marsh", "ridge", "vale", "iron", "grain", "salt", "wool"),
    *("timber", "stone", "copper", "silk"),
)


def _value(kind: str, rng: random.Random) -> Any:
    if kind == "float":
        return round(rng.uniform(-1000.0, 1000.0), 6)
    if kind == "int":
        return rng.randrange(1_000_000)
    if kind == "str":
        return f"{rng.choice(_WORDS)}-{rng.choice(_WORDS)}-{rng.randrange(100)}"
    if kind == "bool":
        return rng.random() < 0.5
    return [rng.choice(_WORDS) for _ in range(rng.randrange(1, 4))]


def synthetic_states(**params: Any) -> Iterator[dict[str, Any]]:
    """Yield the synthetic world, one fresh state per tick, forever.

    Every tick rebuilds every dict and list of the state, so no container is
    shared between consecutive states; scalars may be. Each tick changes
    ``change_rate`` of the records (one to three fields each),
    ``edge_change_rate`` of the edges (their weight), and appends
    ``append_rate`` events to a list that only grows.

    Args:
        **params: Any of the keys of ``SYNTHETIC_DEFAULTS``.
    """
    opts = {**SYNTHETIC_DEFAULTS, **params}
    rng = random.Random(opts["seed"])
    fields = _field_kinds(opts["fields"])
    names = [name for name, _ in fields]
    list_columns = [i for i, (_, kind) in enumerate(fields) if kind == "tags"]
    ids = [f"r{i:06d}" for i in range(opts["records"])]
    rows = [[rid] + [_value(kind, rng) for _, kind in fields[1:]] for rid in ids]
    edge_keys = ("source", "target", "kind", "weight")
    edges = [
        [rng.choice(ids), rng.choice(ids), rng.choice(_WORDS), _value("float", rng)]
        for _ in range(opts["edges"])
    ]
    events: list[tuple[Any, ...]] = []
    n_changed = round(opts["change_rate"] * len(rows))
    n_edges_changed = round(opts["edge_change_rate"] * len(edges))
    tick = 0
    while True:
        if tick > 0:
            for row in rng.sample(rows, n_changed):
                for column in rng.sample(range(1, len(fields)), rng.randint(1, 3)):
                    row[column] = _value(fields[column][1], rng)
            for edge in rng.sample(edges, n_edges_changed):
                edge[3] = _value("float", rng)
            for _ in range(opts["append_rate"]):
                events.append((tick, rng.choice(_WORDS), rng.choice(ids), rng.random()))
        records = {}
        for row in rows:
            record = dict(zip(names, row, strict=True))
            for column in list_columns:
                record[names[column]] = list(row[column])
            records[row[0]] = record
        yield {
            "tick": tick,
            "records": records,
            "edges": [dict(zip(edge_keys, edge, strict=True)) for edge in edges],
            "events": [
                {"tick": t, "kind": k, "subject": s, "value": v}
                for t, k, s, v in events
            ],
            "summary": {"changed": n_changed, "events": len(events)},
        }
        tick += 1


def _load_synthetic(spec: dict[str, Any]) -> Workload:
    params = {key: spec.get(key, value) for key, value in SYNTHETIC_DEFAULTS.items()}
    generator = synthetic_states(**params)
    states = [next(generator) for _ in range(spec["ticks"])]
    return Workload(
        name=spec["name"],
        ticks=[state["tick"] for state in states],
        states=states,
        contexts=[None] * len(states),
        sim_config={"generator": "synthetic", **params},
        state_type=None,
    )


def load_workload(spec: dict[str, Any]) -> Workload:
    """Materialise the workload that ``spec`` describes.

    Args:
        spec: ``{"name", "kind": "babylon", "model": "pydantic" | "dict",
            "scenario_dir", "ticks"}`` or ``{"name", "kind": "synthetic",
            "ticks", ...SYNTHETIC_DEFAULTS}``.
    """
    if spec["kind"] == "babylon":
        return _load_babylon(spec)
    return _load_synthetic(spec)


def _ms_of(ns: float) -> float:
    return ns / 1e6


def measure_floor(spec: dict[str, Any]) -> dict[str, Any]:
    """Time one ``msgpack.packb`` over each checkpointed state: the floor.

    For pydantic states the floor is ``packb(state.model_dump())``, and the
    time of ``model_dump()`` is reported beside it. The pydantic model's JSON
    round trip is checked here, once per workload, on the last tick.
    """
    workload_spec = spec["workload"]
    workload = load_workload(workload_spec)
    if workload.state_type is not None:
        last = workload.ticks[-1]
        path = Path(workload_spec["scenario_dir"]) / f"tick_{last:05d}.json"
        check_model_round_trip(path.read_bytes())
    gc.collect()
    gc.freeze()

    dumps: list[int] = []
    packs: list[int] = []
    json_sizes: list[int] = []
    packed_sizes: list[int] = []
    for tick, state in zip(workload.ticks, workload.states, strict=True):
        if tick % spec["interval"]:
            continue
        start = time.perf_counter_ns()
        plain = state.model_dump() if workload.state_type is not None else state
        dumped = time.perf_counter_ns()
        packed = msgpack.packb(plain)
        packs.append(time.perf_counter_ns() - dumped)
        dumps.append(dumped - start)
        packed_sizes.append(len(packed))
        if workload.state_type is not None:
            json_sizes.append(len(state.model_dump_json()))
        else:
            json_sizes.append(len(json.dumps(state, separators=(",", ":"))))
    return {
        "status": "ok",
        "ticks": len(workload.ticks),
        "checkpoints": len(packs),
        "packb_ms_median": _ms_of(statistics.median(packs)),
        "model_dump_ms_median": (
            _ms_of(statistics.median(dumps))
            if workload.state_type is not None
            else None
        ),
        "state_json_bytes_median": statistics.median(json_sizes),
        "state_json_bytes_last": json_sizes[-1],
        "state_msgpack_bytes_median": statistics.median(packed_sizes),
        "model_round_trip_ok": workload.state_type is not None or None,
    }
