"""The execution benchmark's world: race days to buy on, and IPAT twins that misbehave.

`bench_day(index, seed, races)` makes one race day: races at one racecourse, 30 minutes apart,
each with eight runners, win odds, the win probabilities the engine decides from (some with an
edge Themis buys), a winner, and a decision time — most 8 minutes before the sales close, some
so near it that a purchase proven absent can no longer be bought again.

`FaultyTwin` is the IPAT twin (`keiba.simulator.ipat_twin.IpatTwin`) with a fault schedule: each
time a race's page is opened (a purchase begins) the twin's faults are cleared and, with
probability `p_fault`, one of `FAULTS` is switched on for that purchase (maintenance for 5
minutes of the twin's clock); independently, with
probability `p_history_down`, 投票内容照会 is down for the next 10 minutes of its clock. Which
fault comes is drawn from the seed, the account, the race and the visit, so a run is
reproducible. It counts what it switched on.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from keiba.common.bet_types import BetType
from keiba.common.clock import JST, Clock
from keiba.engine import RaceInputs, RaceResult
from keiba.simulator.ipat_twin import IpatAccount, IpatAnswer, IpatRace, IpatTwin

__all__ = ["FAULTS", "BenchRace", "FaultyTwin", "bench_day"]

FAULTS = (
    "timeout_before_acceptance",
    "timeout_after_acceptance",
    "5xx_before_acceptance",
    "5xx_after_acceptance",
    "5xx_while_filling",
    "session_expiry_mid_cart",
    "slow_pages",
    "double_click",
    "closed_race",
    "closed_before_buy",
    "insufficient_deposit",
    "maintenance",
)
HISTORY_DOWN = "history_down"
CLOSE_LEAD = dt.timedelta(minutes=2)
_FIRST_DAY = dt.date(2031, 1, 4)
_BUY = "/cart/buy"


@dataclass(frozen=True)
class BenchRace:
    race_id: str
    post_time: dt.datetime
    decide_at: dt.datetime
    odds: Mapping[int, float]
    probabilities: Mapping[int, float]
    winner: int

    @property
    def closes_at(self) -> dt.datetime:
        return self.post_time - CLOSE_LEAD

    @property
    def ipat(self) -> IpatRace:
        return IpatRace(self.race_id, self.post_time)

    def inputs(self) -> RaceInputs:
        horses = tuple(sorted(self.odds))
        return RaceInputs(
            race_id=self.race_id,
            race_date=self.post_time.astimezone(JST).date(),
            decision_at=self.decide_at,
            horses=horses,
            frames={h: (h + 1) // 2 for h in horses},
            probabilities=dict(self.probabilities),
            offers={BetType.WIN: {str(h): o for h, o in self.odds.items()}},
            model_version="bench",
            odds_source="final",
        )

    def result(self) -> RaceResult:
        payout = round(self.odds[self.winner] * 100 / 10) * 10
        return RaceResult({("win", str(self.winner)): payout}, dict.fromkeys(self.odds, "finished"))


def bench_day(index: int, seed: int, races: int) -> list[BenchRace]:
    """Day `index` of the run: `races` races (see the module docstring)."""
    day = _FIRST_DAY + dt.timedelta(days=index)
    rng = random.Random(f"{seed}-day-{index}")
    made = []
    for no in range(1, races + 1):
        post = dt.datetime.combine(day, dt.time(10, 5), JST) + dt.timedelta(minutes=30 * (no - 1))
        lead = dt.timedelta(seconds=150) if rng.random() < 0.15 else dt.timedelta(minutes=8)
        odds = {h: round(rng.uniform(2.5, 30.0), 1) for h in range(1, 9)}
        market = {h: 0.8 / o for h, o in odds.items()}
        edged = rng.sample(range(1, 9), rng.choice((1, 2)))
        raw = {h: p * (1.6 if h in edged else 1.0) for h, p in market.items()}
        probabilities = {h: v / sum(raw.values()) for h, v in raw.items()}
        winner = rng.choices(list(probabilities), weights=list(probabilities.values()))[0]
        race_id = f"{day:%Y%m%d}05010{1 + index % 9}{no:02d}"
        made.append(BenchRace(race_id, post, post - CLOSE_LEAD - lead, odds, probabilities, winner))
    return made


class FaultyTwin(IpatTwin):
    """The twin with a fault schedule (see the module docstring); counts what it switched on."""

    def __init__(
        self,
        name: str,
        races: list[BenchRace],
        account: IpatAccount,
        clock: Clock,
        *,
        seed: int,
        p_fault: float,
        p_history_down: float,
    ) -> None:
        super().__init__([r.ipat for r in races], account, clock, maintenance=None)
        self.name = name
        self.seed = seed
        self.p_fault = p_fault
        self.p_history_down = p_history_down
        self.armed: Counter[str] = Counter()
        self._visits: Counter[str] = Counter()
        self._history_until: dt.datetime | None = None
        self._full_deposit = account.deposit_yen

    def answer(
        self, method: str, target: str, form: Mapping[str, str], cookie: str | None
    ) -> IpatAnswer:
        parts = urlsplit(target)
        if parts.path == "/vote/race":
            self._arm(parse_qs(parts.query).get("r", [""])[0])
        if self._history_until is not None and self.clock.now() >= self._history_until:
            self.faults.history_down(False)
            self._history_until = None
        return super().answer(method, target, form, cookie)

    def _arm(self, race_id: str) -> None:
        visit = self._visits[race_id]
        self._visits[race_id] += 1
        self.faults.clear()
        if self._history_until is not None:
            self.faults.history_down()
        if self.deposit_yen < self._full_deposit // 2:
            self.set_deposit(self._full_deposit)
        rng = random.Random(f"{self.seed}-{self.name}-{race_id}-{visit}")
        if rng.random() < self.p_fault:
            fault = rng.choice(FAULTS)
            self._switch_on(fault, race_id)
            self.armed[fault] += 1
        if rng.random() < self.p_history_down:
            self._history_until = self.clock.now() + dt.timedelta(minutes=10)
            self.faults.history_down()
            self.armed[HISTORY_DOWN] += 1

    def _switch_on(self, fault: str, race_id: str) -> None:
        faults, now = self.faults, self.clock.now()
        actions = {
            "timeout_before_acceptance": lambda: faults.timeout(_BUY),
            "timeout_after_acceptance": lambda: faults.timeout(_BUY, after_record=True),
            "5xx_before_acceptance": lambda: faults.server_error(_BUY),
            "5xx_after_acceptance": lambda: faults.server_error(_BUY, after_record=True),
            "5xx_while_filling": lambda: faults.server_error("/cart/add"),
            "session_expiry_mid_cart": lambda: faults.expire_session_after(1),
            "slow_pages": lambda: faults.slow(0.02),
            "double_click": lambda: faults.double_submit(),
            "closed_race": lambda: faults.close_race(race_id),
            "closed_before_buy": lambda: faults.close_race(race_id, on_request_to=_BUY),
            "insufficient_deposit": lambda: self.set_deposit(0),
            "maintenance": lambda: faults.maintenance(now, now + dt.timedelta(minutes=5)),
        }
        actions[fault]()
