"""tickvault: content-addressed, git-like checkpoints for simulations.

The public API is re-exported here; see README.md for examples.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import (
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
    validate_checkpoint_file,
)
from .checkpointer import (
    AutoCheckpointer,
    CheckpointConfig,
    create_checkpointed_step,
)
from .errors import (
    CheckpointCorruptedError,
    CheckpointIOError,
    CheckpointNotFoundError,
    CheckpointSchemaError,
    CheckpointWriteError,
    UnsupportedValueError,
    VaultLockedError,
)
from .manifest import FORMAT_VERSION, CheckpointMetadata
from .store import LocalObjectStore, ObjectStore
from .vault import Checkpoint, Vault

__all__ = [
    "FORMAT_VERSION",
    "AutoCheckpointer",
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointCorruptedError",
    "CheckpointIOError",
    "CheckpointMetadata",
    "CheckpointNotFoundError",
    "CheckpointSchemaError",
    "CheckpointWriteError",
    "LocalObjectStore",
    "ObjectStore",
    "UnsupportedValueError",
    "Vault",
    "VaultLockedError",
    "__version__",
    "create_checkpointed_step",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "validate_checkpoint_file",
]
