"""`keiba serve` and `keiba token create|list|revoke`: the HTTP API and its tokens; parsing and
printing only (keiba.serving)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from keiba.cli.common import (
    DatasetOption,
    JsonOption,
    RaceDateOption,
    config_of,
    jst,
    out,
    print_json,
)

if TYPE_CHECKING:
    from keiba.serving.auth import TokenStore

__all__ = ["register", "serve"]


class RoleChoice(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    account: Annotated[str, typer.Option("--account", help="Bankroll account.")] = "main",
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="TLS certificate.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="TLS private key.")] = None,
    trusted_proxy: Annotated[
        bool,
        typer.Option(
            "--trusted-proxy",
            help="A proxy in front terminates TLS and forwards client addresses (Cloud Run).",
        ),
    ] = False,
    google_audience: Annotated[
        list[str] | None,
        typer.Option(
            "--google-audience",
            envvar="KEIBA_SERVE_GOOGLE_AUDIENCE",
            help="Accept Google-signed ID tokens for this audience too (repeat for several: "
            "a Cloud Run service's URLs).",
        ),
    ] = None,
    google_viewer: Annotated[
        list[str] | None, typer.Option("--google-viewer", help="E-mail with the viewer role.")
    ] = None,
    google_operator: Annotated[
        list[str] | None,
        typer.Option("--google-operator", help="E-mail with the operator role."),
    ] = None,
    google_decider: Annotated[
        list[str] | None,
        typer.Option(
            "--google-decider",
            help="E-mail that may only decide and settle races (the Cloud Tasks invoker account).",
        ),
    ] = None,
    google_ingester: Annotated[
        list[str] | None,
        typer.Option(
            "--google-ingester",
            help="E-mail that may only post Cloud Storage events (the Eventarc trigger's account).",
        ),
    ] = None,
    ingest_events: Annotated[
        bool,
        typer.Option(
            "--ingest-events",
            envvar="KEIBA_SERVE_INGEST_EVENTS",
            help="Serve POST /events/raw-page: a raw page stored in Cloud Storage (Eventarc's "
            "event) is loaded into the warehouse.",
        ),
    ] = False,
    decide: Annotated[
        bool,
        typer.Option(
            "--decide",
            envvar="KEIBA_SERVE_DECIDE",
            help="Serve POST /races/{race_id}/decide and /settle: decide and buy a race of "
            "the live race day now, or settle it once its result is official (what queued "
            "tasks call).",
        ),
    ] = False,
    replay: Annotated[
        bool,
        typer.Option(
            "--replay",
            help="With --date: serve the replay of that day (keiba run --replay) instead of "
            "the live day: its races, paper ledger, monitor and clock.",
        ),
    ] = False,
    date: RaceDateOption = None,
    dataset: DatasetOption = None,
) -> None:
    """Serve the HTTP API, authenticated by tokens (keiba token create)."""
    from keiba.serving.auth import Role
    from keiba.serving.server import Binding, check_binding, settings_for
    from keiba.serving.server import serve as run

    binding = Binding(host, port, tls_cert, tls_key, trusted_proxy)
    check_binding(binding)
    roles = dict.fromkeys(google_viewer or [], Role.VIEWER)
    roles |= dict.fromkeys(google_operator or [], Role.OPERATOR)
    roles |= dict.fromkeys(google_decider or [], Role.DECIDER)
    roles |= dict.fromkeys(google_ingester or [], Role.INGESTER)
    if replay and date is None:
        raise typer.BadParameter("a replay is named by its day", param_hint="--date")
    if replay and account != "main":
        raise typer.BadParameter("a replay buys with its own paper account", param_hint="--account")
    if not replay and (date is not None or dataset is not None):
        raise typer.BadParameter("only with --replay", param_hint="--date / --dataset")
    settings = settings_for(
        config_of(ctx, dataset=dataset),
        account,
        google_audience=google_audience,
        google_roles=roles,
        trusted_proxy=trusted_proxy,
        decide=decide,
        ingest_events=ingest_events,
        replay=date if replay else None,
    )
    scheme = "https" if tls_cert else "http"
    what = f"account {settings.account}"
    if settings.replay is not None:
        what = f"the replay of {date}, dataset {settings.replay.dataset}, {what}"
    out.print(f"serving on {scheme}://{host}:{port} ({what})", highlight=False)
    run(settings, binding)


def _store(ctx: typer.Context) -> TokenStore:
    from keiba.serving.auth import home_tokens

    return home_tokens(config_of(ctx).home)


def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Who or what the token is for.")],
    role: Annotated[RoleChoice, typer.Option("--role", help="viewer reads; operator acts.")],
    as_json: JsonOption = False,
) -> None:
    """Create a token; it is shown this once and stored only hashed."""
    from keiba.serving.auth import Role

    store = _store(ctx)
    info, token = store.create(name, Role(role.value))
    if as_json:
        print_json({"name": info.name, "role": info.role.value, "token": token})
        return
    out.print(f"token for {info.name} ({info.role.value}), shown only now:", highlight=False)
    out.print(token, highlight=False, soft_wrap=True)


def list_tokens(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the tokens (never their secrets)."""
    store = _store(ctx)
    tokens = store.list()
    if as_json:
        print_json(
            [
                {
                    "id": t.token_id,
                    "name": t.name,
                    "role": t.role.value,
                    "created_at": t.created_at.isoformat(),
                    "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
                }
                for t in tokens
            ]
        )
        return
    table = Table("id", "name", "role", "created", "revoked")
    for t in tokens:
        table.add_row(t.token_id, t.name, t.role.value, jst(t.created_at), jst(t.revoked_at))
    out.print(table)


def revoke(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The token's name or id.")],
) -> None:
    """Revoke a token: refused from the next request on."""
    store = _store(ctx)
    info = store.revoke(name)
    out.print(f"revoked the token {info.token_id} ({info.name})", highlight=False)


def register(groups: dict[str, typer.Typer]) -> None:
    groups["token"].command("create")(create)
    groups["token"].command("list")(list_tokens)
    groups["token"].command("revoke")(revoke)
