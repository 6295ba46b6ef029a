"""The public API: everything the contract names is exported and importable."""

import importlib
from importlib import resources

import pytest

import tickvault

CONTRACT_NAMES = [
    "AutoCheckpointer",
    "Checkpoint",
    "CheckpointConfig",
    "CheckpointCorruptedError",
    "CheckpointIOError",
    "CheckpointMetadata",
    "CheckpointNotFoundError",
    "CheckpointSchemaError",
    "CheckpointWriteError",
    "UnsupportedValueError",
    "Vault",
    "VaultLockedError",
    "create_checkpointed_step",
    "list_checkpoints",
    "load_checkpoint",
    "save_checkpoint",
    "validate_checkpoint_file",
]

ERROR_BASES = {
    "CheckpointIOError": (Exception,),
    "CheckpointNotFoundError": ("CheckpointIOError", FileNotFoundError),
    "CheckpointCorruptedError": ("CheckpointIOError", ValueError),
    "CheckpointSchemaError": ("CheckpointIOError", ValueError),
    "UnsupportedValueError": ("CheckpointSchemaError", TypeError),
    "CheckpointWriteError": ("CheckpointIOError", OSError),
    "VaultLockedError": ("CheckpointIOError", BlockingIOError),
}


@pytest.mark.parametrize("name", sorted(tickvault.__all__))
def test_every_name_in_all_is_importable(name: str) -> None:
    module = importlib.import_module("tickvault")

    assert getattr(module, name) is not None


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_contract_name_is_exported(name: str) -> None:
    assert name in tickvault.__all__


@pytest.mark.parametrize("name", sorted(ERROR_BASES))
def test_error_derives_from_the_contracted_bases(name: str) -> None:
    error = getattr(tickvault, name)

    bases = [
        getattr(tickvault, base) if isinstance(base, str) else base
        for base in ERROR_BASES[name]
    ]

    assert all(issubclass(error, base) for base in bases)


def test_star_import_yields_exactly_all() -> None:
    namespace: dict[str, object] = {}

    exec("from tickvault import *", namespace)

    assert set(namespace) - {"__builtins__"} == set(tickvault.__all__)


def test_package_ships_type_information() -> None:
    package_dir = resources.files("tickvault")

    assert package_dir.joinpath("py.typed").is_file()
