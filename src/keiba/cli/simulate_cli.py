"""`keiba backtest simulate`: Monte Carlo bankroll paths (keiba.app.backtests.simulate);
parsing and printing only.

`--from-backtest RUN_DIR|latest` draws the bets from a backtest run's own Themis bets (believed
probability, decision odds) instead of the assumed distribution, a season being the run's bets
per 365 days (keiba.evaluator.backtest_monte_carlo.empirical_sample)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from keiba.app.backtests import simulate as simulate_paths
from keiba.cli.common import JsonOption, config_of, err, out, print_json


def _recovery(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _tables(result: dict[str, Any]) -> tuple[Table, Table]:
    """Risk (ruin, drawdowns, recovery) and outcome (terminal wealth): each fits 80 columns."""
    risk = Table("Kelly", "k", "ruin", "DD>20%", "DD>30%", "DD>50%", "rec. med", "rec. p90",
                 "never", title="Risk", box=box.SIMPLE_HEAD)  # fmt: skip
    wealth = Table("Kelly", "k", "W q05", "q25", "q50", "q75", "q95", "mean",
                   title="Terminal bankroll / start", box=box.SIMPLE_HEAD)  # fmt: skip
    for table in (risk, wealth):
        for column in table.columns:
            column.justify = "right"
    for s in result["scenarios"]:
        q, dd = s["terminal_quantiles"], s["p_drawdown"]
        head = (f"{s['fraction']:g}", f"×{s['overestimate']:g}")
        risk.add_row(
            *head,
            _pct(s["p_ruin"]),
            *(_pct(dd[k]) for k in ("0.2", "0.3", "0.5")),
            _recovery(s["recovery_median_bets"]),
            _recovery(s["recovery_p90_bets"]),
            _pct(s["never_recovered"]),
        )
        wealth.add_row(
            *head,
            *(f"{q[k]:.2f}" for k in ("0.05", "0.25", "0.5", "0.75", "0.95")),
            f"{s['terminal_mean']:.2f}",
        )
    return risk, wealth


def _print_table(result: dict[str, Any], seconds: float) -> None:
    p = result["params"]
    out.print(
        f"{p['seasons']:,} seasons × {p['bets']:,} bets, start {p['start_yen']:,} yen, "
        f"ruin below {p['ruin_floor_yen']:,} yen, seed {p['seed']}",
        highlight=False,
        soft_wrap=False,
    )
    for table in _tables(result):
        out.print(table)
    out.print(
        "k: the edge is overestimated k×; ruin: P(bankroll below the floor); DD>x: "
        "P(max drawdown > x); W: terminal bankroll / start (quantiles, mean); rec.: bets "
        "from the deepest trough back to the peak before it (seasons that recovered); never: "
        "share still below that peak at the end.",
        highlight=False,
        soft_wrap=False,
    )
    source = result.get("from_backtest")
    if source:
        out.print(
            f"Bets resampled from the {source['bets']:,} Themis bets of {source['run']} (a season: "
            f"{p['bets']:,} bets; the run's bets per 365 days: {source['bets_per_season']:,}); "
            f"seasons stop betting at {p['growth_cap']:,.0f}× the start.",
            highlight=False,
            markup=False,
            soft_wrap=False,
        )
    err.print(f"simulated in {seconds:.1f} s", highlight=False)


def register(groups: dict[str, typer.Typer]) -> None:
    """Add `backtest simulate` to the `keiba` command."""

    @groups["backtest"].command("simulate")
    def simulate(
        ctx: typer.Context,
        seasons: Annotated[int, typer.Option(help="Seasons (paths) per scenario.")] = 10_000,
        races: Annotated[
            int | None,
            typer.Option(
                help="Races in a season (default 3,454; with --from-backtest: the run's bets "
                "per 365 days, all bet)."
            ),
        ] = None,
        bet_share: Annotated[
            float | None,
            typer.Option(help="Share of races with a bet (default 0.3; 1 with --from-backtest)."),
        ] = None,
        fractions: Annotated[
            str, typer.Option(help="Kelly fractions, comma-separated.")
        ] = "0.1,0.25,0.5,1.0",
        overestimate: Annotated[
            str,
            typer.Option(help="Factors by which the edge is overestimated ('inf': no real edge)."),
        ] = "1,1.5,2",
        seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
        start_yen: Annotated[
            int | None, typer.Option(help="Starting bankroll (default: demo.bankroll_yen).")
        ] = None,
        ev_min: Annotated[
            float | None, typer.Option(help="Least believed EV (default: themis.ev_threshold).")
        ] = None,
        ev_excess: Annotated[float, typer.Option(help="Mean believed EV above it.")] = 0.10,
        market_return: Annotated[
            float, typer.Option(help="Return at the market's probability (1 − takeout).")
        ] = 0.80,
        from_backtest: Annotated[
            str | None,
            typer.Option(
                "--from-backtest",
                metavar="RUN_DIR|latest",
                help="Resample the bets from this backtest run's Themis bets (at least 30) "
                "instead of the assumed distribution; 'latest': the latest under "
                "<home>/backtests.",
            ),
        ] = None,
        as_json: JsonOption = False,
    ) -> None:
        """Bankroll paths for Kelly fractions against an overestimated edge."""

        result, seconds = simulate_paths(
            config_of(ctx),
            seasons=seasons,
            races=races,
            bet_share=bet_share,
            fractions=fractions,
            overestimate=overestimate,
            seed=seed,
            start_yen=start_yen,
            ev_min=ev_min,
            ev_excess=ev_excess,
            market_return=market_return,
            from_backtest=from_backtest,
        )
        if as_json:
            print_json({**result, "seconds": round(seconds, 3)})
        else:
            _print_table(result, seconds)
