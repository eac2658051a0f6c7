"""The race day's step handlers: the scheduler's steps carried out by the source and the engine.

- `card` and `weights` fetch and load the race's card (entries, body weights, scratches);
- `odds` fetches and loads the race's current odds;
- `decide` polls the race's odds once more, then asks for the race's inputs as of now
  (`RaceInputsAt`: card, odds, features and probabilities as known at this moment) and lets
  the engine decide and buy. A race whose inputs cannot be had is skipped with the reason; so
  is every race when there is no usable model. A decision resumed after a crash first looks in
  the ledger: a race already decided is reported from what the ledger holds and never decided
  or bought again;
- `settle` fetches the result; until it is official the scheduler tries again; once it is, the
  engine settles the race's tickets from the warehouse's payouts and statuses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, Literal

from keiba.common.errors import KeibaError
from keiba.common.ids import NetkeibaRaceId
from keiba.common.logging import get_logger
from keiba.common.storage.warehouse import Warehouse
from keiba.data_collector.http_client import FetchFailedError
from keiba.data_collector.race_day import NetkeibaRaceDay
from keiba.engine import RaceEngine, RaceInputs, RaceOutcome, Status
from keiba.engine.recorded import race_results
from keiba.scheduler.loop import (
    DecideResult,
    SettleResult,
    SettleStatus,
    StepContext,
    StepResult,
)

__all__ = ["EngineHandlers", "RaceInputsAt"]

_OUTCOMES: dict[Status, Literal["bought", "passed", "skipped", "failed"]] = {
    Status.BOUGHT: "bought",
    Status.PASSED: "passed",
    Status.SKIPPED: "skipped",
    Status.FAILED: "failed",
}

log = get_logger(__name__)

RaceInputsAt = Callable[[str, dt.datetime], RaceInputs]
"""A race's inputs as known at an instant (race id, instant); raises `KeibaError` when they
cannot be had (no card, no odds, no features), with the reason."""


def _tickets(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "ticket_id": str(r["ticket_id"]),
            "bet_type": str(r["bet_type"]),
            "combination": str(r["combination"]),
            "stake_yen": int(r["stake_yen"]),
            "state": str(r["state"]),
            "receipt": r.get("receipt"),
        }
        for r in rows
    ]


def _decided(outcome: RaceOutcome) -> DecideResult:
    detail: dict[str, Any] = {
        "tickets": [
            {
                "ticket_id": p.ticket.ticket_id,
                "bet_type": p.ticket.bet_type,
                "combination": p.ticket.combination,
                "stake_yen": int(p.ticket.stake),
                "probability": round(p.probability, 6),
                "odds": p.odds,
            }
            for p in outcome.placed
        ],
        "refused": list(outcome.refused),
        "release_id": outcome.release_id,
    }
    if outcome.canary:
        detail["canary"] = True
    if outcome.decision is not None:
        detail["rejections"] = len(outcome.decision.rejections)
    return DecideResult(_OUTCOMES[outcome.status], outcome.reason, detail)


class EngineHandlers:
    """`StepHandlers` for one race day: a netkeiba source, an engine and a source of inputs."""

    def __init__(
        self,
        race_date: dt.date,
        source: NetkeibaRaceDay,
        engine: RaceEngine,
        warehouse: Warehouse,
        inputs_at: RaceInputsAt | None,
        *,
        no_model_reason: str = "no usable model",
        after_first_decision: Callable[[], None] | None = None,
    ) -> None:
        self.race_date = race_date
        self.source = source
        self.engine = engine
        self.warehouse = warehouse
        self.inputs_at = inputs_at
        self.no_model_reason = no_model_reason
        self.after_first_decision = after_first_decision

    def _race(self, ctx: StepContext) -> tuple[NetkeibaRaceId, str]:
        netkeiba = NetkeibaRaceId.parse(ctx.step.race_id)
        return netkeiba, str(netkeiba.to_race_key(self.race_date))

    def card(self, ctx: StepContext) -> StepResult:
        race, _ = self._race(ctx)
        loaded = self.source.card(race, self.race_date)
        return StepResult("card not published yet" if loaded is None else loaded.note())

    def weights(self, ctx: StepContext) -> StepResult:
        return self.card(ctx)

    def odds(self, ctx: StepContext) -> StepResult:
        race, _ = self._race(ctx)
        loaded = self.source.odds(race, self.race_date)
        return StepResult("no odds yet" if loaded is None else loaded.note())

    def decide(self, ctx: StepContext) -> DecideResult:
        _, race_id = self._race(ctx)
        if ctx.interrupted:
            earlier = self._already_decided(race_id)
            if earlier is not None:
                return earlier
        if self.inputs_at is None:
            return DecideResult("skipped", self.no_model_reason)
        race, _ = self._race(ctx)
        try:  # the freshest odds; if the site fails, the stored ones are judged by their age
            self.source.odds(race, self.race_date)
        except FetchFailedError as e:  # a block (403/429) is not swallowed: the day pauses
            log.warning("race_day.decision_odds_unavailable", race_id=race_id, error=str(e))
        try:
            inputs = self.inputs_at(race_id, self.engine.clock.now())
        except KeibaError as e:
            return DecideResult("skipped", f"no inputs: {e}")
        now = self.engine.clock.now()
        if now > ctx.step.deadline:
            late = (now - ctx.step.deadline).total_seconds()
            return DecideResult("skipped", f"inputs ready {late:.0f} s after the submit deadline")
        decided = _decided(self.engine.decide(inputs))
        if self.after_first_decision is not None:  # once: its caches are filled by now
            self.after_first_decision()
            self.after_first_decision = None
        return decided

    def _already_decided(self, race_id: str) -> DecideResult | None:
        """What the ledger holds of a decision the process made before it stopped."""
        rows = self.engine.ledger.race_tickets(race_id)
        if not rows:
            return None
        tickets = _tickets(rows)
        placed = [t for t in tickets if t["state"] in ("placed", "settled")]
        unknown = [t for t in tickets if t["state"] in ("reserved", "submitting", "unknown")]
        if unknown:
            return DecideResult(
                "failed",
                f"{len(unknown)} ticket(s) were being submitted when the process stopped: "
                "left reserved, never sent again until reconciled",
                {"tickets": tickets},
            )
        stake = sum(t["stake_yen"] for t in placed)
        if not placed:
            return DecideResult("failed", "the broker refused every ticket", {"tickets": tickets})
        return DecideResult(
            "bought",
            f"{len(placed)} ticket(s), {stake:,} yen (decided before the restart)",
            {"tickets": tickets},
        )

    def settle(self, ctx: StepContext) -> SettleResult:
        race, race_id = self._race(ctx)
        loaded = self.source.result(race, self.race_date)
        if loaded is None:
            return SettleResult(SettleStatus.NOT_YET)
        if loaded.quarantined:
            raise KeibaError(loaded.note())
        result = race_results(self.warehouse, [race_id])[race_id]
        if not result.payouts:
            return SettleResult(SettleStatus.NOT_YET, {"note": "result without payouts"})
        settled = self.engine.settle(race_id, result)
        return SettleResult(
            SettleStatus.OFFICIAL,
            {
                "settled": [
                    {"ticket_id": s.ticket_id, "paid_yen": s.paid, "refund": s.refund}
                    for s in settled
                ],
                "paid_yen": sum(s.paid for s in settled),
            },
        )
