"""A small deterministic simulation that shows what the vault does with a run.

The demo world has the shape of the states tickvault is built for: a keyed
collection of a few thousand settlements of which a few percent change each
tick, a list of relations that is edited in place and now and then appended
to, and an event log that only grows. Every tick builds the whole world again
from new objects, unchanged records included, the way engines that copy or
deserialize their models do; so whatever the vault saves on an unchanged
record it saves by content, never by object identity.

The random generator belongs to the engine, not to the world. It travels in
the checkpoint's ``context``, which is what makes an exact resume possible:
`resume` continues a history from a checkpointed world and its context, and
yields the same worlds as a run that was never interrupted. All randomness is
drawn from ``random.Random`` instances seeded with strings (which, unlike
``hash``, do not vary between processes) in a fixed order, so under one Python
version a seed names one history. Floats are rounded as they are made, so that
they stay short in ``tickvault show --json``.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .checkpointer import AutoCheckpointer, CheckpointConfig

__all__ = [
    "DEFAULT_CONFIG",
    "DemoConfig",
    "DemoSummary",
    "Relation",
    "Settlement",
    "World",
    "engine_context",
    "engine_rng",
    "history",
    "initial_world",
    "resume",
    "run_demo",
    "step",
]

logger = logging.getLogger(__name__)

_REGIONS = ("Akkad", "Sumer", "Elam", "Assur", "Mari", "Larsa", "Isin", "Kish")
_SYLLABLES = ("ba", "bel", "dur", "ki", "la", "mar", "nin", "ur", "sip", "ka")
_GOODS = ("grain", "dates", "timber", "copper", "wool", "salt")
_RELATION_KINDS = ("trade", "alliance", "rivalry", "tribute")
_HAPPENINGS = (
    "held a festival",
    "lost a granary to fire",
    "opened a new canal",
    "suffered a flood",
    "crowned a new ruler",
    "repaired its walls",
    "received a caravan",
    "sent envoys abroad",
)


@dataclass(frozen=True)
class DemoConfig:
    """The parameters of the demo world, passed to the checkpointer as config.

    Attributes:
        settlements: How many settlements the world starts with.
        relations: How many relations between settlements it starts with.
        change_fraction: The share of settlements that change each tick.
        relation_edits: How many relations change strength each tick.
        founding_chance: The chance that a new settlement appears in a tick.
    """

    settlements: int = 3000
    relations: int = 4000
    change_fraction: float = 0.03
    relation_edits: int = 6
    founding_chance: float = 0.2

    def __post_init__(self) -> None:
        if self.settlements < 2:
            raise ValueError(f"'settlements' must be >= 2 (got {self.settlements})")
        if self.relations < 1:
            raise ValueError(f"'relations' must be >= 1 (got {self.relations})")
        if not 0.0 <= self.change_fraction <= 1.0:
            raise ValueError(
                f"'change_fraction' must be in [0, 1] (got {self.change_fraction})"
            )


DEFAULT_CONFIG = DemoConfig()


@dataclass(frozen=True)
class Settlement:
    """One record of the world's keyed collection."""

    id: str
    name: str
    region: str
    founded: int
    ruler: str
    population: int
    households: int
    garrison: int
    wealth: float
    food: float
    morale: float
    tax_rate: float
    x: float
    y: float
    walled: bool
    stocks: dict[str, int]


@dataclass(frozen=True)
class Relation:
    """A directed tie between two settlements."""

    source: str
    target: str
    kind: str
    strength: float
    since: int


@dataclass(frozen=True)
class World:
    """The whole state of the demo simulation at one tick."""

    tick: int
    seed: int
    settlements: dict[str, Settlement]
    relations: list[Relation]
    events: list[str]


@dataclass(frozen=True)
class DemoSummary:
    """What a demo run wrote, as measured on its vault.

    Attributes:
        vault: The folder of the vault the run wrote into.
        seed: The seed of the simulated history.
        ticks: How many ticks were simulated after tick 0.
        checkpoints: How many checkpoints the vault holds.
        logical_bytes: The sum of the checkpoints' logical sizes.
        disk_bytes: The bytes of every file in the vault.
        median_ms: The median wall time of an ``on_step`` call that wrote a
            checkpoint, in milliseconds.
    """

    vault: Path
    seed: int
    ticks: int
    checkpoints: int
    logical_bytes: int
    disk_bytes: int
    median_ms: float

    @property
    def dedup_ratio(self) -> float:
        """Logical bytes per byte on disk: deduplication and compression together."""
        return self.logical_bytes / self.disk_bytes if self.disk_bytes else 0.0


def _name(rng: random.Random) -> str:
    syllables = rng.randint(2, 3)
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def _new_settlement(rng: random.Random, number: int, tick: int) -> Settlement:
    population = rng.randint(200, 20_000)
    return Settlement(
        id=f"S{number:05d}",
        name=_name(rng),
        region=rng.choice(_REGIONS),
        founded=tick,
        ruler=_name(rng),
        population=population,
        households=population // rng.randint(4, 7),
        garrison=rng.randint(0, population // 20),
        wealth=round(rng.uniform(10.0, 5000.0), 2),
        food=round(rng.uniform(0.2, 3.0), 3),
        morale=round(rng.uniform(0.3, 1.0), 3),
        tax_rate=round(rng.uniform(0.05, 0.3), 3),
        x=round(rng.uniform(0.0, 1000.0), 2),
        y=round(rng.uniform(0.0, 1000.0), 2),
        walled=rng.random() < 0.3,
        stocks={good: rng.randint(0, 5000) for good in _GOODS},
    )


def _new_relation(rng: random.Random, ids: list[str], tick: int) -> Relation:
    source, target = rng.sample(ids, 2)
    return Relation(
        source=source,
        target=target,
        kind=rng.choice(_RELATION_KINDS),
        strength=round(rng.uniform(0.0, 1.0), 3),
        since=tick,
    )


def initial_world(seed: int, config: DemoConfig = DEFAULT_CONFIG) -> World:
    """Build the world at tick 0 for ``seed``.

    The world is drawn from its own generator, so it does not depend on the
    engine's generator from `engine_rng`.
    """
    rng = random.Random(f"tickvault-demo-world:{seed}")
    settlements = {}
    for number in range(config.settlements):
        settlement = _new_settlement(rng, number, 0)
        settlements[settlement.id] = settlement
    ids = list(settlements)
    relations = [_new_relation(rng, ids, 0) for _ in range(config.relations)]
    events = [f"tick 0: {len(settlements)} settlements founded the world"]
    return World(
        tick=0, seed=seed, settlements=settlements, relations=relations, events=events
    )


def engine_rng(seed: int) -> random.Random:
    """Return the engine's generator as it stands before tick 1 of ``seed``."""
    return random.Random(f"tickvault-demo-engine:{seed}")


def engine_context(rng: random.Random) -> dict[str, object]:
    """Return what the engine carries between ticks, for a checkpoint's context."""
    return {"rng_state": rng.getstate()}


def _rng_from_context(context: Mapping[str, object]) -> random.Random:
    state = context.get("rng_state")
    if not isinstance(state, list | tuple) or len(state) != 3:
        raise ValueError(f"context has no usable 'rng_state' (got {state!r:.60})")
    version, internal, gauss_next = state
    if not isinstance(internal, list | tuple):
        raise ValueError("context 'rng_state' holds no generator words")
    rng = random.Random()
    rng.setstate((version, tuple(internal), gauss_next))
    return rng


def _rebuilt(settlement: Settlement) -> Settlement:
    """Return an equal settlement that shares no object with ``settlement``.

    Calling the constructor directly is several times faster than
    ``dataclasses.replace``, which matters at a few thousand records a tick.
    """
    return Settlement(**{**vars(settlement), "stocks": dict(settlement.stocks)})


def _evolve(
    settlement: Settlement, rng: random.Random, tick: int, events: list[str]
) -> Settlement:
    growth = rng.gauss(0.004, 0.02)
    population = max(50, int(settlement.population * (1.0 + growth)))
    stocks = dict(settlement.stocks)
    good = rng.choice(_GOODS)
    stocks[good] = max(0, stocks[good] + rng.randint(-400, 400))
    morale = min(1.0, max(0.0, settlement.morale + rng.uniform(-0.05, 0.05)))
    changed = dataclasses.replace(
        settlement,
        population=population,
        households=population // 5,
        wealth=round(max(0.0, settlement.wealth * rng.uniform(0.95, 1.07)), 2),
        food=round(max(0.0, settlement.food + rng.uniform(-0.1, 0.1)), 3),
        morale=round(morale, 3),
        stocks=stocks,
    )
    if rng.random() < 0.05:
        happening = rng.choice(_HAPPENINGS)
        events.append(f"tick {tick}: {settlement.name} ({settlement.id}) {happening}")
    return changed


def step(
    world: World, rng: random.Random, config: DemoConfig = DEFAULT_CONFIG
) -> World:
    """Return the world one tick after ``world``, drawing from ``rng``.

    ``world`` is left as it was. Every record of the result is a new object,
    whether or not it changed.
    """
    tick = world.tick + 1
    ids = list(world.settlements)
    changing = set(rng.sample(ids, max(1, round(len(ids) * config.change_fraction))))
    events = list(world.events)

    settlements = {}
    for settlement_id, settlement in world.settlements.items():
        if settlement_id in changing:
            settlements[settlement_id] = _evolve(settlement, rng, tick, events)
        else:
            settlements[settlement_id] = _rebuilt(settlement)
    if rng.random() < config.founding_chance:
        founded = _new_settlement(rng, len(ids), tick)
        settlements[founded.id] = founded
        events.append(f"tick {tick}: {founded.name} ({founded.id}) was founded")

    relations = [Relation(**vars(relation)) for relation in world.relations]
    for _ in range(config.relation_edits):
        index = rng.randrange(len(relations))
        relations[index] = dataclasses.replace(
            relations[index], strength=round(rng.uniform(0.0, 1.0), 3)
        )
    if rng.random() < 0.5:
        relations.append(_new_relation(rng, list(settlements), tick))

    population = sum(settlement.population for settlement in settlements.values())
    events.append(f"tick {tick}: census counts {population} people")
    return World(
        tick=tick,
        seed=world.seed,
        settlements=settlements,
        relations=relations,
        events=events,
    )


def _continue(
    world: World, rng: random.Random, config: DemoConfig
) -> Iterator[tuple[World, dict[str, object]]]:
    while True:
        world = step(world, rng, config)
        yield world, engine_context(rng)


def history(
    seed: int, config: DemoConfig = DEFAULT_CONFIG
) -> Iterator[tuple[World, dict[str, object]]]:
    """Yield the world of each tick from tick 0 on, with the engine's context.

    The context that comes with a world is what `resume` needs to continue
    from that world. The iterator never ends; slice it.
    """
    world = initial_world(seed, config)
    rng = engine_rng(seed)
    yield world, engine_context(rng)
    yield from _continue(world, rng, config)


def resume(
    world: World, context: Mapping[str, object], config: DemoConfig = DEFAULT_CONFIG
) -> Iterator[tuple[World, dict[str, object]]]:
    """Continue a history from ``world`` and the context saved with it.

    The first item is the world of the tick after ``world``.

    Raises:
        ValueError: If ``context`` is not one that `history` produced.
    """
    return _continue(world, _rng_from_context(context), config)


def run_demo(
    directory: Path,
    *,
    ticks: int = 100,
    interval: int = 10,
    fsync: bool = True,
    seed: int = 0,
    config: DemoConfig = DEFAULT_CONFIG,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Simulate ``ticks`` ticks with an `AutoCheckpointer` on the vault ``directory``.

    Every ``interval``-th tick, tick 0 included, is checkpointed, and none is
    rotated away. The figures of the summary are measured on the vault after
    the run, so a vault that already held checkpoints counts them too.

    Args:
        directory: The vault's folder; the checkpointer creates it if needed.
        ticks: How many ticks to simulate after tick 0.
        interval: How many ticks apart the checkpoints are.
        fsync: Whether the vault fsyncs its writes.
        seed: The seed of the history.
        config: The shape of the world.
        progress: Called as ``progress(tick, ticks)`` after each tick.

    Returns:
        The summary of the run.
    """
    checkpoint_config = CheckpointConfig(
        interval=interval, checkpoint_dir=".", max_checkpoints=0, fsync=fsync
    )
    seconds: list[float] = []
    with AutoCheckpointer(checkpoint_config, base_dir=directory) as checkpointer:
        for world, context in itertools.islice(history(seed, config), ticks + 1):
            started = time.perf_counter()
            written = checkpointer.on_step(world, config, context=context)
            if written is not None:
                seconds.append(time.perf_counter() - started)
            if progress is not None:
                progress(world.tick, ticks)
        vault = checkpointer.vault
        log = vault.log()
        disk_bytes = vault.disk_usage()

    summary = DemoSummary(
        vault=checkpointer.checkpoint_dir,
        seed=seed,
        ticks=ticks,
        checkpoints=len(log),
        logical_bytes=sum(metadata.logical_bytes for metadata in log),
        disk_bytes=disk_bytes,
        median_ms=statistics.median(seconds) * 1000.0 if seconds else 0.0,
    )
    logger.info(
        "demo vault %s: %d checkpoints, %d logical bytes, %d bytes on disk",
        summary.vault,
        summary.checkpoints,
        summary.logical_bytes,
        summary.disk_bytes,
    )
    return summary
