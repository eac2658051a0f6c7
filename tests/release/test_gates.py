"""The gates before a promotion, judged from a candidate's figures."""

from __future__ import annotations

from keiba.common.config import ReleaseConfig, ThemisConfig
from keiba.release import GATES, GateFigures, Release, failed, judge

CONFIG = ReleaseConfig()
GOOD = GateFigures(
    backtest={"bets": 120, "return_rate": 0.97},
    monte_carlo={"p_drawdown": 0.02, "level": 0.3, "kelly_fraction": 0.25},
    delta_r2={"delta": 0.004, "low": 0.001, "high": 0.007},
)


def _in_force(delta: float, policy: ThemisConfig | None = None) -> Release:
    figures = {"delta_r2": {"delta": delta, "low": delta - 0.002, "high": delta + 0.002}}
    return Release.of("sim", "fm-0", policy or ThemisConfig(), {"figures": figures})


def test_a_candidate_within_every_limit_passes_every_gate() -> None:
    results = judge(GOOD, ThemisConfig(), _in_force(0.003), CONFIG)
    assert [r.gate for r in results] == list(GATES)
    assert failed(results) == []


def test_a_promotion_without_its_gates_fails_each_with_one_line() -> None:
    results = failed(judge(GateFigures(), ThemisConfig(), None, CONFIG))
    assert [r.gate for r in results] == ["backtest", "monte_carlo", "delta_r2"]
    assert all("\n" not in r.line and r.line.startswith(r.gate) for r in results)


def test_each_limit_fails_its_own_gate() -> None:
    bad = GateFigures(
        backtest={"bets": 120, "return_rate": 0.70},
        monte_carlo={"p_drawdown": 0.4, "level": 0.3, "kelly_fraction": 0.25},
        delta_r2={"delta": -0.002, "low": -0.005, "high": 0.001},
    )
    aggressive = ThemisConfig(ev_threshold=1.02)  # 0.08 below the default 1.10
    results = failed(judge(bad, aggressive, _in_force(0.004), CONFIG))
    assert [r.gate for r in results] == list(GATES)
    few = GateFigures(backtest={"bets": 5, "return_rate": 2.0})
    assert "5 bets" in failed(judge(few, ThemisConfig(), None, CONFIG))[0].line


def test_a_policy_step_at_the_limit_passes_and_beyond_it_fails() -> None:
    in_force = _in_force(0.003, ThemisConfig(ev_threshold=1.10, kelly_fraction=0.25))
    at_limit = ThemisConfig(ev_threshold=1.05, kelly_fraction=0.30)
    beyond = ThemisConfig(ev_threshold=1.10, kelly_fraction=0.31)
    assert failed(judge(GOOD, at_limit, in_force, CONFIG)) == []
    assert [r.gate for r in failed(judge(GOOD, beyond, in_force, CONFIG))] == ["policy_step"]
