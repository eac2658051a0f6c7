"""`keiba release list|show|promote|rollback|shadow`: the releases of the selected dataset; parsing
and printing only (keiba.app.releases).

Releases live in the audit chain of the ledger at `storage.ledger_url`. `promote` measures the
candidate's gates (a walk-forward backtest, its Monte Carlo, the held-out ΔR², the policy's
step) and refuses with one line per failed gate, or during the race-day freeze, unless
`--force` (the reason is recorded with what was forced). `shadow` runs a candidate beside the
release in force on race days: it decides every race and buys nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from keiba.app.releases import list_releases, promote, rollback, shadow, show_release
from keiba.cli.common import DatasetOption, JsonOption, config_of, jst, out, print_json
from keiba.cli.console import err
from keiba.release import PromotionRefused

ReasonOption = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does it (default: the user's login name).")
]


def list_(ctx: typer.Context, dataset: DatasetOption = None, as_json: JsonOption = False) -> None:
    """The dataset's promotions and rollbacks, oldest first, and the release in force."""
    result = list_releases(config_of(ctx, dataset=dataset))
    if as_json:
        print_json(result)
        return
    title = f"Releases of {result['dataset']} (in force: {result['in_force']}"
    table = Table(title=f"{title}, shadow: {result['shadow']})")
    for name in ("#", "time", "action", "release", "model", "by", "reason", "forced"):
        table.add_column(name)
    for e in result["events"]:
        table.add_row(
            str(e["seq"]),
            jst(e["at"]),
            e["action"],
            e["release_id"],
            e["model_version"],
            e["by"],
            e["reason"],
            str(len(e["forced"])) if e["forced"] else "",
        )
    out.print(table)


def show(
    ctx: typer.Context,
    release_id: Annotated[str | None, typer.Argument(help="Default: the release in force.")] = None,
    dataset: DatasetOption = None,
) -> None:
    """One release: its model version, its Themis policy and its gates' figures (JSON)."""
    print_json(show_release(config_of(ctx, dataset=dataset), release_id))


def _print_event(event: dict[str, Any]) -> None:
    forced = f" (forced past: {', '.join(event['forced'])})" if event["forced"] else ""
    out.print(
        f"{event['action']}: {event['release_id']} (model {event['model_version']}) in force, "
        f"audit record {event['seq']}{forced}",
        highlight=False,
    )


def promote_(
    ctx: typer.Context,
    reason: ReasonOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote past failed gates and the freeze.")
    ] = False,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote a model version with the configured Themis policy, through its gates."""
    try:
        event = promote(
            config_of(ctx, dataset=dataset),
            model=model,
            reason=reason,
            by=by,
            force=force,
        )
    except PromotionRefused as e:
        for line in e.lines:
            err.print(f"[bold red]refused:[/] {line}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from e
    if as_json:
        print_json(event)
    else:
        _print_event(event)


def rollback_(
    ctx: typer.Context,
    reason: ReasonOption,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore the release in force before the current one."""
    event = rollback(config_of(ctx, dataset=dataset), reason=reason, by=by)
    if as_json:
        print_json(event)
    else:
        _print_event(event)


def shadow_(
    ctx: typer.Context,
    reason: ReasonOption,
    model: Annotated[
        str | None, typer.Option("--model", help="Model version (default: the latest).")
    ] = None,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the shadow.")] = False,
    by: ByOption = None,
    dataset: DatasetOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a model version with the configured policy in shadow on race days (buys nothing)."""
    result = shadow(config_of(ctx, dataset=dataset), model=model, reason=reason, stop=stop, by=by)
    if as_json:
        print_json(result)
    elif stop:
        out.print(f"shadow {result['stopped']} stopped", highlight=False)
    else:
        candidate = result["shadow"]
        out.print(
            f"{candidate['release_id']} (model {candidate['model_version']}) runs in shadow on "
            f"{result['dataset']}'s race days from the next one",
            highlight=False,
        )


def register(groups: dict[str, typer.Typer]) -> None:
    groups["release"].command("list")(list_)
    groups["release"].command("show")(show)
    groups["release"].command("promote")(promote_)
    groups["release"].command("rollback")(rollback_)
    groups["release"].command("shadow")(shadow_)
