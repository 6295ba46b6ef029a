"""Smoke test of ``tools/bench.py --quick``: it runs, and reports every figure.

The benchmark runs once per module, in a subprocess, as CI would run it. The
synthetic workload always runs; the campaign workloads need the shared data
and are skipped, saying why, when it is absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "tools" / "bench.py"
DATA_DIR = REPO.parent / "shared" / "data"
CAMPAIGN_WORKLOADS = (
    "imperial_circuit-pydantic",
    "imperial_circuit-dict",
    "single_county-pydantic",
    "single_county-dict",
)
CONTENDERS = [
    "tickvault-fsync",
    "tickvault-nofsync",
    "tickvault-background",
    "json-indent",
    "json-indent-fsync",
    "json-zstd",
    "pickle-zstd",
] + (["git"] if shutil.which("git") else [])
FIGURES = (
    "bytes_on_disk",
    "bytes_allocated",
    "bytes_per_checkpoint",
    "save_ms_median",
    "save_ms_p95",
    "load_latest_ms",
    "load_middle_ms",
    "diff_ms",
    "peak_rss_mb",
)
FLOOR_FIGURES = ("packb_ms_median", "model_dump_ms_median", "state_json_bytes_median")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _check_workload(figures: dict[str, Any]) -> None:
    for key in FLOOR_FIGURES:
        assert key in figures["floor"]
    assert figures["floor"]["packb_ms_median"] > 0
    assert sorted(figures["contenders"]) == sorted(CONTENDERS)
    for name, result in figures["contenders"].items():
        assert result["status"] == "ok", name
        assert result["load_equal"], (name, result["mismatches"])
        for key in FIGURES:
            assert key in result, (name, key)
        assert result["bytes_on_disk"] > 0, name
        assert result["save_ms_median"] > 0, name
        assert "bytes_on_disk" in result["ratios"], name
    if "git" in figures["contenders"]:
        git = figures["contenders"]["git"]["extra"]
        for key in ("repo_bytes_before_gc", "repo_bytes_after_gc", "gc_seconds"):
            assert key in git


def test_synthetic_workload_reports_every_contender(report: dict[str, Any]) -> None:
    """The synthetic workload runs every contender and reports every figure."""
    _check_workload(report["workloads"]["synthetic"])


@pytest.mark.parametrize("name", CAMPAIGN_WORKLOADS)
def test_campaign_workload_reports_every_contender(
    report: dict[str, Any], name: str
) -> None:
    """Each campaign workload runs every contender, or says why it was skipped."""
    figures = report["workloads"][name]
    if "skipped" in figures:
        assert not any(DATA_DIR.glob("babylon-*.tar.zst"))
        pytest.skip(f"shared campaign data absent: {figures['skipped']}")
    _check_workload(figures)
    assert figures["floor"]["model_round_trip_ok"] in (True, None)
