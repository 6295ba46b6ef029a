"""The committer: the thread that compresses new objects and publishes checkpoints.

Encoding a checkpoint needs the interpreter; compressing and writing do not,
since zstd and the file system calls release the GIL. Each vault folder that
a process writes has one committer thread. The encoder hands it every new
object as soon as it is found, so compressing overlaps with encoding the rest
of the state on the second core, and then hands it the publication of the
checkpoint: write the blobs, make them durable, write the manifest.

The thread runs jobs strictly in the order they were given. A checkpoint is
therefore published only after every object it names, and after every
checkpoint submitted before it. In the default, synchronous mode the caller
waits for the publication. In background mode it does not: at most
`MAX_PENDING` publications may be waiting, after which the caller waits for
the oldest. If a publication fails, every publication queued behind it is
dropped, because it may name the failed checkpoint's objects; the failure is
raised by the next call into the vault.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from .blobs import Compressor
from .errors import CheckpointWriteError

__all__ = ["MAX_PENDING", "Committer"]

log = logging.getLogger(__name__)

MAX_PENDING = 2
_THREAD_NAME = "tickvault-committer"

T = TypeVar("T")


class Committer:
    """One background thread that runs a vault's compression and publication.

    Jobs submitted with `run` and `publish` run one at a time, in order.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=_THREAD_NAME
        )
        self._compressors: dict[int, Compressor] = {}
        self._pending: deque[Future[object]] = deque()
        self._failure: BaseException | None = None

    def compressor(self, level: int) -> Compressor:
        """Return the compressor for ``level``, for use on the committer thread."""
        found = self._compressors.get(level)
        if found is None:
            found = self._compressors[level] = Compressor(level)
        return found

    def run(self, job: Callable[[], T]) -> Future[T]:
        """Queue a job; it runs after every job queued before it."""
        return self._executor.submit(job)

    def publish(
        self, job: Callable[[], object], skipped: Callable[[], object]
    ) -> Future[object]:
        """Queue a publication.

        If an earlier publication failed, ``skipped`` runs instead of ``job``,
        to clean up what the publication would have used.
        """
        future = self._executor.submit(self._guarded, job, skipped)
        self._pending.append(future)
        return future

    def _guarded(
        self, job: Callable[[], object], skipped: Callable[[], object]
    ) -> object:
        if self._failure is not None:
            skipped()
            raise CheckpointWriteError(
                "this checkpoint was not written because an earlier background "
                f"commit failed: {self._failure}"
            )
        try:
            return job()
        except BaseException as exc:
            self._failure = exc
            raise

    def throttle(self) -> None:
        """Wait until fewer than `MAX_PENDING` publications are queued."""
        while len(self._pending) >= MAX_PENDING:
            self._wait_one()

    def wait(self) -> None:
        """Wait for every queued publication; raise the first failure, if any.

        Raises:
            CheckpointIOError: A publication failed. Its checkpoint and every
                one queued after it were not written; checkpoints published
                before it are intact.
        """
        while self._pending:
            self._wait_one()
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure

    def _wait_one(self) -> None:
        # A publication's own failure is in self._failure, for wait() to raise
        # once the queue is drained; exception() returns it without raising.
        # An interrupt while waiting propagates and leaves the future queued.
        future = self._pending[0]
        if future.exception() is not None:
            log.debug("a background publication failed")
        self._pending.popleft()

    @property
    def failed(self) -> bool:
        """Whether a publication failed and `wait` has not yet raised it."""
        return self._failure is not None

    def close(self) -> None:
        """Finish the queued jobs and stop the thread."""
        # A vault dropped without close() may be finalised on this very
        # thread, when its last job lets go of it; a thread cannot join
        # itself, and it ends by itself once the queue is empty.
        on_own_thread = threading.current_thread().name.startswith(_THREAD_NAME)
        self._executor.shutdown(wait=not on_own_thread)
