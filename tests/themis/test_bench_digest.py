"""The Themis benchmark's digest of its decisions: what they buy and reject, run to run."""

from __future__ import annotations

import numpy as np

from keiba.common.config import ThemisConfig
from keiba.themis import decide
from keiba.themis.bench import FRAMES_18, decision_record, run_themis_benchmark, synthetic_race


def test_the_decisions_digest_is_what_the_decisions_buy_and_reject() -> None:
    rng = np.random.default_rng(11)
    model, market = synthetic_race(rng)
    decision = decide(model, market, 10_000_000, ThemisConfig(), frames=FRAMES_18)
    record = decision_record(decision)
    assert len(record) == len(decision.bets) + len(decision.rejections) == 6396
    assert record[: len(decision.bets)] == [
        [b.bet_type.value, b.combination, int(b.stake)] for b in decision.bets
    ]
    richer = decide(model, market, 20_000_000, ThemisConfig(), frames=FRAMES_18)
    assert decision.bets and decision_record(richer) != record  # stakes scale with the bankroll


def test_the_same_instances_give_the_same_decisions_digest() -> None:
    first = run_themis_benchmark(1, 5, reference=False)["full_decision"]["decisions_sha256"]
    again = run_themis_benchmark(1, 5, reference=False)["full_decision"]["decisions_sha256"]
    other = run_themis_benchmark(1, 6, reference=False)["full_decision"]["decisions_sha256"]
    assert first == again != other and len(first) == 64
