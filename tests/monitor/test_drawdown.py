"""Drawdown tiers: exact boundaries, monotone multiplier, peak from ledger entries, config."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keiba.common.config import DrawdownTierConfig, MonitorConfig, load_config
from keiba.common.errors import ConfigError
from keiba.monitor import assess_drawdown, peak_and_balance

TIERS = MonitorConfig().drawdown_tiers
PEAK = 1_000_000


@pytest.mark.parametrize(
    ("balance", "tier", "multiplier", "stop"),
    [
        (PEAK, None, 1.0, False),
        (PEAK + 5, None, 1.0, False),
        (800_100, None, 1.0, False),  # −19.99 %
        (800_000, "warn", 0.5, False),  # −20 % exactly
        (700_001, "warn", 0.5, False),
        (700_000, "stop", 0.0, True),  # −30 % exactly
        (0, "stop", 0.0, True),
    ],
)
def test_tiers_at_exact_boundaries(
    balance: int, tier: str | None, multiplier: float, stop: bool
) -> None:
    state = assess_drawdown(PEAK, balance, TIERS)
    assert (state.tier, state.stake_multiplier, state.stop_buying) == (tier, multiplier, stop)


def test_boundary_is_exact_for_awkward_peaks() -> None:
    # 0.3 is not representable in binary; 30 % of 10 is still exactly 3.
    assert assess_drawdown(10, 7, TIERS).tier == "stop"
    assert assess_drawdown(3, 2, TIERS).tier == "stop"  # 33 %
    assert assess_drawdown(5, 4, TIERS).tier == "warn"  # 20 %


def test_no_peak_no_drawdown() -> None:
    state = assess_drawdown(0, 0, TIERS)
    assert state.tier is None and state.drawdown == 0.0


@given(st.integers(1, 10**9), st.integers(0, 10**9), st.integers(0, 10**9))
def test_multiplier_monotone_in_drawdown(peak: int, a: int, b: int) -> None:
    lo, hi = sorted((min(a, peak), min(b, peak)))
    deeper, shallower = assess_drawdown(peak, lo, TIERS), assess_drawdown(peak, hi, TIERS)
    assert deeper.stake_multiplier <= shallower.stake_multiplier
    assert deeper.stop_buying >= shallower.stop_buying


def _entry(kind: str, cash: int, after: int) -> dict[str, object]:
    return {"kind": kind, "cash_yen": cash, "cash_after_yen": after}


def test_peak_and_balance_ignore_money_moved() -> None:
    entries = [
        _entry("deposit", 100_000, 100_000),
        _entry("payout", 20_000, 120_000),  # peak 120 000
        _entry("stake_committed", -30_000, 90_000),
        _entry("withdrawal", -50_000, 40_000),  # peak 70 000: the withdrawal is no loss
        _entry("deposit", 500_000, 540_000),  # peak 570 000: the deposit hides nothing
    ]
    assert peak_and_balance(entries) == (570_000, 540_000)


def test_config_rejects_inconsistent_tiers() -> None:
    with pytest.raises(ValueError, match="increasing"):
        MonitorConfig(
            drawdown_tiers=(
                DrawdownTierConfig(name="a", drawdown=0.3, stake_multiplier=0.5),
                DrawdownTierConfig(name="b", drawdown=0.2, stake_multiplier=0.2),
            )
        )
    with pytest.raises(ValueError, match="larger stake_multiplier"):
        MonitorConfig(
            drawdown_tiers=(
                DrawdownTierConfig(name="a", drawdown=0.1, stake_multiplier=0.2),
                DrawdownTierConfig(name="b", drawdown=0.2, stake_multiplier=0.5),
            )
        )
    with pytest.raises(ValueError, match="must have stake_multiplier 0"):
        MonitorConfig(
            drawdown_tiers=(
                DrawdownTierConfig(name="a", drawdown=0.1, stake_multiplier=0.5, stop_buying=True),
            )
        )
    with pytest.raises(ValueError, match="http"):
        MonitorConfig(webhook_url="ftp://example")


def test_config_loads_from_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path
    (home / "keiba.yaml").write_text(
        "monitor:\n"
        "  webhook_url: http://127.0.0.1:9/hook\n"
        "  drawdown_tiers:\n"
        "    - {name: warn, drawdown: 0.1, stake_multiplier: 0.25}\n",
        encoding="utf-8",
    )
    for name in ("KEIBA_CONFIG", "KEIBA_HOME"):
        monkeypatch.delenv(name, raising=False)
    cfg = load_config(home=home)
    assert cfg.monitor.webhook_url == "http://127.0.0.1:9/hook"
    assert [t.name for t in cfg.monitor.drawdown_tiers] == ["warn"]
    (home / "keiba.yaml").write_text("monitor:\n  webhok_url: x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"monitor\.webhok_url"):
        load_config(home=home)
