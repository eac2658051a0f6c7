"""Faults at the venue, end to end: the engine buys through the IPAT web broker in headless
Chromium, against two twin accounts (the primary and a failover), and after reconciliation the
ledger holds exactly the tickets each twin holds, nothing is left unknown, and an intent is
bought at most once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keiba.bankroll import Ledger, check_invariants
from keiba.bankroll.audit import verify
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine, RaceInputs
from keiba.execution.channels import Attempt, Channel
from keiba.execution.ipat import BET_NAMES, IpatBroker
from keiba.execution.ipat_secrets import IpatCredentials
from keiba.execution.rebuy import RebuyPolicy, missed_reasons
from keiba.simulator.ipat_twin import IpatAccount, IpatFaults, IpatTwin, Purchase, serving_ipat

from .ipat_support import DAY, MORNING, RACES, SECRETS, TOKYO_11

ALT = ("QW3RT7Y1", "55116622", "7412", "3698")
BOUGHT = ("placed", "settled")


class Provider:
    def __init__(self, secrets: tuple[str, str, str, str]) -> None:
        self.secrets = secrets

    def ipat_credentials(self) -> IpatCredentials:
        return IpatCredentials(*self.secrets)


@dataclass
class Pair:
    """Two served twin accounts and an engine buying through the primary, failing over."""

    primary: IpatTwin
    alt: IpatTwin
    engine: RaceEngine
    ledger: Ledger

    def holds(self) -> None:
        """The ledger is each twin's history, nothing is pending, the books are sound."""
        for name, twin in (("", self.primary), ("alt", self.alt)):
            ours = Counter(
                (t["race_id"], t["receipt"], BET_NAMES[BetType(t["bet_type"])], t["stake_yen"])
                for t in self.ledger.tickets()
                if t["state"] in BOUGHT and Attempt.of(t["ticket_id"]).channel == name
            )
            theirs = Counter(
                (p.race.race_id, receipt(p), p.line.bet_name, p.line.stake) for p in twin.purchases
            )
            assert ours == theirs
        roots = Counter(
            Attempt.of(t["ticket_id"]).root for t in self.ledger.tickets() if t["state"] in BOUGHT
        )
        assert all(n == 1 for n in roots.values())
        pending = {"reserved", "submitting", "unknown"}
        assert not [t for t in self.ledger.tickets() if t["state"] in pending]
        assert self.ledger.balances().reserved == 0
        assert verify(self.ledger.engine).ok and not check_invariants(self.ledger.engine)


def receipt(purchase: Purchase) -> str:
    return f"{DAY:%Y%m%d}-{purchase.receipt_no}-{purchase.serial}"


@pytest.fixture
def pair(browser: Any, tmp_path: Path) -> Iterator[Pair]:
    clock = FixedClock(MORNING)
    twins = [
        IpatTwin(RACES, IpatAccount(*secrets, 10_000), clock, IpatFaults())
        for secrets in (SECRETS, ALT)
    ]
    with serving_ipat(twins[0]) as url, serving_ipat(twins[1]) as alt_url:
        brokers = [
            IpatBroker(u, Provider(s), clock, timeout_s=2.0, check_timeout_s=2.0, browser=browser)
            for u, s in ((url, SECRETS), (alt_url, ALT))
        ]
        ledger = Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'l.sqlite'}"), clock, "f")
        ledger.deposit(100_000)
        posts = {r.race_id: r.post_time - dt.timedelta(minutes=2) for r in RACES}
        engine = RaceEngine(
            ThemisConfig(bet_types=(BetType.WIN,)),
            ledger,
            brokers[0],
            clock,
            failover=[Channel("alt", brokers[1])],
            closes_at=posts.get,
            rebuy=RebuyPolicy(dt.timedelta(minutes=3), 2),
        )
        try:
            yield Pair(twins[0], twins[1], engine, ledger)
        finally:
            for broker in brokers:
                broker.close()


def tokyo_11() -> RaceInputs:
    """Horse 3 is twice as likely as its odds say: Themis buys it."""
    odds = {h: 4.0 if h == 3 else 9.0 for h in range(1, 9)}
    probabilities = {h: 0.5 if h == 3 else 0.5 / 7 for h in range(1, 9)}
    return RaceInputs(
        TOKYO_11,
        DAY,
        MORNING,
        tuple(range(1, 9)),
        {h: (h + 1) // 2 for h in range(1, 9)},
        probabilities,
        {BetType.WIN: {str(h): o for h, o in odds.items()}},
        "fm-test",
        "final",
    )


def buy(pair: Pair) -> tuple[int, int]:
    """Decide the race, then reconcile; how many tickets each twin holds."""
    pair.engine.decide(tokyo_11())
    pair.engine.reconcile(DAY)
    pair.holds()
    return len(pair.primary.purchases), len(pair.alt.purchases)


Fault = Callable[[IpatTwin], None]
FOUND_AT_THE_PRIMARY: dict[str, Fault] = {
    "timeout after acceptance": lambda t: t.faults.timeout("/cart/buy", after_record=True),
    "5xx after acceptance": lambda t: t.faults.server_error("/cart/buy", after_record=True),
    "slow pages": lambda t: t.faults.slow(0.5, "/vote"),
    "double click": lambda t: t.faults.double_submit(),
}
BOUGHT_THROUGH_THE_FAILOVER: dict[str, Fault] = {
    "timeout before acceptance": lambda t: t.faults.timeout("/cart/buy"),
    "5xx before acceptance": lambda t: t.faults.server_error("/cart/buy"),
}
REFUSED: dict[str, Fault] = {
    "session expiry mid-cart": lambda t: t.faults.expire_session_after(1),
    "closed race": lambda t: t.faults.close_race(TOKYO_11),
    "closed before 購入する": lambda t: t.faults.close_race(TOKYO_11, on_request_to="/cart/buy"),
    "insufficient deposit": lambda t: t.set_deposit(100),
}


@pytest.mark.parametrize("fault", FOUND_AT_THE_PRIMARY.values(), ids=FOUND_AT_THE_PRIMARY)
def test_a_purchase_the_venue_took_is_kept_and_never_bought_again(pair: Pair, fault: Fault) -> None:
    fault(pair.primary)
    assert buy(pair) == (1, 0)


@pytest.mark.parametrize(
    "fault", BOUGHT_THROUGH_THE_FAILOVER.values(), ids=BOUGHT_THROUGH_THE_FAILOVER
)
def test_a_purchase_proven_absent_is_bought_through_the_failover(pair: Pair, fault: Fault) -> None:
    fault(pair.primary)
    assert buy(pair) == (0, 1)
    states = {Attempt.of(t["ticket_id"]).channel: t["state"] for t in pair.ledger.tickets()}
    assert states == {"": "absent", "alt": "placed"}


@pytest.mark.parametrize("fault", REFUSED.values(), ids=REFUSED)
def test_a_refused_purchase_is_missed_with_the_venues_reason(pair: Pair, fault: Fault) -> None:
    fault(pair.primary)
    assert buy(pair) == (0, 0)
    [ticket] = pair.ledger.tickets()
    assert ticket["state"] == "rejected" and missed_reasons(pair.ledger)[ticket["ticket_id"]]


def test_while_the_history_is_down_nothing_is_bought_again(pair: Pair) -> None:
    pair.primary.faults.timeout("/cart/buy")
    pair.primary.faults.history_down()
    pair.engine.decide(tokyo_11())
    assert [t["state"] for t in pair.ledger.tickets()] == ["unknown"]
    assert pair.alt.purchases == [] and pair.primary.purchases == []
    pair.primary.faults.history_down(False)
    pair.engine.reconcile(DAY)
    pair.holds()
    assert (len(pair.primary.purchases), len(pair.alt.purchases)) == (0, 1)
