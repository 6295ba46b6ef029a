"""Checkpointing from a game loop: `CheckpointConfig` and `AutoCheckpointer`.

The loop calls `AutoCheckpointer.on_step` after every tick; every
``interval`` ticks it commits the state to the vault, drops the oldest
checkpoints beyond ``max_checkpoints``, and returns the new manifest's path.
On ticks that are not due it returns at once and touches nothing, so the
cost of calling it every tick is one modulo.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .vault import Checkpoint, Vault, tick_of

__all__ = ["AutoCheckpointer", "CheckpointConfig", "create_checkpointed_step"]

log = logging.getLogger(__name__)

S = TypeVar("S")


@dataclass(frozen=True, slots=True)
class CheckpointConfig:
    """How and when to checkpoint.

    Attributes:
        enabled: Whether `AutoCheckpointer.on_step` writes at all.
        interval: Write when ``tick % interval == 0``; must be > 0.
        checkpoint_dir: The vault folder, relative to the checkpointer's
            base folder (or absolute).
        max_checkpoints: How many checkpoints to keep; 0 keeps all.
        fsync: Make each checkpoint durable before returning. Off is for
            tests and benchmarks: a power cut may then lose recent ones.
        compression_level: The zstd level, from -7 (fastest) to 22.
        background: Let `AutoCheckpointer.on_step` return once the state is
            encoded, and compress, write and publish the checkpoint on a
            background thread while the simulation runs on. The returned
            path is where the manifest appears once published;
            `AutoCheckpointer.wait` waits for that. A crash loses at most
            the checkpoints not yet published (two at the most), never one
            that was. A failed write is raised by the next call.
    """

    enabled: bool = True
    interval: int = 10
    checkpoint_dir: str | os.PathLike[str] = "checkpoints"
    max_checkpoints: int = 10
    fsync: bool = True
    compression_level: int = 3
    background: bool = False

    def __post_init__(self) -> None:
        for name in ("enabled", "fsync", "background"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ValueError(f"'{name}' must be a bool (got {value!r})")
        _require_int("interval", self.interval, low=1)
        _require_int("max_checkpoints", self.max_checkpoints, low=0)
        _require_int("compression_level", self.compression_level, low=-7, high=22)
        directory = self.checkpoint_dir
        if not isinstance(directory, str | os.PathLike) or not os.fspath(directory):
            raise ValueError(
                f"'checkpoint_dir' must be a non-empty path (got {directory!r})"
            )


def _require_int(
    name: str, value: object, *, low: int, high: int | None = None
) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{name}' must be an int (got {value!r})")
    if value < low:
        raise ValueError(f"'{name}' must be >= {low} (got {value})")
    if high is not None and value > high:
        raise ValueError(f"'{name}' must be <= {high} (got {value})")


class AutoCheckpointer:
    """Write checkpoints of a running simulation at a fixed tick interval.

    Args:
        config: When and how to checkpoint.
        base_dir: The folder ``config.checkpoint_dir`` is relative to; the
            current folder by default.
    """

    def __init__(
        self, config: CheckpointConfig, base_dir: Path | str | None = None
    ) -> None:
        if not isinstance(config, CheckpointConfig):
            raise TypeError(
                f"config must be a CheckpointConfig (got {type(config).__name__})"
            )
        self.config = config
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        self.checkpoint_dir = base / config.checkpoint_dir
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        """The vault, created on first use."""
        if self._vault is None:
            self._vault = Vault(
                self.checkpoint_dir,
                create=True,
                fsync=self.config.fsync,
                compression_level=self.config.compression_level,
                background=self.config.background,
            )
        return self._vault

    def _existing_vault(self) -> Vault | None:
        if self._vault is not None:
            return self._vault
        return self.vault if (self.checkpoint_dir / "VAULT").is_file() else None

    def on_step(
        self, state: Any, sim_config: Any, *, context: Any = None
    ) -> Path | None:
        """Checkpoint ``state`` if this tick is due; return the manifest path.

        A tick is due when checkpointing is enabled and
        ``tick % interval == 0``, tick 0 included. After writing, the oldest
        checkpoints beyond ``max_checkpoints`` are removed.

        Returns:
            The new manifest's path, or None if nothing was written. In
            background mode the manifest is there once `wait` returns.
        """
        if not self.config.enabled:
            return None
        tick = tick_of(state)
        if tick % self.config.interval:
            return None
        return self.vault.commit(
            state,
            sim_config,
            tick=tick,
            context=context,
            keep=self.config.max_checkpoints,
        )

    def force_checkpoint(
        self,
        state: Any,
        sim_config: Any,
        description: str = "",
        *,
        context: Any = None,
    ) -> Path:
        """Write a checkpoint now, whatever the interval or ``enabled``."""
        return self.vault.commit(
            state,
            sim_config,
            description=description,
            context=context,
            keep=self.config.max_checkpoints,
        )

    def rotate_checkpoints(self) -> list[Path]:
        """Remove the oldest checkpoints beyond ``max_checkpoints``.

        Age is creation order in the vault, never file times.

        Returns:
            The removed manifests' paths, oldest first.
        """
        limit = self.config.max_checkpoints
        vault = self._existing_vault()
        if limit == 0 or vault is None:
            return []
        vault.flush()
        removed = vault.trim(limit)
        if removed:
            log.debug("rotation removed %d checkpoints", len(removed))
        return removed

    def wait(self) -> None:
        """Wait until every checkpoint written so far is published.

        Raises:
            CheckpointIOError: A background write failed; the checkpoints
                published before it are intact.
        """
        if self._vault is not None:
            self._vault.flush()

    def get_latest_checkpoint(self) -> Path | None:
        """Return the newest checkpoint's manifest path, or None."""
        vault = self._existing_vault()
        if vault is None:
            return None
        paths = vault.paths()
        return paths[-1] if paths else None

    def load_latest(
        self,
        *,
        state_type: Any = None,
        config_type: Any = None,
        context_type: Any = None,
    ) -> Checkpoint | None:
        """Load the newest checkpoint, to resume a run; None if there is none.

        Background writes of this checkpointer are waited for first.
        """
        self.wait()
        latest = self.get_latest_checkpoint()
        if latest is None:
            return None
        return self.vault.read(
            latest,
            state_type=state_type,
            config_type=config_type,
            context_type=context_type,
        )

    def close(self) -> None:
        """Release the vault and its writer lock."""
        if self._vault is not None:
            self._vault.close()
            self._vault = None

    def __enter__(self) -> AutoCheckpointer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def create_checkpointed_step(
    sim_config: Any, checkpointer: AutoCheckpointer
) -> Callable[[S], tuple[S, Path | None]]:
    """Return a function to call with each new state.

    The function does not step the simulation: it passes the state to
    `AutoCheckpointer.on_step` and returns it unchanged, with the manifest
    path if a checkpoint was written.
    """

    def checkpointed(state: S, *, context: Any = None) -> tuple[S, Path | None]:
        return state, checkpointer.on_step(state, sim_config, context=context)

    return checkpointed
