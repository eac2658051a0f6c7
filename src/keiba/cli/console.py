"""The root of the `keiba` command: its consoles, its context and its error handling.

Every exception that leaves a command is caught once, by `KeibaGroup.invoke`, and printed as one
line on stderr (see keiba.cli.errors); `--log-level debug` adds the traceback. This module stays
light: `keiba --help` imports it and not the command modules.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from keiba.cli.errors import INTERNAL_ERROR_EXIT, USER_ERROR_EXIT, describe, is_internal

__all__ = ["Context", "KeibaGroup", "err", "out"]

err = Console(stderr=True, soft_wrap=True)
out = Console(soft_wrap=True)


@dataclass(frozen=True)
class Context:
    home: Path | None
    config_path: Path | None
    log_level: str | None


def _root_context(ctx: Any) -> Context | None:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Context) else None


class KeibaGroup(typer.core.TyperGroup):
    """The root command: turns every error of a subcommand into one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.TyperException, typer.Exit, typer.Abort):
            raise
        except Exception as e:
            c = _root_context(ctx)
            if c is not None and c.log_level == "debug":
                err.print(escape("".join(traceback.format_exception(e))), highlight=False)
            err.print(f"[bold red]error:[/] {escape(describe(e))}", highlight=False, soft_wrap=True)
            raise typer.Exit(INTERNAL_ERROR_EXIT if is_internal(e) else USER_ERROR_EXIT) from e
