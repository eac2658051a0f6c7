"""`keiba info`: where keiba keeps things (keiba.app.info), printed or as JSON."""

from __future__ import annotations

import typer

from keiba.app.info import gather_info
from keiba.cli.common import JsonOption, config_of, out, print_json

__all__ = ["info"]


def info(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Where keiba keeps things: home, configuration, warehouse, ledger, object store, MLflow."""
    config = config_of(ctx)
    given = ctx.find_root().obj.config_path
    facts = gather_info(config, None if given is None else str(given))
    if as_json:
        print_json(facts)
        return
    width = max(len(key) for key in facts)
    for key, value in facts.items():
        out.print(f"{key.replace('_', ' '):<{width}}  {value}", highlight=False, markup=False)
