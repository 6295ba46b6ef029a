"""Shared fixtures and Hypothesis profiles for the tickvault test suite.

The Hypothesis profile comes from ``TICKVAULT_HYPOTHESIS_PROFILE``:
``fast`` (the default) keeps the whole suite to a couple of minutes on a
small machine; ``thorough`` runs many more examples per property and is
meant for a nightly job or for hunting a bug.
"""

import os
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, settings

TESTS_DIR = Path(__file__).resolve().parent
SHARED_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CAMPAIGN_GLOB = "babylon-*.tar.zst"

# The helper modules next to this file (strategies.py) must import under
# any pytest import mode, including importlib, which adds nothing to sys.path.
if str(TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TESTS_DIR))

settings.register_profile(
    "fast",
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough",
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("TICKVAULT_HYPOTHESIS_PROFILE", "fast"))


def _unpack(archive: Path, destination: Path) -> None:
    # The archives are written with a long window (zstd --long=31).
    decompressor = zstandard.ZstdDecompressor(max_window_size=2**31)
    with (
        archive.open("rb") as raw,
        decompressor.stream_reader(raw) as stream,
        tarfile.open(fileobj=stream, mode="r|") as tar,
    ):
        tar.extractall(destination, filter="data")


@pytest.fixture(scope="session")
def campaign_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Unpack every shared campaign archive once per session.

    Returns:
        The scenario name (``imperial_circuit``, ...) mapped to the folder
        that holds its ``tick_NNNNN.json`` files.
    """
    archives = sorted(SHARED_DATA_DIR.glob(CAMPAIGN_GLOB))
    if not archives:
        pytest.skip(f"campaign data {CAMPAIGN_GLOB} not found at {SHARED_DATA_DIR}")
    destination = tmp_path_factory.mktemp("campaign")
    for archive in archives:
        _unpack(archive, destination)
    return {
        folder.name: folder
        for folder in sorted(destination.iterdir())
        if folder.is_dir() and any(folder.glob("tick_*.json"))
    }


@pytest.fixture
def vault_dir(tmp_path: Path) -> Path:
    """A folder path for a vault that does not exist yet."""
    return tmp_path / "vault"
