"""One race through the engine: bought, passed, skipped or failed, and settled exactly once."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keiba.bankroll import Ledger, Ticket, check_invariants
from keiba.bankroll.audit import verify
from keiba.common.bet_types import BetType
from keiba.common.clock import FixedClock
from keiba.common.config import MonitorConfig, ThemisConfig
from keiba.common.storage import create_ledger_engine
from keiba.engine import RaceEngine, RaceInputs, RaceResult, Status, implicit_release_id
from keiba.execution import PaperBroker, Submission
from keiba.monitor import MemorySink, Monitor

DAY = dt.date(2026, 6, 28)
AT = dt.datetime(2026, 6, 28, 3, 0, tzinfo=dt.UTC)
POLICY = ThemisConfig()


def race(number: int = 1, *, edge: bool = True, **kw: object) -> RaceInputs:
    """Eight runners; with `edge`, horse 1 is twice as likely as its odds say."""
    horses = tuple(range(1, 9))
    odds = {h: 4.0 if h == 1 else 9.0 for h in horses}
    if edge:
        probabilities = {h: 0.5 if h == 1 else 0.5 / 7 for h in horses}
    else:
        inverse = {h: 1 / o for h, o in odds.items()}
        probabilities = {h: v / sum(inverse.values()) for h, v in inverse.items()}
    fields: dict[str, object] = {
        "race_id": f"20260628010203{number:02d}",
        "race_date": DAY,
        "decision_at": AT,
        "horses": horses,
        "frames": {h: (h + 1) // 2 for h in horses},
        "probabilities": probabilities,
        "offers": {BetType.WIN: {str(h): o for h, o in odds.items()}},
        "model_version": "fm-test",
        "odds_source": "snapshot",
        "odds_as_of": AT - dt.timedelta(seconds=30),
    }
    fields.update(kw)
    return RaceInputs(**fields)  # type: ignore[arg-type]


def won_by(winner: int, payout: int = 400) -> RaceResult:
    return RaceResult({("win", str(winner)): payout}, dict.fromkeys(range(1, 9), "finished"))


def make_engine(
    tmp_path: Path,
    *,
    deposit: int = 100_000,
    broker: object | None = None,
    monitor: bool = False,
    max_odds_age: dt.timedelta | None = dt.timedelta(minutes=5),
) -> tuple[RaceEngine, Ledger, FixedClock]:
    clock = FixedClock(AT)
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    ledger = Ledger(engine, clock, account="engine")
    if deposit:
        ledger.deposit(deposit)
    watcher = (
        Monitor.for_ledger(MonitorConfig(), clock, ledger, [MemorySink()]) if monitor else None
    )
    race_engine = RaceEngine(
        POLICY,
        ledger,
        broker or PaperBroker(),  # type: ignore[arg-type]
        clock,
        monitor=watcher,
        max_odds_age=max_odds_age,
    )
    return race_engine, ledger, clock


def test_an_edge_is_bought_recorded_and_settled_once(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    outcome = engine.decide(race())
    assert outcome.status is Status.BOUGHT
    assert [p.ticket.combination for p in outcome.placed] == ["1"]
    stake = outcome.staked_yen
    assert stake > 0 and stake % 100 == 0
    assert ledger.balance() == 100_000 - stake
    settled = engine.settle(race().race_id, won_by(1))
    assert [(s.combination, s.paid) for s in settled] == [("1", stake * 4)]
    assert ledger.balance() == 100_000 - stake + stake * 4
    assert engine.settle(race().race_id, won_by(1)) == []  # a second settlement changes nothing
    assert ledger.balance() == 100_000 + stake * 3
    assert verify(ledger.engine).ok and not check_invariants(ledger.engine)


def test_a_race_is_never_bought_twice(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    first = engine.decide(race())
    again = engine.decide(race())
    assert again.status is Status.FAILED and "already recorded" in again.reason
    assert ledger.balance() == 100_000 - first.staked_yen
    assert len(ledger.tickets()) == len(first.placed)


def test_no_edge_is_passed_with_themis_reasons(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    outcome = engine.decide(race(edge=False))
    assert outcome.status is Status.PASSED
    assert outcome.reason.startswith("Themis bought nothing (")
    assert outcome.decision is not None and outcome.decision.rejections
    assert ledger.balance() == 100_000 and not ledger.tickets()


def test_odds_older_than_the_limit_are_not_bet(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    outcome = engine.decide(race(odds_as_of=AT - dt.timedelta(minutes=6)))
    assert outcome.status is Status.SKIPPED
    assert outcome.reason == "odds are 360 s old at decision (limit 300 s)"
    assert not ledger.tickets()


def test_a_race_without_odds_is_skipped(tmp_path: Path) -> None:
    engine, _, _ = make_engine(tmp_path)
    outcome = engine.decide(race(offers={}))
    assert (outcome.status, outcome.reason) == (Status.SKIPPED, "no odds on offer")


def test_bad_probabilities_fail_the_race_with_the_reason(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    outcome = engine.decide(race(probabilities=dict.fromkeys(range(1, 9), 0.5)))
    assert outcome.status is Status.FAILED
    assert outcome.reason.startswith("bad decision inputs:")
    assert not ledger.tickets()


class Refusing:
    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        return [Submission(t.ticket_id, False, None, "sales closed") for t in tickets]


def test_a_broker_refusing_everything_fails_the_race_and_releases_the_stakes(
    tmp_path: Path,
) -> None:
    engine, ledger, _ = make_engine(tmp_path, broker=Refusing())
    outcome = engine.decide(race())
    assert outcome.status is Status.FAILED
    assert "refused every ticket" in outcome.reason and "sales closed" in outcome.reason
    assert ledger.balance() == 100_000
    assert {t["state"] for t in ledger.tickets()} == {"rejected"}


def test_a_latched_monitor_stop_skips_the_race(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path, monitor=True)
    engine.peak = 1_000_000  # far below its peak: the deepest drawdown tier stops buying
    outcome = engine.decide(race())
    assert outcome.status is Status.SKIPPED and outcome.reason.startswith("monitor: ")
    assert not ledger.tickets()


def test_the_bankroll_survives_a_restart(tmp_path: Path) -> None:
    engine, ledger, clock = make_engine(tmp_path)
    bought = engine.decide(race(1))
    engine.settle(race(1).race_id, won_by(2))
    before = engine.bankroll(DAY)
    ledger.engine.dispose()
    again = RaceEngine(
        POLICY,
        Ledger(create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite'}"), clock, "engine"),
        PaperBroker(),
        clock,
    )
    after = again.bankroll(DAY)
    assert after == before
    assert (after.staked_today_yen, after.tickets_today) == (bought.staked_yen, 1)
    assert after.day_start_yen == 100_000
    assert again.bankroll(DAY + dt.timedelta(days=1)).staked_today_yen == 0


@settings(max_examples=25, deadline=None)
@given(
    winners=st.lists(st.integers(1, 8), min_size=1, max_size=6),
    payout=st.integers(110, 5_000),
)
def test_the_ledger_holds_what_the_races_staked_and_paid(
    tmp_path_factory: pytest.TempPathFactory, winners: list[int], payout: int
) -> None:
    engine, ledger, clock = make_engine(tmp_path_factory.mktemp("ledger"))
    staked = paid = 0
    for number, winner in enumerate(winners, 1):
        clock.advance(dt.timedelta(minutes=30))
        outcome = engine.decide(race(number, decision_at=clock.now(), odds_as_of=clock.now()))
        staked += outcome.staked_yen
        paid += sum(s.paid for s in engine.settle(race(number).race_id, won_by(winner, payout)))
        assert ledger.balance() >= 0
    assert ledger.balance() == 100_000 - staked + paid
    assert engine.bankroll(DAY).staked_today_yen == staked
    assert verify(ledger.engine).ok and not check_invariants(ledger.engine)


def test_an_unreachable_ledger_stops_buying_with_an_alert(tmp_path: Path) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    sink = MemorySink()
    engine.alerts = (sink,)
    ledger.engine.dispose()
    for leftover in tmp_path.glob("ledger.sqlite*"):
        leftover.unlink()
    (tmp_path / "ledger.sqlite").mkdir()  # the database is gone and cannot be opened
    outcome = engine.decide(race())
    assert outcome.status is Status.SKIPPED
    assert outcome.reason.startswith("ledger unreachable, buying stopped: ")
    assert [a.kind for a in sink.alerts] == ["engine.ledger_unreachable"]


class LostAnswer:
    """The venue takes the tickets (or not), then the answer never comes back; its history
    cannot be read until `down` is set False."""

    def __init__(self, reaches: bool) -> None:
        self.venue = PaperBroker()
        self.reaches = reaches
        self.down = True

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        if self.reaches:
            self.venue.submit(tickets)
        raise TimeoutError("no answer within 30 s")

    def history(self, day: dt.date) -> list[object]:
        if self.down:
            raise ConnectionError("投票内容照会 is down")
        return self.venue.history(day)  # type: ignore[return-value]


@pytest.mark.parametrize("reaches", [True, False])
def test_a_lost_answer_is_reconciled_from_the_venues_history_before_settling(
    tmp_path: Path, reaches: bool
) -> None:
    sink = MemorySink()
    broker = LostAnswer(reaches)
    engine, ledger, _ = make_engine(tmp_path, broker=broker)
    engine.alerts = [sink]
    outcome = engine.decide(race())
    assert outcome.status is Status.FAILED and "no answer within 30 s" in outcome.reason
    assert "left reserved, not sent again" in outcome.reason
    assert {t["state"] for t in ledger.tickets()} == {"unknown"}
    assert [a.kind for a in sink.alerts] == ["engine.broker_failed", "execution.not_reconciled"]
    broker.down = False
    stake = ledger.balances().reserved
    settled = engine.settle(race().race_id, won_by(1))
    if reaches:  # bought after all: placed with the venue's receipt, then paid
        assert [s.paid for s in settled] == [stake * 4]
        assert [t["receipt"] for t in ledger.tickets()] == ["paper-00000001"]
        assert ledger.balance() == 100_000 + stake * 3
    else:  # never bought: the reservation is released, nothing paid
        assert settled == [] and {t["state"] for t in ledger.tickets()} == {"absent"}
        assert ledger.balance() == 100_000
    assert ledger.balances().reserved == 0
    assert [a.kind for a in sink.alerts][-1] == "execution.reconciled"
    assert verify(ledger.engine).ok and not check_invariants(ledger.engine)


def test_every_decision_names_its_release_and_a_replay_without_one_an_implicit_one(
    tmp_path: Path,
) -> None:
    engine, ledger, _ = make_engine(tmp_path)
    implicit = implicit_release_id("fm-test", POLICY)
    assert implicit.startswith("implicit-")
    assert implicit != implicit_release_id("fm-other", POLICY)
    assert implicit != implicit_release_id(
        "fm-test", POLICY.model_copy(update={"ev_threshold": 1.2})
    )
    assert engine.decide(race(1)).release_id == implicit
    engine.release_id = "r-000000000001"
    assert engine.decide(race(2)).release_id == "r-000000000001"
    assert engine.decide(race(3, edge=False)).release_id == "r-000000000001"  # passed, named too
    with ledger.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT content FROM audit_log WHERE record_type = 'decision' ORDER BY seq"
        ).all()
    named = [json.loads(r[0])["payload"]["inputs_summary"]["release_id"] for r in rows]
    assert named == [implicit, "r-000000000001"]
