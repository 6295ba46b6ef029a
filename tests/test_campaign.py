"""A whole campaign of real data: every tick checkpointed and read back equal.

The data are real runs of a strategy simulation (see
``../shared/data/README.md``): a JSON world state and the engine's carried
context per tick, and one simulation config per run.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from strategies import same_value
from tickvault import AutoCheckpointer, CheckpointConfig, load_checkpoint

SCENARIOS = ["imperial_circuit", "single_county"]


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


@pytest.fixture(params=SCENARIOS)
def scenario(request: pytest.FixtureRequest, campaign_data: dict[str, Path]) -> Path:
    if request.param not in campaign_data:
        pytest.skip(f"scenario {request.param} not in the shared campaign data")
    return campaign_data[request.param]


def ticks_of(folder: Path) -> list[int]:
    return sorted(
        int(path.stem.removeprefix("tick_")) for path in folder.glob("tick_*.json")
    )


def test_every_tick_of_a_campaign_is_checkpointed_and_reads_back_equal(
    scenario: Path, tmp_path: Path
) -> None:
    sim_config = read_json(scenario / "simulation_config.json")
    config = CheckpointConfig(interval=1, max_checkpoints=0, fsync=False)
    written: list[tuple[int, Path]] = []

    with AutoCheckpointer(config, base_dir=tmp_path) as checkpointer:
        for tick in ticks_of(scenario):
            state = read_json(scenario / f"tick_{tick:05d}.json")
            context = read_json(scenario / f"context_{tick:05d}.json")
            path = checkpointer.on_step(state, sim_config, context=context)
            assert path is not None, f"tick {tick} was not checkpointed"
            written.append((tick, path))

    assert len(written) == 521
    for tick, path in written:
        checkpoint = load_checkpoint(path)
        assert checkpoint.metadata.tick == tick
        assert same_value(
            checkpoint.state, read_json(scenario / f"tick_{tick:05d}.json")
        )
        assert same_value(
            checkpoint.context, read_json(scenario / f"context_{tick:05d}.json")
        )
        assert same_value(checkpoint.config, sim_config)


def test_a_campaign_is_stored_in_far_less_than_its_json(
    scenario: Path, tmp_path: Path
) -> None:
    """Dedup across ticks: the vault is a small fraction of the raw JSON."""
    sim_config = read_json(scenario / "simulation_config.json")
    config = CheckpointConfig(interval=1, max_checkpoints=0, fsync=False)
    raw_json = 0

    with AutoCheckpointer(config, base_dir=tmp_path) as checkpointer:
        for tick in ticks_of(scenario)[:200]:
            tick_file = scenario / f"tick_{tick:05d}.json"
            raw_json += tick_file.stat().st_size
            checkpointer.on_step(read_json(tick_file), sim_config)
        on_disk = checkpointer.vault.disk_usage()

    assert on_disk < raw_json / 5
