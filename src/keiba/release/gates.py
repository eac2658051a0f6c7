"""The gates a candidate release passes before promotion, judged from its figures.

The figures are measured elsewhere (`keiba.app.releases`): a backtest replaying the candidate's
stored model through the engine on the dataset's most recent days after its training, a Monte
Carlo of that backtest's own bets at the candidate's Kelly fraction, and the candidate model's
held-out ΔR² interval against the market.
`judge` turns them, the candidate's policy and the release in force into one verdict per gate;
a failed gate's line says what was measured and what the limit is. Every figure and verdict is
kept on the release record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from keiba.common.config import ReleaseConfig, ThemisConfig
from keiba.release.book import Release

__all__ = ["GATES", "GateFigures", "GateResult", "failed", "judge"]

GATES = ("backtest", "monte_carlo", "delta_r2", "policy_step")


@dataclass(frozen=True)
class GateFigures:
    """What was measured of a candidate; None where it was not measured."""

    backtest: Mapping[str, Any] | None = None
    """`bets`, `return_rate`, `profit_yen`, `max_drawdown`, `from`, `to`, `model_version`
    (the stored model replayed), `replayed` (what was clipped), or `why` it could not run."""
    monte_carlo: Mapping[str, Any] | None = None
    """`p_drawdown` (P(max drawdown > `level`)), `level`, `kelly_fraction`, `seasons`, `seed`."""
    delta_r2: Mapping[str, Any] | None = None
    """`delta`, `low`, `high` of the combined model against the market, held out."""

    def to_dict(self) -> dict[str, Any]:
        return {k: dict(v) if v is not None else None for k, v in asdict(self).items()}


@dataclass(frozen=True)
class GateResult:
    gate: str
    passed: bool
    line: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _backtest(figures: GateFigures, config: ReleaseConfig) -> GateResult:
    bt = figures.backtest
    if bt is None:
        return GateResult("backtest", False, "backtest: the backtest was not run")
    if bt.get("why"):
        return GateResult("backtest", False, f"backtest: not run ({bt['why']})")
    bets, rate = int(bt.get("bets") or 0), bt.get("return_rate")
    if bets < config.min_bets:
        line = f"backtest: {bets} bets in the gate's backtest, at least {config.min_bets}"
        return GateResult("backtest", False, line)
    if rate is None or float(rate) < config.min_return_rate:
        line = f"backtest: return rate {rate} in the gate's backtest, at least "
        return GateResult("backtest", False, line + f"{config.min_return_rate}")
    return GateResult("backtest", True, f"backtest: {bets} bets, return rate {float(rate):.3f}")


def _monte_carlo(figures: GateFigures, config: ReleaseConfig) -> GateResult:
    mc = figures.monte_carlo
    if mc is None:
        return GateResult("monte_carlo", False, "monte_carlo: the Monte Carlo was not run")
    if mc.get("p_drawdown") is None:
        line = f"monte_carlo: nothing simulated ({mc.get('simulated') or 'no bets'})"
        return GateResult("monte_carlo", False, line)
    p, level = float(mc["p_drawdown"]), mc.get("level", config.drawdown_level)
    text = f"P(drawdown > {float(level):.0%}) = {p:.3f} at Kelly {mc.get('kelly_fraction')}"
    if p > config.max_p_drawdown:
        return GateResult(
            "monte_carlo", False, f"monte_carlo: {text}, limit {config.max_p_drawdown}"
        )
    return GateResult("monte_carlo", True, f"monte_carlo: {text}")


def _delta_r2(figures: GateFigures, in_force: Release | None) -> GateResult:
    mine = figures.delta_r2
    if mine is None or mine.get("high") is None:
        why = f" ({mine['why']})" if mine and mine.get("why") else ""
        return GateResult("delta_r2", False, f"delta_r2: the held-out ΔR² was not measured{why}")
    theirs = (in_force.gates.get("figures") or {}).get("delta_r2") if in_force else None
    if not theirs or theirs.get("delta") is None:
        return GateResult("delta_r2", True, f"delta_r2: {mine['delta']:+.4f}, nothing to compare")
    if float(mine["high"]) < float(theirs["delta"]):
        line = (
            f"delta_r2: interval [{mine['low']:+.4f}, {mine['high']:+.4f}] lies below the "
            f"release in force ({theirs['delta']:+.4f})"
        )
        return GateResult("delta_r2", False, line)
    return GateResult("delta_r2", True, f"delta_r2: {mine['delta']:+.4f} vs {theirs['delta']:+.4f}")


def _policy_step(
    policy: ThemisConfig, in_force: Release | None, config: ReleaseConfig
) -> GateResult:
    if in_force is None:
        return GateResult("policy_step", True, "policy_step: no release in force")
    before = in_force.themis()
    steps = (
        ("ev_threshold", before.ev_threshold, policy.ev_threshold, config.max_ev_step),
        ("kelly_fraction", before.kelly_fraction, policy.kelly_fraction, config.max_kelly_step),
    )
    for name, old, new, limit in steps:
        if abs(new - old) > limit + 1e-9:
            line = f"policy_step: {name} {old} → {new} moves by more than {limit}"
            return GateResult("policy_step", False, line)
    return GateResult("policy_step", True, "policy_step: within the configured steps")


def judge(
    figures: GateFigures,
    policy: ThemisConfig,
    in_force: Release | None,
    config: ReleaseConfig,
) -> list[GateResult]:
    """One verdict per gate, in `GATES` order."""
    return [
        _backtest(figures, config),
        _monte_carlo(figures, config),
        _delta_r2(figures, in_force),
        _policy_step(policy, in_force, config),
    ]


def failed(results: list[GateResult]) -> list[GateResult]:
    return [r for r in results if not r.passed]
