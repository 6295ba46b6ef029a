"""The module-level functions: save, load, list and check checkpoints.

Each opens the vault for one call. A loop that checkpoints often should keep
an `AutoCheckpointer` or a `Vault` instead, which remembers the previous
checkpoint's layout and so spends time only on what changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import CheckpointIOError, CheckpointNotFoundError
from .manifest import CheckpointMetadata
from .vault import Checkpoint, Vault

__all__ = [
    "Checkpoint",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "validate_checkpoint_file",
]


def save_checkpoint(
    state: Any,
    config: Any,
    directory: Path | str,
    description: str = "",
    *,
    context: Any = None,
) -> Path:
    """Write one checkpoint into the vault at ``directory``, creating it if needed.

    Returns:
        The path of the new manifest.
    """
    with Vault(directory, create=True) as vault:
        return vault.commit(state, config, description=description, context=context)


def _vault_of(path: Path) -> Vault:
    # A manifest lives in <vault>/manifests/.
    if path.is_dir():
        return Vault(path)
    if not path.exists():
        raise CheckpointNotFoundError(f"no checkpoint at {path}", path=path)
    return Vault(path.parent.parent)


def load_checkpoint(
    path: Path | str,
    *,
    state_type: Any = None,
    config_type: Any = None,
    context_type: Any = None,
) -> Checkpoint:
    """Load the checkpoint whose manifest is at ``path``.

    ``path`` may also be a vault folder, which loads its latest checkpoint.

    Raises:
        CheckpointNotFoundError: There is no such checkpoint.
        CheckpointCorruptedError: The manifest or one of its objects is
            damaged.
        CheckpointSchemaError: It is not a checkpoint of a supported format,
            or does not fit a type asked for.
    """
    path = Path(path)
    with _vault_of(path) as vault:
        ref = -1 if path.is_dir() else path
        return vault.read(
            ref,
            state_type=state_type,
            config_type=config_type,
            context_type=context_type,
        )


def list_checkpoints(directory: Path | str) -> list[tuple[Path, CheckpointMetadata]]:
    """Return the checkpoints of the vault at ``directory``, in creation order.

    Files that are not checkpoints, and damaged manifests, are skipped. A
    folder that holds no vault holds no checkpoints.
    """
    try:
        vault = Vault(directory)
    except CheckpointNotFoundError:
        return []
    with vault:
        return [(meta.path, meta) for meta in vault.log()]


def validate_checkpoint_file(path: Path | str) -> bool:
    """Tell whether ``path`` is an intact manifest whose root objects exist.

    This reads the manifest and checks its checksum, but reads no objects.
    """
    path = Path(path)
    try:
        with _vault_of(path) as vault:
            return not path.is_dir() and vault.roots_present(path)
    except CheckpointIOError:
        return False
