"""The background mode's contract, and failures of the committer thread.

In background mode `on_step` returns once the state is encoded; the manifest
appears at the returned path once the committer publishes it, `wait` waits
for that, and a failed write is raised by the next call. Failures here are
real: a folder standing where the next manifest must go makes the rename
fail inside the committer thread.
"""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import tickvault
from tickvault import (
    AutoCheckpointer,
    CheckpointConfig,
    CheckpointWriteError,
    Vault,
    list_checkpoints,
    load_checkpoint,
)

CONFIG = {"rng_seed": 0}
SRC_DIR = Path(tickvault.__file__).resolve().parents[1]


def state_at(tick: int) -> dict[str, Any]:
    return {
        "tick": tick,
        "records": {f"r{i:04d}": {"i": i, "v": (i * tick) % 97} for i in range(300)},
        "log": [f"tick {t}: event" for t in range(tick * 3)],
    }


def background(tmp_path: Path, **overrides: Any) -> AutoCheckpointer:
    settings = {"interval": 1, "max_checkpoints": 0, "fsync": False}
    settings.update(overrides)
    return AutoCheckpointer(
        CheckpointConfig(background=True, **settings), base_dir=tmp_path
    )


def block_manifest(vault_dir: Path, position: int, tick: int) -> Path:
    """Put a folder where the manifest of ``position`` will be renamed to."""
    blocker = vault_dir / "manifests" / f"{position:012d}-t{tick:012d}.manifest"
    blocker.mkdir(parents=True)
    (blocker / "keep").write_text("a folder that no rename can replace")
    return blocker


def test_every_returned_path_loads_its_state_after_wait(tmp_path: Path) -> None:
    checkpointer = background(tmp_path)

    paths = [checkpointer.on_step(state_at(tick), CONFIG) for tick in range(6)]
    checkpointer.wait()

    for tick, path in enumerate(paths):
        assert path is not None
        assert load_checkpoint(path).state == state_at(tick)
    checkpointer.close()


def test_the_state_is_captured_when_on_step_returns(tmp_path: Path) -> None:
    """Mutating the state after on_step returns does not reach the checkpoint."""
    checkpointer = background(tmp_path)
    state = state_at(3)

    path = checkpointer.on_step(state, CONFIG)
    state["records"]["r0000"]["v"] = "changed after the call"
    state["log"].append("late line")
    checkpointer.wait()

    assert path is not None
    assert load_checkpoint(path).state == state_at(3)
    checkpointer.close()


def test_close_publishes_what_was_queued(tmp_path: Path) -> None:
    checkpointer = background(tmp_path)
    paths = [checkpointer.on_step(state_at(tick), CONFIG) for tick in range(4)]

    checkpointer.close()

    assert [path for path, _ in list_checkpoints(checkpointer.checkpoint_dir)] == paths


def test_rotation_keeps_max_checkpoints_once_published(tmp_path: Path) -> None:
    checkpointer = background(tmp_path, max_checkpoints=3)

    paths = [checkpointer.on_step(state_at(tick), CONFIG) for tick in range(8)]
    checkpointer.wait()

    listed = [path for path, _ in list_checkpoints(checkpointer.checkpoint_dir)]
    assert listed == paths[-3:]
    checkpointer.close()


def test_load_latest_waits_for_the_queue(tmp_path: Path) -> None:
    checkpointer = background(tmp_path)
    for tick in range(5):
        checkpointer.on_step(state_at(tick), CONFIG)

    latest = checkpointer.load_latest()

    assert latest is not None
    assert latest.state == state_at(4)
    checkpointer.close()


def test_a_failed_background_write_is_raised_by_the_next_call(tmp_path: Path) -> None:
    checkpointer = background(tmp_path)
    checkpointer.on_step(state_at(0), CONFIG)
    checkpointer.wait()
    block_manifest(checkpointer.checkpoint_dir, position=1, tick=1)

    checkpointer.on_step(state_at(1), CONFIG)

    with pytest.raises(CheckpointWriteError) as caught:
        checkpointer.wait()
    assert "000000000001-t000000000001.manifest" in str(caught.value)
    checkpointer.close()


def test_checkpoints_queued_behind_a_failure_are_not_published(
    tmp_path: Path,
) -> None:
    """A later checkpoint may name the failed one's objects, so it is dropped."""
    checkpointer = background(tmp_path)
    checkpointer.on_step(state_at(0), CONFIG)
    checkpointer.wait()
    block_manifest(checkpointer.checkpoint_dir, position=1, tick=1)

    checkpointer.on_step(state_at(1), CONFIG)
    checkpointer.on_step(state_at(2), CONFIG)
    with pytest.raises(CheckpointWriteError):
        checkpointer.wait()

    listed = list_checkpoints(checkpointer.checkpoint_dir)
    assert [meta.tick for _, meta in listed] == [0]
    checkpointer.close()


def test_checkpoints_published_before_a_failure_still_load(tmp_path: Path) -> None:
    checkpointer = background(tmp_path)
    good = [checkpointer.on_step(state_at(tick), CONFIG) for tick in range(3)]
    checkpointer.wait()
    block_manifest(checkpointer.checkpoint_dir, position=3, tick=3)
    checkpointer.on_step(state_at(3), CONFIG)
    with pytest.raises(CheckpointWriteError):
        checkpointer.wait()

    for tick, path in enumerate(good):
        assert path is not None
        assert load_checkpoint(path).state == state_at(tick)
    checkpointer.close()


def test_the_vault_takes_checkpoints_again_after_a_failure(tmp_path: Path) -> None:
    """After the failure is raised, the writer starts afresh and works."""
    checkpointer = background(tmp_path)
    checkpointer.on_step(state_at(0), CONFIG)
    checkpointer.wait()
    blocker = block_manifest(checkpointer.checkpoint_dir, position=1, tick=1)
    checkpointer.on_step(state_at(1), CONFIG)
    with pytest.raises(CheckpointWriteError):
        checkpointer.wait()
    (blocker / "keep").unlink()
    blocker.rmdir()

    path = checkpointer.on_step(state_at(5), CONFIG)
    checkpointer.wait()

    assert path is not None
    assert load_checkpoint(path).state == state_at(5)
    listed = list_checkpoints(checkpointer.checkpoint_dir)
    assert [meta.tick for _, meta in listed] == [0, 5]
    checkpointer.close()


def test_a_failed_synchronous_commit_raises_at_once_and_is_retried(
    vault_dir: Path,
) -> None:
    with Vault(vault_dir, create=True, fsync=False) as vault:
        vault.commit(state_at(0), CONFIG)
        blocker = block_manifest(vault_dir, position=1, tick=1)

        with pytest.raises(CheckpointWriteError):
            vault.commit(state_at(1), CONFIG)
        (blocker / "keep").unlink()
        blocker.rmdir()
        path = vault.commit(state_at(1), CONFIG)

        assert vault.read(path).state == state_at(1)


_KILLED_WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {src!r})
    from tickvault import AutoCheckpointer, CheckpointConfig
    config = CheckpointConfig(interval=1, max_checkpoints=0, fsync=False,
                              background=True)
    checkpointer = AutoCheckpointer(config, base_dir={base!r})
    tick = 0
    while True:
        state = {{"tick": tick, "records": {{f"r{{i}}": i * tick for i in range(400)}},
                  "log": ["line %d" % t for t in range(tick)]}}
        checkpointer.on_step(state, {{"rng_seed": 0}})
        tick += 1
        if tick == 3:
            print("ready", flush=True)
    """
)


def test_every_published_checkpoint_loads_after_a_background_writer_is_killed(
    tmp_path: Path,
) -> None:
    script = _KILLED_WRITER.format(src=str(SRC_DIR), base=str(tmp_path))
    for delay in (0.0, 0.05, 0.2):
        child = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

        for path, meta in list_checkpoints(tmp_path / "checkpoints"):
            loaded = load_checkpoint(path)
            assert loaded.state["tick"] == meta.tick


def test_a_checkpointer_dropped_without_close_publishes_and_frees_the_vault(
    tmp_path: Path,
) -> None:
    def run_and_drop() -> list[Path | None]:
        checkpointer = background(tmp_path)
        return [checkpointer.on_step(state_at(tick), CONFIG) for tick in range(4)]

    paths = run_and_drop()
    gc.collect()
    deadline = time.monotonic() + 10
    while len(list_checkpoints(tmp_path / "checkpoints")) < 4:
        assert time.monotonic() < deadline, "queued checkpoints were not published"
        time.sleep(0.01)

    with Vault(tmp_path / "checkpoints", fsync=False) as vault:
        vault.commit(state_at(9), CONFIG)
        assert [meta.path for meta in vault.log()][:4] == paths
