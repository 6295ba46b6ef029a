"""The ``tickvault`` command: inspect a vault, or run the demo.

This is the only module that reads argv or the environment, and the only one
that configures logging. Output goes through rich, on two consoles: results to
stdout; progress, log records and errors to stderr. Rich already leaves colour
out when a stream is not a terminal and honours ``FORCE_COLOR`` and
``TERM=dumb``. It treats ``NO_COLOR`` as "no colours" but keeps bold and dim;
here ``NO_COLOR`` turns styling off altogether, so such a terminal gets plain
text with no escape sequences at all. Console markup is off as well, so
brackets in a checkpoint's description are printed, not interpreted.

A failure is reported as one line in argparse's own form, ``tickvault: error:
...``, never as a traceback. The exit status is 1 for a vault that cannot be
read or written and for any other error of the operating system, 2 for a
command line that argparse rejects, and 130 for an interrupt.

`json_safe` turns the plain data read from a vault into values that JSON can
hold, so that the output of ``show --json`` loads in any JSON reader.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import importlib.metadata
import json
import logging
import math
import os
import shlex
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeAlias

from rich import box
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from .demo import DemoSummary, run_demo
from .errors import CheckpointIOError
from .manifest import CheckpointMetadata
from .vault import Vault

__all__ = ["DEFAULT_DEMO_DIR", "JSONValue", "build_parser", "json_safe", "main"]

JSONValue: TypeAlias = (
    "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
)

DEFAULT_DEMO_DIR = Path("tickvault-demo")

_PIPE_WIDTH = 160
"""Console width for a stream that is not a terminal, when COLUMNS is unset.

Rich would assume 80 columns and wrap the log table; a pipe has no width, and
unwrapped rows are what ``grep`` and ``cut`` want.
"""

_SHORT_ID = 10
"""Hex digits of a checkpoint id shown by ``log``: short, and still a valid ref."""

_REF_HELP = (
    "which checkpoint: 'latest', '~N' (N back from the latest), a tick, "
    "a checkpoint id prefix of at least 4 hex characters, or a manifest path"
)

_Handler: TypeAlias = Callable[[argparse.Namespace, Console, Console], int]


def json_safe(value: object) -> JSONValue:
    """Convert a plain value read from a vault into one that JSON can hold.

    Tuples become lists; sets and frozensets become sorted lists; bytes become
    base64 text; dates and times their ISO 8601 text; ``Decimal`` and ``UUID``
    their ``str``; an enum member its value; nan and the infinities the text
    ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. Mapping keys that are not
    strings become the JSON text of their converted value (``1`` gives
    ``"1"``, ``(1, 2)`` gives ``"[1,2]"``), so two keys that differ only in
    type collide and the later one wins. Dataclasses and pydantic-style models
    become mappings of their fields.

    Raises:
        TypeError: If ``value`` holds something that none of the above covers.
    """
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {_json_key(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((json_safe(member) for member in value), key=_member_order)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: json_safe(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return json_safe(model_dump())
    raise TypeError(f"cannot convert a {type(value).__name__} to JSON")


def _json_key(key: object) -> str:
    if isinstance(key, str):
        return key
    converted = json_safe(key)
    if isinstance(converted, str):
        return converted
    return json.dumps(converted, separators=(",", ":"), sort_keys=True)


def _member_order(member: JSONValue) -> tuple[int, float | str]:
    """Order numbers by value, then strings, then anything else by its JSON text."""
    if isinstance(member, int | float):
        return (0, member)
    if isinstance(member, str):
        return (1, member)
    return (2, json.dumps(member, separators=(",", ":"), sort_keys=True))


def _human_bytes(count: int) -> str:
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    size = float(count)
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{count} B" if unit == 0 else f"{size:.1f} {units[unit]}"


def _bytes_in_full(count: int) -> str:
    return f"{_human_bytes(count)} ({count:,} bytes)"


def _utc(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _version() -> str:
    try:
        return importlib.metadata.version("tickvault")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (got {value})")
    return value


def _console(environ: Mapping[str, str], *, stderr: bool) -> Console:
    if environ.get("NO_COLOR", ""):
        console = Console(
            stderr=stderr, color_system=None, markup=False, highlight=False
        )
    else:
        console = Console(stderr=stderr, markup=False, highlight=False)
    if not console.is_terminal and "COLUMNS" not in environ:
        console.width = _PIPE_WIDTH
    return console


def _report(err: Console, message: str) -> None:
    line = " ".join(message.split())
    err.print(Text.assemble(("tickvault: error: ", "bold red"), line), soft_wrap=True)


@contextlib.contextmanager
def _logging_to(console: Console, verbosity: int) -> Iterator[None]:
    """Send the package's log records to ``console`` while the block runs."""
    if verbosity >= 2:
        level = logging.DEBUG
    elif verbosity == 1:
        level = logging.INFO
    else:
        level = logging.WARNING
    handler = RichHandler(
        console=console, level=level, show_time=False, show_path=False
    )
    package = logging.getLogger(__name__.partition(".")[0])
    previous_level = package.level
    package.addHandler(handler)
    package.setLevel(level)
    try:
        yield
    finally:
        package.removeHandler(handler)
        package.setLevel(previous_level)


def _silence_stdout() -> None:
    """Point stdout at the null device once its reader has gone away.

    Without this the interpreter's last flush of stdout fails again on the
    broken pipe and prints a complaint of its own.
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _cmd_log(args: argparse.Namespace, out: Console, err: Console) -> int:
    with Vault(args.dir) as vault:
        history = vault.log()
    if not history:
        out.print(Text(f"{args.dir}: no checkpoints"))
        return 0

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        header_style="bold",
    )
    table.add_column("pos", justify="right", no_wrap=True)
    table.add_column("tick", justify="right", no_wrap=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("description", overflow="fold", min_width=len("description"))
    table.add_column("logical", justify="right", no_wrap=True)
    table.add_column("stored", justify="right", no_wrap=True)
    for metadata in history:
        table.add_row(
            str(metadata.position),
            str(metadata.tick),
            _utc(metadata.created_at),
            Text(metadata.checkpoint_id[:_SHORT_ID], style="yellow"),
            Text(metadata.description),
            _human_bytes(metadata.logical_bytes),
            _human_bytes(metadata.new_bytes),
        )
    out.print(table)
    return 0


def _metadata_table(metadata: CheckpointMetadata) -> Table:
    rows = [
        ("checkpoint", metadata.checkpoint_id),
        ("position", str(metadata.position)),
        ("tick", str(metadata.tick)),
        ("created (UTC)", _utc(metadata.created_at)),
        ("description", metadata.description),
        ("format version", str(metadata.format_version)),
        ("parent", metadata.parent_id or "none"),
        ("logical size", _bytes_in_full(metadata.logical_bytes)),
        ("new objects", str(metadata.new_objects)),
        ("stored size", _bytes_in_full(metadata.new_bytes)),
        ("manifest", str(metadata.path)),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, Text(value))
    return grid


def _cmd_show(args: argparse.Namespace, out: Console, err: Console) -> int:
    with Vault(args.dir) as vault:
        if not args.json:
            out.print(_metadata_table(vault.resolve(args.ref)))
            return 0
        checkpoint = vault.read(args.ref)
    text = json.dumps(
        json_safe(checkpoint.state), indent=2, ensure_ascii=False, allow_nan=False
    )
    out.file.write(text + "\n")
    out.file.flush()
    return 0


def _summary_table(summary: DemoSummary) -> Table:
    rows = [
        ("vault", str(summary.vault)),
        ("ticks", str(summary.ticks)),
        ("checkpoints", str(summary.checkpoints)),
        ("logical bytes", _bytes_in_full(summary.logical_bytes)),
        ("bytes on disk", _bytes_in_full(summary.disk_bytes)),
        ("dedup ratio", f"{summary.dedup_ratio:.1f}x"),
        ("median ms per checkpoint", f"{summary.median_ms:.1f}"),
    ]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(justify="right", no_wrap=True)
    for label, value in rows:
        grid.add_row(label, Text(value))
    return grid


def _unused(directory: Path) -> bool:
    return not directory.exists() or (
        directory.is_dir() and not any(directory.iterdir())
    )


def _default_demo_dir() -> Path:
    """Return ./tickvault-demo, or ./tickvault-demo-N if that one is taken."""
    candidate, number = DEFAULT_DEMO_DIR, 1
    while not _unused(candidate):
        number += 1
        candidate = DEFAULT_DEMO_DIR.with_name(f"{DEFAULT_DEMO_DIR.name}-{number}")
    return candidate


def _cmd_demo(args: argparse.Namespace, out: Console, err: Console) -> int:
    directory: Path = args.dir if args.dir is not None else _default_demo_dir()
    if not _unused(directory):
        _report(err, f"{directory} exists and is not an empty folder; give a new DIR")
        return 1

    columns = (
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("ticks"),
        TimeElapsedColumn(),
    )
    # On a stream that is not a terminal rich draws no bar but leaves a blank
    # line behind, so the bar is left out there altogether.
    bar = Progress(*columns, console=err, transient=True, disable=not err.is_terminal)
    with bar as progress:
        task = progress.add_task("demo", total=args.ticks)
        summary = run_demo(
            directory,
            ticks=args.ticks,
            interval=args.interval,
            fsync=args.fsync,
            seed=args.seed,
            progress=lambda tick, _total: progress.update(task, completed=tick),
        )

    out.print(_summary_table(summary))
    err.print(
        Text(f"see its checkpoints with: tickvault log {shlex.quote(str(directory))}")
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``tickvault`` command line."""
    parser = argparse.ArgumentParser(
        prog="tickvault",
        description="Inspect a vault of simulation checkpoints, or run the demo.",
        epilog="Exit status: 0 on success, 1 when a vault or a file cannot be "
        "read or written, 2 for a command line that is not understood, 130 "
        "when interrupted. NO_COLOR in the environment turns styling off.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    verbose_help = "log to stderr: -v for each operation, -vv for each object"
    parser.add_argument("-v", "--verbose", action="count", default=0, help=verbose_help)
    # SUPPRESS keeps a subcommand that was given no -v from resetting a -v
    # that came before its name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help=verbose_help
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    log = commands.add_parser(
        "log",
        parents=[common],
        help="list the checkpoints of a vault",
        description="List the checkpoints of a vault, oldest first: position, "
        "tick, time, id, description, logical size and the bytes each one added.",
    )
    log.add_argument("dir", type=Path, metavar="DIR", help="the vault's folder")
    log.set_defaults(handler=_cmd_log)

    show = commands.add_parser(
        "show",
        parents=[common],
        help="show one checkpoint",
        description="Show the metadata of one checkpoint, or its state as JSON.",
    )
    show.add_argument("dir", type=Path, metavar="DIR", help="the vault's folder")
    show.add_argument("ref", metavar="REF", help=_REF_HELP)
    show.add_argument(
        "--json",
        action="store_true",
        help="print the checkpoint's state as JSON instead of its metadata "
        '(bytes as base64, sets as sorted lists, nan as "NaN")',
    )
    show.set_defaults(handler=_cmd_show)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="run the example simulation with a checkpointer",
        description="Simulate a world of a few thousand settlements, checkpoint "
        "it every --interval ticks into a new vault, and print what that cost: "
        "checkpoints, logical bytes, bytes on disk, dedup ratio and the median "
        "time of a checkpoint. The same --seed always gives the same states.",
    )
    demo.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder for the demo's vault; it must not exist yet or be empty, "
        "so that a second run never mixes with the first (default: "
        f"./{DEFAULT_DEMO_DIR}, or ./{DEFAULT_DEMO_DIR}-2 and so on if taken)",
    )
    demo.add_argument(
        "--ticks",
        type=_positive_int,
        default=100,
        metavar="N",
        help="ticks to simulate after tick 0 (default: %(default)s)",
    )
    demo.add_argument(
        "--interval",
        type=_positive_int,
        default=10,
        metavar="K",
        help="checkpoint every K-th tick, tick 0 included (default: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="S",
        help="seed of the simulated history (default: %(default)s)",
    )
    demo.add_argument(
        "--no-fsync",
        dest="fsync",
        action="store_false",
        help="skip every fsync: faster, but a power failure may lose checkpoints",
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``tickvault`` command line and return its exit status.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` if None.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        return 2

    out = _console(os.environ, stderr=False)
    err = _console(os.environ, stderr=True)
    handler: _Handler = args.handler
    with _logging_to(err, args.verbose):
        try:
            return handler(args, out, err)
        except KeyboardInterrupt:
            _report(err, "interrupted")
            return 130
        except CheckpointIOError as exc:
            _report(err, str(exc) or type(exc).__name__)
            return 1
        except BrokenPipeError:
            _silence_stdout()
            return 1
        except OSError as exc:
            _report(err, str(exc) or type(exc).__name__)
            return 1
