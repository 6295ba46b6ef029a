"""The ``tickvault`` command line: its output, its errors and its colour.

Most tests run the command in-process through `main` and read what it printed
with ``capsys``, which is not a terminal; colour on a terminal is simulated
with ``FORCE_COLOR``, which rich honours. Two tests run ``python -m
tickvault`` in a subprocess: one to prove that the module entry works, one to
interrupt a real demo run with SIGINT.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import importlib.metadata
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tickvault import CheckpointMetadata, Vault, save_checkpoint
from tickvault.cli import json_safe, main
from tickvault.demo import DemoConfig, run_demo

SMALL = DemoConfig(settlements=200, relations=300)
ESCAPE = "\x1b["


class Colour(enum.Enum):
    RED = "red"


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's colour and width settings out of every test."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("COLUMNS", raising=False)


@pytest.fixture(scope="module")
def demo_vault(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A vault of four demo checkpoints (ticks 0, 2, 4, 6) that tests only read."""
    directory = tmp_path_factory.mktemp("cli") / "vault"
    run_demo(directory, ticks=6, interval=2, fsync=False, config=SMALL)
    return directory


@pytest.fixture
def own_vault(tmp_path: Path) -> Path:
    """A vault of three demo checkpoints that a test may damage."""
    directory = tmp_path / "own"
    run_demo(directory, ticks=2, interval=1, fsync=False, config=SMALL)
    return directory


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the command in-process; return its exit status, stdout and stderr."""
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def is_one_error_line(err: str) -> bool:
    """Tell whether ``err`` is exactly one ``tickvault: error:`` line."""
    lines = err.strip().splitlines()
    return (
        len(lines) == 1
        and lines[0].startswith("tickvault: error: ")
        and "Traceback" not in err
    )


def history_of(directory: Path) -> list[CheckpointMetadata]:
    with Vault(directory) as vault:
        return vault.log()


def test_log_has_one_row_per_checkpoint(
    capsys: pytest.CaptureFixture[str], demo_vault: Path
) -> None:
    history = history_of(demo_vault)

    status, out, _ = run(capsys, "log", str(demo_vault))

    rows = [line for line in out.splitlines() if re.search(r"\d{4}-\d\d-\d\d", line)]
    assert status == 0
    assert len(rows) == len(history) == 4
    for row, metadata in zip(rows, history, strict=True):
        assert metadata.checkpoint_id[:10] in row
        assert re.search(rf"\b{metadata.position}\b.*\b{metadata.tick}\b", row)


def test_log_shows_human_readable_sizes(
    capsys: pytest.CaptureFixture[str], demo_vault: Path
) -> None:
    _, out, _ = run(capsys, "log", str(demo_vault))

    assert re.search(r"\d+\.\d (KiB|MiB)", out)


def test_log_prints_a_description_literally(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    description = "[bold]not markup[/bold]"
    save_checkpoint({"tick": 1}, {}, tmp_path / "v", description=description)

    _, out, _ = run(capsys, "log", str(tmp_path / "v"))

    assert description in out


def test_log_of_an_empty_vault_says_there_are_no_checkpoints(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    Vault(tmp_path / "empty", create=True).close()

    status, out, _ = run(capsys, "log", str(tmp_path / "empty"))

    assert status == 0
    assert "no checkpoints" in out


REFS: dict[str, Callable[[list[CheckpointMetadata]], tuple[str, int]]] = {
    "latest": lambda log: ("latest", -1),
    "tilde": lambda log: ("~1", -2),
    "tick": lambda log: (str(log[1].tick), 1),
    "id prefix": lambda log: (log[2].checkpoint_id[:10], 2),
    "path": lambda log: (str(log[0].path), 0),
}


@pytest.mark.parametrize("kind", REFS)
def test_show_prints_the_metadata_of_the_checkpoint_named_by_ref(
    capsys: pytest.CaptureFixture[str], demo_vault: Path, kind: str
) -> None:
    history = history_of(demo_vault)
    ref, index = REFS[kind](history)

    status, out, _ = run(capsys, "show", str(demo_vault), ref)

    assert status == 0
    assert history[index].checkpoint_id in out
    assert re.search(rf"^tick\s+{history[index].tick}\s*$", out, re.MULTILINE)


def test_show_json_parses_and_holds_the_tick(
    capsys: pytest.CaptureFixture[str], demo_vault: Path
) -> None:
    status, out, _ = run(capsys, "show", str(demo_vault), "4", "--json")

    state = json.loads(out)
    assert status == 0
    assert state["tick"] == 4
    assert len(state["settlements"]) >= SMALL.settlements


def test_show_json_writes_every_stored_kind_of_value_as_strict_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = {
        "tick": 3,
        "pair": (1, 2),
        "members": {3, 1, 2},
        "raw": b"\x00\xff",
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "price": decimal.Decimal("1.25"),
        "uid": uuid.UUID(int=7),
        "by_number": {1: "one", 2: "two"},
        "missing": math.nan,
        "huge": math.inf,
    }
    save_checkpoint(state, {}, tmp_path / "v")

    _, out, _ = run(capsys, "show", str(tmp_path / "v"), "latest", "--json")

    assert json.loads(out, parse_constant=lambda name: pytest.fail(name)) == {
        "tick": 3,
        "pair": [1, 2],
        "members": [1, 2, 3],
        "raw": "AP8=",
        "when": "2024-05-01T12:30:00+00:00",
        "price": "1.25",
        "uid": "00000000-0000-0000-0000-000000000007",
        "by_number": {"1": "one", "2": "two"},
        "missing": "NaN",
        "huge": "Infinity",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((1, (2, 3)), [1, [2, 3]]),
        (frozenset({"b", "a"}), ["a", "b"]),
        ({10, 2, 3}, [2, 3, 10]),
        ({"x", 1, None}, [1, "x", None]),
        (bytearray(b"hi"), "aGk="),
        (dt.date(2024, 2, 29), "2024-02-29"),
        (dt.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
        (decimal.Decimal("-0.10"), "-0.10"),
        (Colour.RED, "red"),
        (
            {(1, 2): "pair", None: "none", True: "yes"},
            {"[1,2]": "pair", "null": "none", "true": "yes"},
        ),
        (-math.inf, "-Infinity"),
        (-0.0, -0.0),
        (2**100, 2**100),
    ],
    ids=lambda value: type(value).__name__,
)
def test_json_safe_converts_a_value_to_its_json_form(
    value: object, expected: object
) -> None:
    assert json_safe(value) == expected


def test_json_safe_refuses_a_value_it_does_not_know() -> None:
    with pytest.raises(TypeError, match="object"):
        json_safe({"x": [object()]})


@pytest.mark.parametrize("ref", ["99", "~99", "ffffffff", "not-a-ref"])
def test_a_ref_that_names_no_checkpoint_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], demo_vault: Path, ref: str
) -> None:
    status, out, err = run(capsys, "show", str(demo_vault), ref)

    assert status == 1
    assert out == ""
    assert is_one_error_line(err)


@pytest.mark.parametrize("command", ["log", "show"])
def test_a_missing_dir_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    argv = [command, str(tmp_path / "nowhere")] + (
        ["latest"] if command == "show" else []
    )

    status, _, err = run(capsys, *argv)

    assert status == 1
    assert is_one_error_line(err)


def test_a_folder_that_is_not_a_vault_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("not a vault\n")

    status, _, err = run(capsys, "log", str(tmp_path))

    assert status == 1
    assert is_one_error_line(err)


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate_to_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("damage", [flip_middle_byte, truncate_to_half])
@pytest.mark.parametrize("json_flag", [[], ["--json"]], ids=["metadata", "json"])
def test_a_damaged_manifest_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str],
    own_vault: Path,
    damage: Callable[[Path], None],
    json_flag: list[str],
) -> None:
    manifest = history_of(own_vault)[-1].path
    damage(manifest)

    status, _, err = run(capsys, "show", str(own_vault), str(manifest), *json_flag)

    assert status == 1
    assert is_one_error_line(err)


def test_a_damaged_object_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], own_vault: Path
) -> None:
    objects = [path for path in (own_vault / "objects").rglob("*") if path.is_file()]
    for path in objects:
        flip_middle_byte(path)

    status, _, err = run(capsys, "show", str(own_vault), "latest", "--json")

    assert objects
    assert status == 1
    assert is_one_error_line(err)


def test_output_has_no_escapes_when_stdout_is_not_a_terminal(
    capsys: pytest.CaptureFixture[str], demo_vault: Path
) -> None:
    _, out, _ = run(capsys, "log", str(demo_vault))

    assert ESCAPE not in out


@pytest.mark.parametrize("ref", ["latest", "not-a-ref"], ids=["stdout", "stderr"])
def test_no_color_leaves_no_escapes_even_on_a_terminal(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_vault: Path,
    ref: str,
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("NO_COLOR", "1")

    _, out, err = run(capsys, "show", str(demo_vault), ref)

    assert out or err
    assert ESCAPE not in out + err


@pytest.mark.parametrize("ref", ["latest", "not-a-ref"], ids=["stdout", "stderr"])
def test_a_terminal_without_no_color_gets_styled_output(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    demo_vault: Path,
    ref: str,
) -> None:
    """The control for the NO_COLOR test: without NO_COLOR there are escapes."""
    monkeypatch.setenv("FORCE_COLOR", "1")

    _, out, err = run(capsys, "show", str(demo_vault), ref)

    assert ESCAPE in out + err


SUMMARY_LABELS = (
    "checkpoints",
    "logical bytes",
    "bytes on disk",
    "dedup ratio",
    "median ms per checkpoint",
)


def summary_figure(out: str, label: str) -> str:
    match = re.search(rf"^{label}\s+(.+?)\s*$", out, re.MULTILINE)
    assert match, f"no {label!r} line in {out!r}"
    return match.group(1)


def test_demo_prints_every_summary_figure(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["demo", str(tmp_path / "d"), "--ticks", "2", "--interval", "1"]

    status, out, _ = run(capsys, *argv, "--no-fsync")

    assert status == 0
    for label in SUMMARY_LABELS:
        assert summary_figure(out, label)


def test_demo_summary_agrees_with_the_vault(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    directory = tmp_path / "d"

    _, out, _ = run(
        capsys, "demo", str(directory), "--ticks", "4", "--interval", "2", "--no-fsync"
    )

    with Vault(directory) as vault:
        history = vault.log()
        disk = vault.disk_usage()
    logical = sum(metadata.logical_bytes for metadata in history)
    assert summary_figure(out, "checkpoints") == str(len(history)) == "3"
    assert summary_figure(out, "bytes on disk").endswith(f"({disk:,} bytes)")
    assert summary_figure(out, "logical bytes").endswith(f"({logical:,} bytes)")
    assert summary_figure(out, "dedup ratio") == f"{logical / disk:.1f}x"


def test_demo_same_seed_stores_the_same_states(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("a", "b"):
        argv = ["demo", str(tmp_path / name), "--ticks", "2", "--interval", "2"]
        run(capsys, *argv, "--seed", "9", "--no-fsync")

    with Vault(tmp_path / "a") as first, Vault(tmp_path / "b") as second:
        assert first.read("latest").state == second.read("latest").state


def test_demo_writes_its_vault_to_tickvault_demo_by_default(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)

    status, _, _ = run(capsys, "demo", "--ticks", "2", "--interval", "1", "--no-fsync")

    assert status == 0
    assert [metadata.tick for metadata in history_of(tmp_path / "tickvault-demo")] == [
        0,
        1,
        2,
    ]


def test_demo_run_again_without_a_dir_takes_the_next_free_folder(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ("demo", "--ticks", "1", "--interval", "1", "--no-fsync")
    run(capsys, *argv)

    status, _, _ = run(capsys, *argv)

    assert status == 0
    assert len(history_of(tmp_path / "tickvault-demo")) == 2
    assert len(history_of(tmp_path / "tickvault-demo-2")) == 2


def test_demo_writes_into_an_existing_empty_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, _ = run(
        capsys, "demo", str(tmp_path), "--ticks", "1", "--interval", "1", "--no-fsync"
    )

    assert status == 0
    assert len(history_of(tmp_path)) == 2


def test_demo_refuses_a_folder_that_is_not_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("keep me\n")

    status, _, err = run(capsys, "demo", str(tmp_path), "--ticks", "1", "--no-fsync")

    assert status == 1
    assert is_one_error_line(err)
    assert [path.name for path in tmp_path.iterdir()] == ["notes.txt"]


def test_demo_under_a_file_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "file").write_text("")

    status, _, err = run(
        capsys, "demo", str(tmp_path / "file" / "vault"), "--ticks", "1"
    )

    assert status == 1
    assert is_one_error_line(err)


def test_demo_keeps_stdout_for_the_summary(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["demo", str(tmp_path / "d"), "--ticks", "1", "--interval", "1"]

    _, out, err = run(capsys, *argv, "--no-fsync")

    labels = [line.split("  ")[0] for line in out.strip().splitlines()]
    assert set(labels) <= {*SUMMARY_LABELS, "vault", "ticks"}
    assert "tickvault log" in err


@pytest.mark.parametrize("option", ["--ticks", "--interval"])
def test_demo_rejects_a_count_below_one_as_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str
) -> None:
    status, _, err = run(capsys, "demo", str(tmp_path / "d"), option, "0")

    assert status == 2
    assert "must be >= 1 (got 0)" in err
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "argv",
    [["-v", "demo", "DIR"], ["demo", "DIR", "-v"]],
    ids=["before the command", "after the command"],
)
def test_verbose_logs_the_run_to_stderr(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    argv = [str(tmp_path / "d") if arg == "DIR" else arg for arg in argv]

    status, out, err = run(capsys, *argv, "--ticks", "1", "--no-fsync")

    assert status == 0
    assert re.search(r"INFO .*demo vault", err)
    assert "INFO" not in out


def test_without_verbose_no_info_is_logged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    status, _, err = run(capsys, "demo", str(tmp_path / "d"), "--ticks", "1")

    assert status == 0
    assert "INFO" not in err


def test_a_missing_command_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, _, err = run(capsys)

    assert status == 2
    assert "usage:" in err


def test_version_prints_the_installed_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(capsys, "--version")

    assert status == 0
    assert out.strip() == f"tickvault {importlib.metadata.version('tickvault')}"


def test_python_m_tickvault_runs_the_command_line(demo_vault: Path) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in ("NO_COLOR", "FORCE_COLOR")
    }
    result = subprocess.run(
        [sys.executable, "-m", "tickvault", "log", str(demo_vault)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    for metadata in history_of(demo_vault):
        assert metadata.checkpoint_id[:10] in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT is a POSIX signal")
def test_an_interrupted_demo_exits_130_with_one_line(tmp_path: Path) -> None:
    directory = tmp_path / "d"
    command = [sys.executable, "-m", "tickvault", "demo", str(directory)]
    process = subprocess.Popen(
        [*command, "--ticks", "100000", "--interval", "1", "--no-fsync"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any((directory / "manifests").glob("*")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the demo wrote no checkpoint"
            time.sleep(0.05)

        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()

    assert process.returncode == 130
    assert is_one_error_line(err)
    assert "interrupted" in err
