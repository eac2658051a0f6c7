"""Shared pieces of the command modules: configuration loading, option types, progress bars,
times in JST and JSON output, and the consoles and root pieces of keiba.cli.console. Each
command module uses these and holds no logic of its own.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from keiba.cli.console import Context, KeibaGroup, err, out
from keiba.common.clock import JST
from keiba.common.config import load_config
from keiba.common.logging import configure_logging

__all__ = [
    "Context",
    "DatasetOption",
    "JsonOption",
    "KeibaGroup",
    "RaceDateOption",
    "TrackingOption",
    "config_of",
    "err",
    "exit_if_quarantined",
    "jst",
    "note",
    "out",
    "parse_date",
    "print_json",
    "progress_bar",
]

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TrackingOption = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI (default: model.tracking_uri, else a local store under home).",
    ),
]
DatasetOption = Annotated[
    str | None,
    typer.Option(
        "--dataset",
        metavar="NAME",
        help="The dataset to use (default: storage.dataset, else 'default'); see keiba data "
        "status.",
    ),
]


def parse_date(value: str | dt.date) -> dt.date:
    """A calendar day written YYYY-MM-DD (the `parser` of every date option)."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date YYYY-MM-DD") from None


RaceDateOption = Annotated[
    dt.date | None,
    typer.Option(
        "--date",
        metavar="YYYY-MM-DD",
        parser=parse_date,
        help="The race day in JST (default: see above).",
    ),
]
"""One race day, the same option in every command that takes one."""


def config_of(
    ctx: typer.Context, overrides: dict[str, Any] | None = None, *, dataset: str | None = None
) -> Any:
    """The configuration: file, environment, then the command's own options (`overrides`,
    and `dataset`, the `--dataset` option)."""
    c: Context = ctx.find_root().obj
    extra = dict(overrides or {})
    if dataset is not None:
        extra["storage"] = {**extra.get("storage", {}), "dataset": dataset}
    if c.log_level:
        extra.setdefault("logging", {})["level"] = c.log_level
    config = load_config(
        c.config_path, c.home, extra or None, overrides_from="command-line options"
    )
    configure_logging(config.logging.level, config.logging.format)
    return config


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[Callable[[str, int, int], None]]:
    """A progress callback `(stage, done, total)` drawing one bar per stage on stderr; the bars
    appear with the first update, so work that fails before it prints nothing but its error."""
    tasks: dict[str, TaskID] = {}
    bar = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    )

    def update(stage: str, done: int, total: int) -> None:
        if not tasks:
            bar.start()
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def jst(instant: object) -> str:
    """An instant (a datetime or its ISO text, UTC when naive) as `YYYY-MM-DD HH:MM JST`."""
    if instant is None or instant == "":
        return ""
    if isinstance(instant, dt.datetime):
        moment = instant
    else:
        try:
            moment = dt.datetime.fromisoformat(str(instant))
        except ValueError:
            return str(instant)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def note(text: str) -> None:
    """A note for the reader: prose, wrapped at word boundaries within the terminal's width
    (the consoles do not wrap by default, so paths and URLs are never cut)."""
    out.print(f"[yellow]note:[/] {escape(text)}", highlight=False, soft_wrap=False)


def exit_if_quarantined(config: Any, quarantined: int) -> None:
    """Exit 1 saying where the quarantined records are, when a load set any aside."""
    if quarantined:
        from keiba.common.storage.datasets import warehouse_location

        where = warehouse_location(config, config.storage.dataset)
        err.print(
            f"[bold red]{quarantined:,} record(s) quarantined[/]: see `keiba data status "
            f"{config.storage.dataset}` and the quarantine table in {where}",
            highlight=False,
        )
        raise typer.Exit(1)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")
