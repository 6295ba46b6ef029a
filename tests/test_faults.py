"""Fault injection on real files: damage, interruptions, full disks, rivals.

No mocks: every test damages bytes on disk, kills a real writer process or
makes the operating system refuse a write, and then checks that tickvault
answers with the right member of its error family and that nothing that was
published before the fault is lost.
"""

import errno
import json
import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tickvault
from tickvault import (
    CheckpointCorruptedError,
    CheckpointIOError,
    CheckpointNotFoundError,
    CheckpointSchemaError,
    CheckpointWriteError,
    Vault,
    VaultLockedError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    validate_checkpoint_file,
)

CONFIG = {"rng_seed": 0}
SRC_DIR = Path(tickvault.__file__).resolve().parents[1]
OBJECT_PATH = re.compile(r"objects/[0-9a-f]{2}/[0-9a-f]{62}")


def sample_state(tick: int = 0) -> dict[str, Any]:
    return {
        "tick": tick,
        "entities": {
            f"e{index:04d}": {"id": index, "w": index * 0.5} for index in range(150)
        },
        "event_log": [f"tick {index}: something happened" for index in range(200)],
        "name": "sample",
    }


def object_files(vault_dir: Path) -> list[Path]:
    return sorted(path for path in (vault_dir / "objects").rglob("*") if path.is_file())


def hex_id_of(object_file: Path) -> str:
    return object_file.parent.name + object_file.name


def all_files(vault_dir: Path) -> set[Path]:
    return {
        path.relative_to(vault_dir) for path in vault_dir.rglob("*") if path.is_file()
    }


def overwrite(path: Path, data: bytes) -> None:
    # Objects are published read-only; damage needs write access first.
    path.chmod(0o644)
    path.write_bytes(data)


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    overwrite(path, bytes(data))


def truncate(path: Path, size: int) -> None:
    overwrite(path, path.read_bytes()[:size])


def write_vault(vault_dir: Path, states: list[dict[str, Any]]) -> list[Path]:
    with Vault(vault_dir, create=True, fsync=False) as vault:
        return [
            vault.commit(state, CONFIG, description=f"#{i}")
            for i, state in enumerate(states)
        ]


@pytest.fixture
def one_checkpoint(vault_dir: Path) -> Path:
    """A vault with a single checkpoint; returns its manifest path."""
    (path,) = write_vault(vault_dir, [sample_state()])
    return path


def run_python(code: str, *args: str, **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(SRC_DIR)}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        text=True,
        **kwargs,
    )


# -- missing files ------------------------------------------------------------


def test_missing_manifest_is_checkpoint_not_found(one_checkpoint: Path) -> None:
    missing = one_checkpoint.with_name("00000099-does-not-exist")

    with pytest.raises(CheckpointNotFoundError):
        load_checkpoint(missing)


def test_missing_manifest_is_also_a_file_not_found_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nowhere" / "manifests" / "nothing")


def test_deleted_manifest_is_checkpoint_not_found(one_checkpoint: Path) -> None:
    one_checkpoint.unlink()

    with pytest.raises(CheckpointNotFoundError):
        load_checkpoint(one_checkpoint)


def test_opening_a_vault_that_does_not_exist_is_checkpoint_not_found(
    tmp_path: Path,
) -> None:
    with pytest.raises(CheckpointNotFoundError):
        Vault(tmp_path / "no-vault-here")


def test_missing_object_file_is_an_error_naming_the_object(
    vault_dir: Path, one_checkpoint: Path
) -> None:
    for victim in object_files(vault_dir):
        saved = victim.read_bytes()
        victim.unlink()

        with pytest.raises(CheckpointIOError) as caught:
            load_checkpoint(one_checkpoint)

        assert isinstance(
            caught.value, (CheckpointNotFoundError, CheckpointCorruptedError)
        )
        assert hex_id_of(victim) in str(caught.value)
        victim.write_bytes(saved)


# -- damaged manifests -----------------------------------------------------------


@pytest.mark.parametrize("keep", ["nothing", "one byte", "half", "all but one"])
def test_truncated_manifest_is_corruption_naming_the_file(
    one_checkpoint: Path, keep: str
) -> None:
    length = one_checkpoint.stat().st_size
    size = {"nothing": 0, "one byte": 1, "half": length // 2, "all but one": length - 1}
    truncate(one_checkpoint, size[keep])

    with pytest.raises(CheckpointCorruptedError) as caught:
        load_checkpoint(one_checkpoint)

    assert caught.value.path == one_checkpoint


def test_flipped_byte_in_the_middle_of_a_manifest_is_corruption_naming_the_file(
    one_checkpoint: Path,
) -> None:
    flip_byte(one_checkpoint, one_checkpoint.stat().st_size // 2)

    with pytest.raises(CheckpointCorruptedError) as caught:
        load_checkpoint(one_checkpoint)

    assert caught.value.path == one_checkpoint


@pytest.fixture(scope="module")
def shared_checkpoints(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three checkpoints of an evolving state, for damage-and-restore tests."""
    vault_dir = tmp_path_factory.mktemp("shared") / "vault"
    states = [sample_state(0), sample_state(1), sample_state(2)]
    states[1]["entities"]["e0007"]["w"] = -1.0
    states[2]["event_log"].append("tick 2: one more")
    return write_vault(vault_dir, states)


@given(data=st.data())
def test_a_flipped_byte_anywhere_in_a_manifest_never_loads(
    shared_checkpoints: list[Path], data: st.DataObject
) -> None:
    """Magic, version, body or checksum: any damage is our error, never data."""
    manifest = data.draw(st.sampled_from(shared_checkpoints))
    original = manifest.read_bytes()
    offset = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    flip_byte(manifest, offset)

    try:
        with pytest.raises((CheckpointCorruptedError, CheckpointSchemaError)):
            load_checkpoint(manifest)
    finally:
        overwrite(manifest, original)


@given(data=st.data())
def test_a_flipped_byte_in_any_object_is_corruption_or_reads_correctly(
    shared_checkpoints: list[Path], data: st.DataObject
) -> None:
    """Damage in any object is caught; no checkpoint ever reads wrong data."""
    vault_dir = shared_checkpoints[0].parents[1]
    expected = [load_checkpoint(path).state for path in shared_checkpoints]
    victim = data.draw(st.sampled_from(object_files(vault_dir)))
    original = victim.read_bytes()
    offset = data.draw(st.integers(min_value=0, max_value=len(original) - 1))
    flip_byte(victim, offset)

    try:
        for path, state in zip(shared_checkpoints, expected, strict=True):
            try:
                read_back = load_checkpoint(path).state
            except CheckpointCorruptedError:
                continue
            assert read_back == state
    finally:
        overwrite(victim, original)


# -- damaged objects ------------------------------------------------------------

OBJECT_DAMAGE = {
    "first byte flipped": lambda path: flip_byte(path, 0),
    "middle byte flipped": lambda path: flip_byte(path, path.stat().st_size // 2),
    "last byte flipped": lambda path: flip_byte(path, path.stat().st_size - 1),
    "truncated to half": lambda path: truncate(path, path.stat().st_size // 2),
    "emptied": lambda path: truncate(path, 0),
}


@pytest.mark.parametrize("damage", OBJECT_DAMAGE.values(), ids=OBJECT_DAMAGE)
def test_damaged_object_is_corruption_naming_its_file_and_id(
    vault_dir: Path, one_checkpoint: Path, damage: Any
) -> None:
    """Each object in turn: the error says which file and which object."""
    for victim in object_files(vault_dir):
        saved = victim.read_bytes()
        damage(victim)

        with pytest.raises(CheckpointCorruptedError) as caught:
            load_checkpoint(one_checkpoint)

        assert caught.value.path == victim
        assert caught.value.object_id == hex_id_of(victim)
        overwrite(victim, saved)


def test_corruption_is_also_a_value_error(
    vault_dir: Path, one_checkpoint: Path
) -> None:
    truncate(object_files(vault_dir)[0], 0)

    with pytest.raises(ValueError):
        load_checkpoint(one_checkpoint)


# -- list_checkpoints and validate_checkpoint_file ----------------------------------


def test_list_checkpoints_skips_foreign_and_temporary_files(vault_dir: Path) -> None:
    paths = write_vault(vault_dir, [sample_state(0), sample_state(1)])
    manifests = paths[0].parent
    (manifests / "README.txt").write_text("not a checkpoint\n")
    (manifests / f".{paths[1].name}.tmp").write_bytes(paths[1].read_bytes()[:20])
    (manifests / f"{paths[1].name}.tmp").write_bytes(paths[1].read_bytes())
    (manifests / "subfolder").mkdir()

    listed = list_checkpoints(vault_dir)

    assert [path for path, _ in listed] == paths


def test_list_checkpoints_gives_metadata_in_creation_order(vault_dir: Path) -> None:
    paths = write_vault(vault_dir, [sample_state(7), sample_state(3), sample_state(5)])

    listed = list_checkpoints(vault_dir)

    assert [(path, meta.tick, meta.position) for path, meta in listed] == [
        (paths[0], 7, 0),
        (paths[1], 3, 1),
        (paths[2], 5, 2),
    ]


def test_validate_accepts_a_good_manifest(one_checkpoint: Path) -> None:
    assert validate_checkpoint_file(one_checkpoint) is True


def test_validate_reads_no_objects(vault_dir: Path, one_checkpoint: Path) -> None:
    """A quick check: with every object's bytes damaged, the manifest validates."""
    for victim in object_files(vault_dir):
        flip_byte(victim, victim.stat().st_size // 2)

    assert validate_checkpoint_file(one_checkpoint) is True


MANIFEST_DAMAGE = {
    "truncated": lambda path: truncate(path, path.stat().st_size // 2),
    "emptied": lambda path: truncate(path, 0),
    "flipped byte": lambda path: flip_byte(path, path.stat().st_size // 2),
    "first byte flipped": lambda path: flip_byte(path, 0),
    "replaced by text": lambda path: overwrite(path, b"hello, I am not a manifest\n"),
}


@pytest.mark.parametrize("damage", MANIFEST_DAMAGE.values(), ids=MANIFEST_DAMAGE)
def test_validate_rejects_a_damaged_manifest(one_checkpoint: Path, damage: Any) -> None:
    damage(one_checkpoint)

    assert validate_checkpoint_file(one_checkpoint) is False


def test_validate_rejects_a_missing_file(one_checkpoint: Path) -> None:
    assert validate_checkpoint_file(one_checkpoint.with_name("missing")) is False


def test_validate_rejects_an_object_file(vault_dir: Path, one_checkpoint: Path) -> None:
    assert validate_checkpoint_file(object_files(vault_dir)[0]) is False


# -- a writer killed half way ---------------------------------------------------------

# The writer's states are a function of the tick, so the test can tell what
# each surviving checkpoint must hold. The child process and this module run
# the same source.
STATE_FOR_TICK = """
import random

def state_for(tick):
    rng = random.Random(tick)
    return {
        "tick": tick,
        "records": {f"r{i:03d}": rng.random() for i in range(300)},
        "log": [f"event {i}" for i in range(tick % 997 * 20)],
        "blob": rng.randbytes(30_000),
    }
"""

KILLED_WRITER = (
    STATE_FOR_TICK
    + """
import sys
from tickvault import Vault

vault_dir, start, fsync = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
with Vault(vault_dir, create=True, fsync=fsync) as vault:
    print("ready", flush=True)
    tick = start
    while True:
        vault.commit(state_for(tick), {"rng_seed": 0})
        tick += 1
"""
)


def killed_writer_state(tick: int) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(STATE_FOR_TICK, namespace)
    return namespace["state_for"](tick)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def vault_after_kills(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    """Kill a busy writer with SIGKILL at random instants, several times over.

    Returns:
        The vault folder and the number of kills.
    """
    vault_dir = tmp_path_factory.mktemp("killed") / "vault"
    rng = random.Random(20240301)
    kills = 6
    for round_number in range(kills):
        writer = run_python(
            KILLED_WRITER,
            str(vault_dir),
            str(round_number * 1000),
            str(round_number % 2),
            stdout=subprocess.PIPE,
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.05, 0.6))

        os.kill(writer.pid, signal.SIGKILL)

        writer.wait()
        writer.stdout.close()
    return vault_dir, kills


def test_every_listed_checkpoint_loads_after_the_writer_was_killed(
    vault_after_kills: tuple[Path, int],
) -> None:
    vault_dir, _ = vault_after_kills

    listed = list_checkpoints(vault_dir)

    assert listed, "no checkpoint was written before the kills; the test proves nothing"
    for path, metadata in listed:
        assert load_checkpoint(path).state == killed_writer_state(metadata.tick)


def test_every_valid_manifest_file_loads_after_the_writer_was_killed(
    vault_after_kills: tuple[Path, int],
) -> None:
    vault_dir, _ = vault_after_kills
    manifest_files = [
        path for path in (vault_dir / "manifests").iterdir() if path.is_file()
    ]

    valid = [path for path in manifest_files if validate_checkpoint_file(path)]

    assert valid
    for path in valid:
        load_checkpoint(path)


def test_a_killed_writer_leaves_at_most_one_stray_file_per_kill(
    vault_after_kills: tuple[Path, int],
) -> None:
    vault_dir, kills = vault_after_kills
    manifest_files = [
        path for path in (vault_dir / "manifests").iterdir() if path.is_file()
    ]

    listed = list_checkpoints(vault_dir)

    assert len(manifest_files) - len(listed) <= kills


def test_the_vault_takes_new_checkpoints_after_the_writer_was_killed(
    vault_after_kills: tuple[Path, int],
) -> None:
    """A dead writer's lock dies with it."""
    vault_dir, _ = vault_after_kills

    with Vault(vault_dir, fsync=False) as vault:
        path = vault.commit(killed_writer_state(99_999), CONFIG)

    assert load_checkpoint(path).state == killed_writer_state(99_999)


# -- a write that the operating system refuses --------------------------------------

LIMITED_WRITER = """
    import json, random, resource, signal, sys
    from tickvault import CheckpointWriteError, Vault

    vault_dir, limit, retry = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    state = {"tick": 1, "blob": random.Random(1).randbytes(200_000), "name": "big"}
    result = {}
    # Without this, the first write past the limit kills the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    with Vault(vault_dir, fsync=True) as vault:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        try:
            vault.commit(state, {"rng_seed": 0})
        except Exception as exc:
            result = {
                "type": type(exc).__name__,
                "is_write_error": isinstance(exc, CheckpointWriteError),
                "is_oserror": isinstance(exc, OSError),
                "errno": getattr(exc, "errno", None),
                "path": str(getattr(exc, "path", None)),
                "message": str(exc),
            }
        resource.setrlimit(
            resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
        )
        if retry:
            result["retry_path"] = str(vault.commit(state, {"rng_seed": 0}))
    print(json.dumps(result), flush=True)
"""

FILE_SIZE_LIMIT = 2048


def commit_with_file_size_limit(vault_dir: Path, *, retry: bool) -> dict[str, Any]:
    writer = run_python(
        LIMITED_WRITER,
        str(vault_dir),
        str(FILE_SIZE_LIMIT),
        "1" if retry else "0",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = writer.communicate(timeout=120)
    assert writer.returncode == 0, stderr
    return json.loads(stdout)


@pytest.fixture(scope="module")
def refused_write(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An earlier checkpoint, then a commit whose big object exceeds RLIMIT_FSIZE."""
    vault_dir = tmp_path_factory.mktemp("refused") / "vault"
    earlier = write_vault(vault_dir, [sample_state(0)])
    files_before = all_files(vault_dir)

    result = commit_with_file_size_limit(vault_dir, retry=False)

    return {
        "vault_dir": vault_dir,
        "earlier": earlier,
        "files_before": files_before,
        "result": result,
    }


def test_a_refused_write_is_a_checkpoint_write_error(
    refused_write: dict[str, Any],
) -> None:
    result = refused_write["result"]

    assert result.get("type") == "CheckpointWriteError", result
    assert result["is_oserror"]


def test_a_refused_write_keeps_the_errno(refused_write: dict[str, Any]) -> None:
    assert refused_write["result"].get("errno") == errno.EFBIG


def test_a_refused_write_names_the_file(refused_write: dict[str, Any]) -> None:
    result = refused_write["result"]
    vault_dir = str(refused_write["vault_dir"])

    assert result["path"].startswith(vault_dir), result
    assert vault_dir in result["message"], result


def test_earlier_checkpoints_still_load_after_a_refused_write(
    refused_write: dict[str, Any],
) -> None:
    (earlier,) = refused_write["earlier"]

    checkpoint = load_checkpoint(earlier)

    assert checkpoint.state == sample_state(0)


def test_a_refused_write_publishes_no_manifest(refused_write: dict[str, Any]) -> None:
    listed = list_checkpoints(refused_write["vault_dir"])

    assert [path for path, _ in listed] == refused_write["earlier"]


def test_a_refused_write_leaves_no_temporary_files(
    refused_write: dict[str, Any],
) -> None:
    """Objects written before the failure may stay; half-written files may not."""
    vault_dir = refused_write["vault_dir"]

    new_files = all_files(vault_dir) - refused_write["files_before"]

    assert all(OBJECT_PATH.fullmatch(path.as_posix()) for path in new_files), new_files


def test_a_refused_commit_succeeds_when_retried_after_space_returns(
    vault_dir: Path,
) -> None:
    """The writer must not remember objects that never reached the disk."""
    write_vault(vault_dir, [sample_state(0)])

    result = commit_with_file_size_limit(vault_dir, retry=True)

    assert result.get("type") == "CheckpointWriteError", result
    retried = load_checkpoint(Path(result["retry_path"])).state
    assert retried["blob"] == random.Random(1).randbytes(200_000)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_write_into_a_read_only_vault_is_a_checkpoint_write_error(
    vault_dir: Path,
) -> None:
    (earlier,) = write_vault(vault_dir, [sample_state(0)])
    folders = [vault_dir / "objects", *(vault_dir / "objects").iterdir()]
    for folder in folders:
        folder.chmod(0o555)

    try:
        with (
            pytest.raises(CheckpointWriteError) as caught,
            Vault(vault_dir, fsync=False) as vault,
        ):
            vault.commit({"tick": 1, "new": "never stored before"}, CONFIG)
    finally:
        for folder in folders:
            folder.chmod(0o755)

    assert caught.value.errno == errno.EACCES
    assert str(vault_dir) in str(caught.value)
    assert load_checkpoint(earlier).state == sample_state(0)


# -- a second writer ------------------------------------------------------------------

LOCK_HOLDER = """
    import sys
    from tickvault import Vault

    with Vault(sys.argv[1], create=True, fsync=False) as vault:
        vault.commit({"tick": 0, "holder": True}, {"rng_seed": 0})
        print("locked", flush=True)
        sys.stdin.read()
"""


@pytest.fixture
def lock_holder(vault_dir: Path) -> Any:
    """Another process that holds the vault open for writing until released."""
    holder = run_python(
        LOCK_HOLDER, str(vault_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    yield holder
    if holder.poll() is None:
        holder.stdin.close()
        holder.wait(timeout=30)
    holder.stdout.close()


def test_a_second_writer_process_gets_vault_locked_error(
    vault_dir: Path, lock_holder: Any
) -> None:
    with (
        pytest.raises(VaultLockedError) as caught,
        Vault(vault_dir, fsync=False) as vault,
    ):
        vault.commit({"tick": 1}, CONFIG)

    assert isinstance(caught.value, BlockingIOError)


def test_save_checkpoint_into_a_locked_vault_gets_vault_locked_error(
    vault_dir: Path, lock_holder: Any
) -> None:
    with pytest.raises(VaultLockedError):
        save_checkpoint({"tick": 1}, CONFIG, vault_dir)


def test_a_reader_loads_while_another_process_writes(
    vault_dir: Path, lock_holder: Any
) -> None:
    ((path, metadata),) = list_checkpoints(vault_dir)

    checkpoint = load_checkpoint(path)

    assert checkpoint.state == {"tick": 0, "holder": True}
    assert metadata.tick == 0


def test_the_lock_is_released_when_the_writer_closes(
    vault_dir: Path, lock_holder: Any
) -> None:
    lock_holder.stdin.close()
    lock_holder.wait(timeout=30)

    with Vault(vault_dir, fsync=False) as vault:
        path = vault.commit({"tick": 1}, CONFIG)

    assert load_checkpoint(path).metadata.tick == 1
