"""Shared pieces of the `keiba` command: consoles, configuration loading, error handling,
progress bars and JSON output. Each command module uses these and holds no logic of its own."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from keiba.common.errors import KeibaError

__all__ = [
    "Context",
    "JsonOption",
    "config_of",
    "err",
    "out",
    "print_json",
    "progress_bar",
    "run_reporting_errors",
]

err = Console(stderr=True)
out = Console()

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    home: Path | None
    config_path: Path | None
    log_level: str | None


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def config_of(ctx: typer.Context, overrides: dict[str, Any] | None = None) -> Any:
    from keiba.common.config import load_config
    from keiba.common.logging import configure_logging

    c: Context = ctx.obj
    extra = dict(overrides or {})
    if c.log_level:
        extra.setdefault("logging", {})["level"] = c.log_level
    config = load_config(c.config_path, c.home, extra or None)
    configure_logging(config.logging.level, config.logging.format)
    return config


def run_reporting_errors(action: Callable[[], T]) -> T:
    try:
        return action()
    except KeibaError as e:
        err.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from e


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    tasks: dict[str, TaskID] = {}
    with Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
