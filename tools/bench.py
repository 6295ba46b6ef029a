"""Benchmark tickvault against the usual ways of saving a simulation's state.

Usage::

    python tools/bench.py [--workload NAME] [--ticks N] [--interval K]
                          [--json OUT] [--quick] [--data-dir D]

For every workload, each contender runs in a fresh child process (see
``bench_contenders.py``) over the same ticks, so that each reports its own
peak RSS and none inherits another's caches. The figures are bytes on disk,
the blocking time of each checkpoint, the time to load the latest and a middle
checkpoint, the time to diff two consecutive checkpoints, and peak RSS. They
are printed with ratios against one indented JSON file per checkpoint
(``json-indent``), beside the floor: one ``msgpack.packb`` over the state.

``--quick`` is the smoke test that CI runs: a few ticks of each workload. It
asserts nothing about speed; it exits non-zero when a contender crashes or
loads back a state different from the one it saved.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_contenders import CONTENDERS, REFERENCE
from bench_workloads import (
    SYNTHETIC_DEFAULTS,
    WORKLOADS,
    archive_path,
    unpack_campaign,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
CHILD = Path(__file__).resolve().parent / "bench_contenders.py"
DEFAULT_SYNTHETIC_TICKS = 200
QUICK_TICKS = 30
QUICK_SYNTHETIC = {"records": 500, "edges": 2000, "append_rate": 5}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--workload",
        action="append",
        choices=WORKLOADS,
        help="a workload to run (repeatable; default: all)",
    )
    parser.add_argument("--ticks", type=int, help="ticks per workload")
    parser.add_argument("--interval", type=int, default=1, help="checkpoint interval")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--quick", action="store_true", help="a smoke test, < 1 min")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=REPO_ROOT.parent / "shared" / "data",
        help="folder of babylon-*.tar.zst (default: ../shared/data)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated contenders (default: all)",
    )
    parser.add_argument(
        "--git-gc",
        choices=("aggressive", "normal", "none"),
        default="aggressive",
        help="the gc pass run on the git contender's repository",
    )
    parser.add_argument(
        "--tmp-dir", type=Path, help="where contenders write (default: system temp)"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="instead of benchmarking, profile tickvault's on_step (fsync off) "
        "with cProfile (DIR/<workload>.prof) and, if installed, yappi over all "
        "threads (DIR/<workload>.threads.prof); print the top entries",
    )
    synthetic = parser.add_argument_group("synthetic workload")
    for key, value in SYNTHETIC_DEFAULTS.items():
        synthetic.add_argument(
            "--" + key.replace("_", "-"),
            type=type(value),
            default=None,
            help=f"default {value}",
        )
    args = parser.parse_args(argv)
    if args.interval < 1:
        parser.error(f"--interval must be >= 1 (got {args.interval})")
    if args.ticks is not None and args.ticks < 1:
        parser.error(f"--ticks must be >= 1 (got {args.ticks})")
    args.contenders = [c for c in args.contenders.split(",") if c]
    unknown = sorted(set(args.contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders: {', '.join(unknown)}")
    return args


def synthetic_params(args: argparse.Namespace) -> dict[str, Any]:
    params = dict(SYNTHETIC_DEFAULTS)
    if args.quick:
        params.update(QUICK_SYNTHETIC)
    for key in SYNTHETIC_DEFAULTS:
        if getattr(args, key) is not None:
            params[key] = getattr(args, key)
    return params


def workload_specs(
    args: argparse.Namespace, scratch: Path, console: Console
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Unpack the campaigns needed and describe each workload to run.

    Returns:
        The specs of the workloads to run, and the reason for each skipped one.
    """
    names = args.workload or list(WORKLOADS)
    babylon_ticks = args.ticks or (QUICK_TICKS if args.quick else None)
    specs = []
    skipped = {}
    unpacked: dict[str, Path] = {}
    for name in names:
        if name == "synthetic":
            ticks = args.ticks or (
                QUICK_TICKS if args.quick else DEFAULT_SYNTHETIC_TICKS
            )
            specs.append(
                {"name": name, "kind": "synthetic", "ticks": ticks}
                | synthetic_params(args)
            )
            continue
        campaign, model = name.split("-")
        archive = archive_path(args.data_dir, campaign)
        if not archive.is_file():
            skipped[name] = f"{archive} not found"
            console.print(f"[yellow]skipping {name}: {archive} not found[/]")
            continue
        if campaign not in unpacked:
            start = time.perf_counter()
            dest = scratch / "data" / campaign
            dest.mkdir(parents=True)
            unpacked[campaign] = unpack_campaign(archive, dest, babylon_ticks)
            elapsed = time.perf_counter() - start
            console.print(f"unpacked {archive.name} in {elapsed:.1f} s", style="dim")
        specs.append(
            {
                "name": name,
                "kind": "babylon",
                "model": model,
                "scenario_dir": str(unpacked[campaign]),
                "ticks": babylon_ticks,
            }
        )
    return specs, skipped


def run_child(
    task: str,
    workload: dict[str, Any],
    args: argparse.Namespace,
    scratch: Path,
    profile: tuple[Path, str] | None = None,
) -> dict[str, Any]:
    """Run one contender (or the floor) in a fresh process; return its figures.

    Args:
        profile: Where to write pstats, and the profiler (``cprofile`` or
            ``yappi``); None runs unprofiled.
    """
    work = Path(tempfile.mkdtemp(prefix=f"{task}-", dir=scratch))
    spec = {
        "contender": task,
        "workload": workload,
        "interval": args.interval,
        "root": str(work / "out"),
        "git_gc": args.git_gc,
        "profile": str(profile[0]) if profile else None,
        "profiler": profile[1] if profile else None,
    }
    (work / "out").mkdir()
    spec_file, out_file, err_file = work / "spec.json", work / "out.json", work / "err"
    spec_file.write_text(json.dumps(spec))
    start = time.perf_counter()
    with err_file.open("wb") as err:
        proc = subprocess.run(
            [sys.executable, str(CHILD), str(spec_file), str(out_file)],
            stderr=err,
            check=False,
        )
    elapsed = time.perf_counter() - start
    result: dict[str, Any]
    if out_file.exists():
        result = json.loads(out_file.read_text())
    else:
        result = {"status": "error", "error": f"child exited with {proc.returncode}"}
    if result["status"] != "ok":
        result["stderr_tail"] = err_file.read_text(errors="replace")[-4000:]
    result["wall_seconds"] = elapsed
    shutil.rmtree(work, ignore_errors=True)
    return result


def add_ratios(figures: dict[str, Any]) -> None:
    """Add each contender's ratios against the reference and the floor."""
    floor = figures.get("floor", {}).get("packb_ms_median")
    ref = figures["contenders"].get(REFERENCE, {})
    for result in figures["contenders"].values():
        if result.get("status") != "ok":
            continue
        ratios = {}
        if ref.get("status") == "ok":
            keys = ("bytes_on_disk", "save_ms_median", "save_ms_p95", "load_latest_ms")
            for key in (*keys, "load_middle_ms"):
                ratios[key] = result[key] / ref[key] if ref[key] else None
        if floor:
            ratios["save_ms_median_vs_packb"] = result["save_ms_median"] / floor
        result["ratios"] = ratios


def check_targets(name: str, figures: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare tickvault (fsync off) with the targets of the benchmark's issue.

    The verdicts are informational: they never change the exit status.
    """
    result = figures["contenders"].get("tickvault-nofsync", {})
    if result.get("status") != "ok" or not result.get("ratios"):
        return []
    ratios = result["ratios"]
    targets = []
    if name.endswith("-pydantic"):
        targets.append(("save median vs json-indent", ratios["save_ms_median"], 1.0))
    if name == "synthetic":
        targets.append(("save median vs json-indent", ratios["save_ms_median"], 0.2))
        targets.append(
            ("kB (1000 B) per checkpoint", result["bytes_per_checkpoint"] / 1e3, 20)
        )
    if "save_ms_median_vs_packb" in ratios:
        targets.append(("save median vs packb", ratios["save_ms_median_vs_packb"], 2.0))
    targets.append(("bytes vs json-indent", ratios["bytes_on_disk"], 0.02))
    targets.append(("load latest vs json-indent", ratios["load_latest_ms"], 1.5))
    return [
        {"target": label, "value": value, "limit": limit, "met": value <= limit}
        for label, value, limit in targets
        if value is not None
    ]


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _ratio(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}x" if value < 0.1 else f"{value:.2f}x"


def print_table(console: Console, name: str, figures: dict[str, Any]) -> None:
    floor = figures.get("floor", {})
    title = (
        f"{name}: {floor.get('checkpoints', '?')} checkpoints of "
        f"{floor.get('ticks', '?')} ticks, state "
        f"{_size(floor.get('state_json_bytes_median', 0))} compact JSON (median)"
    )
    table = Table(title=title, title_justify="left")
    headers = (
        "contender",
        "disk",
        "disk x",
        "alloc",
        "per ckpt",
        "save med ms",
        "p95 ms",
        "save x",
        "x packb",
        "load last ms",
        "load mid ms",
        "load x",
        "diff ms",
        "RSS MB",
        "+RSS MB",
        "ok",
    )
    for index, header in enumerate(headers):
        table.add_column(header, justify="left" if index == 0 else "right")
    for contender, result in figures["contenders"].items():
        if result.get("status") != "ok":
            table.add_row(contender, *["-"] * 14, f"[red]{result.get('status')}[/]")
            continue
        ratios = result.get("ratios", {})
        table.add_row(
            contender,
            _size(result["bytes_on_disk"]),
            _ratio(ratios.get("bytes_on_disk")),
            _size(result["bytes_allocated"]),
            _size(result["bytes_per_checkpoint"]),
            _num(result["save_ms_median"]),
            _num(result["save_ms_p95"]),
            _ratio(ratios.get("save_ms_median")),
            _ratio(ratios.get("save_ms_median_vs_packb")),
            _num(result["load_latest_ms"]),
            _num(result["load_middle_ms"]),
            _ratio(ratios.get("load_latest_ms")),
            _num(result["diff_ms"]),
            _num(result["peak_rss_mb"], ".0f"),
            _num(result["peak_rss_mb"] - result["rss_workload_mb"], ".0f"),
            "[green]yes[/]" if result["load_equal"] else "[red]MISMATCH[/]",
        )
    console.print(table)
    notes = [
        f"x: ratio to {REFERENCE} (fsync off)",
        "disk: apparent size; alloc: st_blocks * 512",
        "+RSS: peak RSS above the preloaded workload's",
    ]
    if floor.get("packb_ms_median") is not None:
        notes.append(f"floor: msgpack.packb {floor['packb_ms_median']:.2f} ms")
    if floor.get("model_dump_ms_median") is not None:
        notes.append(f"model_dump() {floor['model_dump_ms_median']:.2f} ms")
    git = figures["contenders"].get("git", {}).get("extra", {})
    if "gc_seconds" in git:
        notes.append(
            f"git gc --{git['gc_mode']}: {_size(git['repo_bytes_before_gc'])} -> "
            f"{_size(git['repo_bytes_after_gc'])} in {git['gc_seconds']:.1f} s"
        )
    console.print("; ".join(notes), style="dim")
    verdicts = [
        f"{t['target']} {t['value']:.3g} (<= {t['limit']:g}: "
        + ("[green]met[/])" if t["met"] else "[red]missed[/])")
        for t in figures.get("targets", [])
    ]
    if verdicts:
        console.print("tickvault-nofsync targets: " + "; ".join(verdicts))
    for contender, result in figures["contenders"].items():
        if result.get("status") != "ok":
            console.print(f"[red]{contender}: {result.get('error')}[/]")
            console.print(result.get("stderr_tail", ""), markup=False, highlight=False)
        elif result["mismatches"]:
            console.print(f"[red]{contender}: {', '.join(result['mismatches'])}[/]")
    console.print()


def run_profiles(
    console: Console,
    log: Console,
    spec: dict[str, Any],
    args: argparse.Namespace,
    scratch: Path,
    limit: int = 25,
) -> bool:
    """Profile tickvault's on_step over one workload; print the top entries.

    Returns:
        Whether every profiled run succeeded.
    """
    kinds = ["cprofile"]
    if importlib.util.find_spec("yappi") is not None:
        kinds.append("yappi")
    ok = True
    for kind in kinds:
        suffix = ".prof" if kind == "cprofile" else ".threads.prof"
        path = args.profile / f"{spec['name']}{suffix}"
        result = run_child("tickvault-nofsync", spec, args, scratch, (path, kind))
        log.print(f"{spec['name']:<28} {kind:<18} {result['status']}")
        if result["status"] != "ok":
            log.print(result.get("stderr_tail", ""), markup=False, highlight=False)
            ok = False
            continue
        for thread in result["extra"].get("profile_threads", []):
            console.print(
                f"thread {thread['thread']}: {thread['cpu_seconds']:.3f} s CPU"
            )
        for key in ("cumulative", "tottime"):
            console.rule(f"{path.name} ({kind}): top {limit} by {key}")
            stats = pstats.Stats(str(path))
            stats.strip_dirs().sort_stats(key).print_stats(limit)
    return ok


def machine() -> dict[str, Any]:
    """Describe the machine, and the tickvault build under test."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "git": shutil.which("git") is not None,
    }
    spec = importlib.util.find_spec("tickvault")
    if spec is not None and spec.origin is not None:
        digest = hashlib.blake2b(digest_size=8)
        for source in sorted(Path(spec.origin).parent.glob("*.py")):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
        info["tickvault_sources"] = str(Path(spec.origin).parent)
        info["tickvault_sources_digest"] = digest.hexdigest()
    return info


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(stderr=False, width=None if sys.stdout.isatty() else 200)
    log = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
    contenders = list(args.contenders)
    if shutil.which("git") is None and "git" in contenders:
        contenders.remove("git")
        log.print("[yellow]skipping git: no git on PATH[/]")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        contenders = ["tickvault-nofsync"]

    report: dict[str, Any] = {"machine": machine(), "args": {}, "workloads": {}}
    report["args"] = {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
    }
    failed = False
    base = str(args.tmp_dir) if args.tmp_dir else None
    with tempfile.TemporaryDirectory(prefix="tickvault-bench-", dir=base) as tmp:
        scratch = Path(tmp)
        specs, skipped = workload_specs(args, scratch, log)
        for name, reason in skipped.items():
            report["workloads"][name] = {"skipped": reason}
        for spec in specs:
            figures: dict[str, Any] = {"spec": spec, "contenders": {}}
            report["workloads"][spec["name"]] = figures
            if args.profile:
                failed |= not run_profiles(console, log, spec, args, scratch)
                continue
            for task in ["floor", *contenders]:
                result = run_child(task, spec, args, scratch)
                ok = result["status"] == "ok" and result.get("load_equal", True)
                failed |= not ok
                status = "ok" if ok else "[red]FAILED[/]"
                log.print(
                    f"{spec['name']:<28} {task:<18} {status} "
                    f"({result['wall_seconds']:.1f} s)"
                )
                if task == "floor":
                    figures["floor"] = result
                else:
                    figures["contenders"][task] = result
            add_ratios(figures)
            figures["targets"] = check_targets(spec["name"], figures)
            print_table(console, spec["name"], figures)
    for name, reason in skipped.items():
        console.print(f"[yellow]skipped {name}: {reason}[/]")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
