"""Contenders for ``tools/bench.py``, and the child process that measures one.

Each contender runs in a fresh process (``python bench_contenders.py SPEC OUT``)
so that its peak RSS is its own. The child rebuilds the workload from its spec,
freezes it out of the garbage collector's reach (so that a collection pass
triggered by one contender's allocations does not walk hundreds of preloaded
states), then times the blocking save call of every checkpoint, loads the
latest and a middle checkpoint back, checks them against the saved states, and
diffs two consecutive checkpoints where the contender can.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import zstandard

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_workloads import Workload, load_workload, measure_floor

__all__ = ["CONTENDERS", "REFERENCE", "disk_usage", "make_contender", "run_child"]

REFERENCE = "json-indent"
CONTENDERS = (
    "tickvault-fsync",
    "tickvault-nofsync",
    "tickvault-background",
    "json-indent",
    "json-indent-fsync",
    "json-zstd",
    "pickle-zstd",
    "git",
)
_LOAD_REPEATS = 5
_LOAD_BUDGET_S = 2.0


def disk_usage(root: Path) -> tuple[int, int, int]:
    """Return apparent bytes, allocated bytes and file count under ``root``."""
    apparent = allocated = files = 0
    for folder, _, names in os.walk(root):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            apparent += info.st_size
            allocated += info.st_blocks * 512
            files += 1
    return apparent, allocated, files


def _write_file(path: Path, data: bytes, fsync: bool) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _top_level_diff(a: Any, b: Any) -> list[str]:
    if hasattr(type(a), "model_fields"):
        names = list(type(a).model_fields)
        return [n for n in names if getattr(a, n) != getattr(b, n)]
    return [k for k in {**a, **b} if a.get(k) != b.get(k)]


class FileContender:
    """One or two files per checkpoint: the state and, if any, the context.

    Subclasses choose the encoding. Every file goes through a temp file and a
    rename; with ``fsync`` the file and then its folder are fsynced.
    """

    suffix = ".json"
    every_tick = False

    def __init__(self, workload: Workload, root: Path, fsync: bool = False) -> None:
        self.workload = workload
        self.root = root
        self.fsync = fsync
        self.checkpoints: list[tuple[Path, Path | None]] = []
        config = json.dumps(workload.sim_config, indent=2).encode()
        _write_file(root / "simulation_config.json", config, fsync)

    def encode_state(self, state: Any) -> bytes:
        raise NotImplementedError

    def decode_state(self, data: bytes) -> Any:
        raise NotImplementedError

    def encode_context(self, context: Any) -> bytes:
        return json.dumps(context, indent=2).encode()

    def decode_context(self, data: bytes) -> Any:
        return json.loads(data)

    def step(self, tick: int, state: Any, context: Any) -> bool:
        """Write one checkpoint; the call that the benchmark times."""
        stem = f"ckpt_{len(self.checkpoints):06d}_tick_{tick:06d}"
        state_path = self.root / (stem + self.suffix)
        _write_file(state_path, self.encode_state(state), self.fsync)
        context_path = None
        if context is not None:
            context_path = self.root / (stem + ".context" + self.suffix)
            _write_file(context_path, self.encode_context(context), self.fsync)
        if self.fsync:
            _fsync_dir(self.root)
        self.checkpoints.append((state_path, context_path))
        return True

    def finish(self) -> dict[str, Any]:
        return {}

    def load(self, index: int) -> tuple[Any, Any]:
        state_path, context_path = self.checkpoints[index]
        state = self.decode_state(state_path.read_bytes())
        if context_path is None:
            return state, None
        return state, self.decode_context(context_path.read_bytes())

    def diff(self, i: int, j: int) -> Any:
        return _top_level_diff(self.load(i)[0], self.load(j)[0])


class JsonIndent(FileContender):
    """``model_dump_json(indent=2)`` or ``json.dumps(indent=2)``: the reference."""

    def encode_state(self, state: Any) -> bytes:
        if self.workload.state_type is not None:
            text: str = state.model_dump_json(indent=2)
            return text.encode()
        return json.dumps(state, indent=2).encode()

    def decode_state(self, data: bytes) -> Any:
        if self.workload.state_type is not None:
            return self.workload.state_type.model_validate_json(data)
        return json.loads(data)


class JsonZstd(JsonIndent):
    """Compact JSON, compressed by zstd at level 3, one frame per file."""

    suffix = ".json.zst"

    def __init__(self, workload: Workload, root: Path, fsync: bool = False) -> None:
        super().__init__(workload, root, fsync)
        self.cctx = zstandard.ZstdCompressor(level=3)
        self.dctx = zstandard.ZstdDecompressor()

    def encode_state(self, state: Any) -> bytes:
        if self.workload.state_type is not None:
            raw = state.model_dump_json().encode()
        else:
            raw = json.dumps(state, separators=(",", ":")).encode()
        return self.cctx.compress(raw)

    def decode_state(self, data: bytes) -> Any:
        return super().decode_state(self.dctx.decompress(data))

    def encode_context(self, context: Any) -> bytes:
        return self.cctx.compress(json.dumps(context, separators=(",", ":")).encode())

    def decode_context(self, data: bytes) -> Any:
        return json.loads(self.dctx.decompress(data))


class PickleZstd(JsonZstd):
    """``pickle`` (protocol 5) of ``(state, context)``, compressed by zstd."""

    suffix = ".pkl.zst"

    def step(self, tick: int, state: Any, context: Any) -> bool:
        stem = f"ckpt_{len(self.checkpoints):06d}_tick_{tick:06d}"
        path = self.root / (stem + self.suffix)
        payload = pickle.dumps((state, context), protocol=5)
        _write_file(path, self.cctx.compress(payload), self.fsync)
        if self.fsync:
            _fsync_dir(self.root)
        self.checkpoints.append((path, None))
        return True

    def load(self, index: int) -> tuple[Any, Any]:
        data = self.checkpoints[index][0].read_bytes()
        state, context = pickle.loads(self.dctx.decompress(data))
        return state, context


class GitRepo(JsonIndent):
    """A git repository: ``state.json`` (and ``context.json``) per commit.

    The blocking time is writing the files plus ``git add`` and ``git commit``.
    Commit ids are read after the loop. ``finish`` runs ``git gc --aggressive``
    and reports the repository's size before and after.
    """

    def __init__(self, workload: Workload, root: Path, fsync: bool = False) -> None:
        self.env = {
            **os.environ,
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@localhost",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@localhost",
        }
        self.repo = root / "repo"
        self.repo.mkdir()
        self._git("init", "-q")
        self._git("config", "gc.auto", "0")
        self._git("config", "commit.gpgSign", "false")
        super().__init__(workload, self.repo, fsync)
        self._git("add", "simulation_config.json")
        self.commits: list[str] = []

    def _git(self, *args: str) -> bytes:
        result = subprocess.run(
            ["git", *args],
            cwd=self.repo,
            env=self.env,
            check=True,
            stdout=subprocess.PIPE,
        )
        return result.stdout

    def step(self, tick: int, state: Any, context: Any) -> bool:
        files = ["state.json"]
        (self.repo / "state.json").write_bytes(self.encode_state(state))
        if context is not None:
            (self.repo / "context.json").write_bytes(self.encode_context(context))
            files.append("context.json")
        self._git("add", *files)
        self._git("commit", "-q", "--no-verify", "-m", f"tick {tick}")
        self.checkpoints.append((self.repo / "state.json", None))
        return True

    def finish(self) -> dict[str, Any]:
        log = self._git("rev-list", "--reverse", "HEAD").decode().split()
        self.commits = log[-len(self.checkpoints) :]
        return {}

    def load(self, index: int) -> tuple[Any, Any]:
        commit = self.commits[index]
        state = self.decode_state(self._git("show", f"{commit}:state.json"))
        if self.workload.contexts[0] is None:
            return state, None
        context = self.decode_context(self._git("show", f"{commit}:context.json"))
        return state, context

    def gc(self, aggressive: bool) -> dict[str, Any]:
        """Run ``git gc`` and report the repository's size before and after."""
        before = disk_usage(self.repo / ".git")
        start = time.perf_counter()
        self._git("gc", "-q", *(["--aggressive"] if aggressive else []))
        elapsed = time.perf_counter() - start
        after = disk_usage(self.repo / ".git")
        return {
            "gc_mode": "aggressive" if aggressive else "normal",
            "repo_bytes_before_gc": before[0],
            "repo_bytes_after_gc": after[0],
            "repo_allocated_bytes_after_gc": after[1],
            "gc_seconds": elapsed,
        }


class Tickvault:
    """tickvault's ``AutoCheckpointer``: ``on_step`` is called on every tick."""

    every_tick = True

    def __init__(
        self,
        workload: Workload,
        root: Path,
        fsync: bool,
        interval: int,
        background: bool = False,
    ) -> None:
        import tickvault

        self.tickvault = tickvault
        self.workload = workload
        self.root = root
        config = tickvault.CheckpointConfig(
            interval=interval, max_checkpoints=0, fsync=fsync, background=background
        )
        self.checkpointer = tickvault.AutoCheckpointer(config, base_dir=root)
        self.checkpoints: list[Path] = []

    def step(self, tick: int, state: Any, context: Any) -> bool:
        sim_config = self.workload.sim_config
        path = self.checkpointer.on_step(state, sim_config, context=context)
        if path is None:
            return False
        self.checkpoints.append(path)
        return True

    def finish(self) -> dict[str, Any]:
        close = getattr(self.checkpointer, "close", None)
        if close is not None:
            close()
        return {"tickvault_version": getattr(self.tickvault, "__version__", None)}

    def load(self, index: int) -> tuple[Any, Any]:
        checkpoint = self.tickvault.load_checkpoint(
            self.checkpoints[index], state_type=self.workload.state_type
        )
        return checkpoint.state, checkpoint.context

    def diff(self, i: int, j: int) -> Any:
        diff = getattr(self.tickvault, "diff", None)
        if diff is None:
            return None
        func = diff if callable(diff) else getattr(diff, "diff", None)
        if func is None:
            return None
        return func(self.checkpoints[i], self.checkpoints[j])


def make_contender(name: str, workload: Workload, root: Path, interval: int) -> Any:
    """Build the contender called ``name``, writing under ``root``."""
    if name == "tickvault-fsync":
        return Tickvault(workload, root, fsync=True, interval=interval)
    if name == "tickvault-nofsync":
        return Tickvault(workload, root, fsync=False, interval=interval)
    if name == "tickvault-background":
        return Tickvault(
            workload, root, fsync=False, interval=interval, background=True
        )
    if name == "json-indent":
        return JsonIndent(workload, root)
    if name == "json-indent-fsync":
        return JsonIndent(workload, root, fsync=True)
    if name == "json-zstd":
        return JsonZstd(workload, root)
    if name == "pickle-zstd":
        return PickleZstd(workload, root)
    if name == "git":
        return GitRepo(workload, root)
    raise ValueError(f"unknown contender {name!r}")


def _ms(ns: float) -> float:
    return ns / 1e6


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * 95 // 100) - 1)]


def _time_load(contender: Any, index: int) -> tuple[float, tuple[Any, Any]]:
    timings: list[int] = []
    loaded: tuple[Any, Any] = (None, None)
    budget_end = time.perf_counter() + _LOAD_BUDGET_S
    while len(timings) < _LOAD_REPEATS:
        start = time.perf_counter_ns()
        loaded = contender.load(index)
        timings.append(time.perf_counter_ns() - start)
        if time.perf_counter() > budget_end:
            break
    return _ms(statistics.median(timings)), loaded


class _Profiler:
    """Profile the timed calls: ``cprofile`` (this thread, wall clock) or
    ``yappi`` (CPU time of every thread, which shows work handed to helpers).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.cprofile = cProfile.Profile()
        if kind == "yappi":
            import yappi

            yappi.set_clock_type("cpu")
            yappi.start(builtins=True, profile_threads=True)
            yappi.stop()

    def enable(self) -> None:
        if self.kind == "yappi":
            import yappi

            yappi.start(builtins=True, profile_threads=True)
        else:
            self.cprofile.enable()

    def disable(self) -> None:
        if self.kind == "yappi":
            import yappi

            yappi.stop()
        else:
            self.cprofile.disable()

    def save(self, path: str) -> list[dict[str, Any]]:
        """Write pstats to ``path``; return each thread's profiled time."""
        if self.kind != "yappi":
            self.cprofile.dump_stats(path)
            return []
        import yappi

        yappi.get_func_stats().save(path, type="pstat")
        return [
            {"thread": t.name, "cpu_seconds": t.ttot, "switches": t.sched_count}
            for t in yappi.get_thread_stats()
        ]


def _max_rss_mb() -> float:
    """Return this process's peak RSS in MiB.

    ``VmHWM`` is preferred: on Linux ``ru_maxrss`` survives ``exec`` and so
    starts at the parent's RSS, while ``VmHWM`` belongs to this image alone.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one contender over one workload and return its figures."""
    workload = load_workload(spec["workload"])
    root = Path(spec["root"])
    gc.collect()
    gc.freeze()
    rss_workload = _max_rss_mb()

    contender = make_contender(spec["contender"], workload, root, spec["interval"])
    profiler = _Profiler(spec["profiler"]) if spec.get("profile") else None
    saves: list[int] = []
    skips: list[int] = []
    saved_indexes: list[int] = []
    for index, (tick, state, context) in enumerate(
        zip(workload.ticks, workload.states, workload.contexts, strict=True)
    ):
        if not contender.every_tick and tick % spec["interval"]:
            continue
        if profiler is not None:
            profiler.enable()
        start = time.perf_counter_ns()
        wrote = contender.step(tick, state, context)
        elapsed = time.perf_counter_ns() - start
        if profiler is not None:
            profiler.disable()
        if wrote:
            saves.append(elapsed)
            saved_indexes.append(index)
        else:
            skips.append(elapsed)
    extra = contender.finish()
    if profiler is not None:
        extra["profile_threads"] = profiler.save(spec["profile"])
    apparent, allocated, files = disk_usage(root)

    n = len(saves)
    if n == 0:
        raise RuntimeError("the contender wrote no checkpoint")
    result: dict[str, Any] = {
        "status": "ok",
        "checkpoints": n,
        "bytes_on_disk": apparent,
        "bytes_allocated": allocated,
        "bytes_per_checkpoint": apparent / n,
        "files": files,
        "save_ms_median": _ms(statistics.median(saves)),
        "save_ms_p95": _ms(_p95(saves)),
        "save_ms_mean": _ms(statistics.fmean(saves)),
        "save_ms_max": _ms(max(saves)),
        "save_ms_first": _ms(saves[0]),
        "skip_ms_median": _ms(statistics.median(skips)) if skips else None,
    }

    mismatches = []
    latest, middle = n - 1, n // 2
    for label, position in (("latest", latest), ("middle", middle)):
        ms, (state, context) = _time_load(contender, position)
        result[f"load_{label}_ms"] = ms
        index = saved_indexes[position]
        if state != workload.states[index]:
            mismatches.append(f"{label} state (tick {workload.ticks[index]})")
        if context != workload.contexts[index]:
            mismatches.append(f"{label} context (tick {workload.ticks[index]})")
    result["load_equal"] = not mismatches
    result["mismatches"] = mismatches

    result["diff_ms"] = None
    result["diff_changed_fields"] = None
    if n >= 2:
        start = time.perf_counter_ns()
        changed = contender.diff(middle - 1, middle)
        elapsed = time.perf_counter_ns() - start
        if changed is not None:
            result["diff_ms"] = _ms(elapsed)
            if isinstance(changed, list):
                result["diff_changed_fields"] = len(changed)

    if isinstance(contender, GitRepo) and spec.get("git_gc", "none") != "none":
        extra.update(contender.gc(aggressive=spec["git_gc"] == "aggressive"))
        result["load_latest_ms_after_gc"] = _time_load(contender, latest)[0]
    result["rss_workload_mb"] = rss_workload
    result["peak_rss_mb"] = _max_rss_mb()
    result["extra"] = extra
    return result


def run_child(spec_file: Path, out_file: Path) -> int:
    """Measure the contender that ``spec_file`` names; write figures to ``out_file``.

    Returns:
        0, or 1 when the contender crashed or loaded back a different state.
    """
    spec = json.loads(spec_file.read_text())
    task = measure_floor if spec["contender"] == "floor" else measure
    try:
        result = task(spec)
    except Exception as exc:
        traceback.print_exc()
        result = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
    finally:
        shutil.rmtree(spec["root"], ignore_errors=True)
    out_file.write_text(json.dumps(result, indent=2))
    return 0 if result["status"] == "ok" and result.get("load_equal", True) else 1


if __name__ == "__main__":
    sys.exit(run_child(Path(sys.argv[1]), Path(sys.argv[2])))
