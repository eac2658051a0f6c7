"""The day's value bets as the warehouse knows them at an instant: `keiba bet today`.

The races of the day are those with a card in `entries` fetched at or before the instant (the
latest card of each). Their features are built once, from those cards, as of the instant; then
each race's inputs are read as the race day would read them at that instant
(`keiba.engine.live.live_race_inputs`, with the model of the dataset's release in force, its
Themis policy too; with no release, the latest stored model and the configured policy, noted)
and Themis decides them against the ledger account's bankroll as the engine would see it (its
available balance and what the day's races have already staked). Nothing is bought and nothing
is written to the ledger; the warehouse's `features` rows of the day are rebuilt, as the race
day does.

Each race comes back with its starters (model's, market's and combined probabilities, win
odds, expected value, Themis's stake or the code of its reason for none) and Themis's tickets
in the other pools; a race that cannot be decided comes back with the reason instead.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from keiba.bankroll import Ledger
from keiba.common.bet_types import BetType
from keiba.common.clock import JST, FixedClock, SystemClock
from keiba.common.config import KeibaConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import Venue
from keiba.common.storage import FsspecObjectStore, Warehouse, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.engine import RaceInputs, ledger_bankroll
from keiba.engine.live import LiveInputsError, live_race_inputs
from keiba.feature_engineering import ENTRIES_TABLE, build_features_for_entries
from keiba.market.probabilities import market_probabilities
from keiba.model_training.pipeline import StoredModel, check_model_dataset, load_stored_model
from keiba.monitor.monitor import restore_state
from keiba.predictor.probabilities import race_probabilities
from keiba.release import ReleaseBook
from keiba.themis import Bankroll, Bet, Decision, DecisionError, decide

__all__ = ["Starter", "Ticket", "TodayBets", "TodayRace", "as_of", "today_bets", "today_bets_at"]

STOPPED = "the drawdown monitor has stopped buying: the race day would buy none of these"
UNRELEASED = (
    "no release is promoted for dataset {dataset!r}: the latest model with the configured "
    "policy; the race day would buy none of these (keiba release promote)"
)


@dataclass(frozen=True)
class Starter:
    """One starter: the three probabilities, its win odds, and what Themis made of it."""

    horse_no: int
    horse_name: str
    p_model: float
    p_market: float
    p_combined: float
    odds: float
    stake_yen: int
    reason: str | None
    """The code of Themis's reason for not buying it (None when it is bought)."""

    @property
    def ev(self) -> float:
        """The expected return per yen: p_combined × win odds."""
        return self.p_combined * self.odds


@dataclass(frozen=True)
class Ticket:
    """A ticket Themis would buy in a pool other than win."""

    bet_type: BetType
    combination: str
    stake_yen: int
    probability: float
    odds: float
    expected_return: float
    rule: str


@dataclass(frozen=True)
class TodayRace:
    """A race of the day as its latest card describes it, decided or with the reason why not."""

    race_id: str
    venue: str
    race_no: int
    post_time: dt.datetime
    race_name: str
    race_class: str
    grade: str | None
    odds_as_of: dt.datetime | None = None
    starters: tuple[Starter, ...] = ()
    tickets: tuple[Ticket, ...] = ()
    rejected: Mapping[str, int] = field(default_factory=dict)
    """Rejections in the other pools, counted by reason code."""
    undecided: str | None = None
    """Why the race cannot be decided (None when Themis decided it)."""
    odds_stale: bool = False
    """The odds are older than the race day's limit (`race_day.max_odds_age_s`): the race day
    would not decide on them."""
    post_passed: bool = False

    @property
    def staked_yen(self) -> int:
        return sum(s.stake_yen for s in self.starters) + sum(t.stake_yen for t in self.tickets)


@dataclass(frozen=True)
class TodayBets:
    """The day's races as known at `at`, and what they were decided with."""

    race_date: dt.date
    at: dt.datetime
    dataset: str
    model_version: str
    account: str
    bankroll: Bankroll
    races: tuple[TodayRace, ...]
    notes: tuple[str, ...] = ()
    release_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view; instants in JST."""
        return {
            "race_date": self.race_date.isoformat(),
            "at": _jst(self.at),
            "dataset": self.dataset,
            "model_version": self.model_version,
            "release_id": self.release_id,
            "account": self.account,
            "bankroll": {
                "balance_yen": self.bankroll.balance_yen,
                "staked_today_yen": self.bankroll.staked_today_yen,
                "tickets_today": self.bankroll.tickets_today,
                "day_start_yen": self.bankroll.day_start_yen,
            },
            "races": [_race_dict(r, self.at) for r in self.races],
            "notes": list(self.notes),
        }


def _jst(at: dt.datetime | None) -> str | None:
    return None if at is None else at.astimezone(JST).isoformat()


def _shown(at: dt.datetime) -> str:
    return at.astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _race_dict(race: TodayRace, at: dt.datetime) -> dict[str, Any]:
    age = None if race.odds_as_of is None else (at - race.odds_as_of).total_seconds()
    return {
        "race_id": race.race_id,
        "venue": race.venue,
        "race_no": race.race_no,
        "post_time": _jst(race.post_time),
        "race_name": race.race_name,
        "race_class": race.race_class,
        "grade": race.grade,
        "decided": race.undecided is None,
        "reason": race.undecided,
        "odds_as_of": _jst(race.odds_as_of),
        "odds_age_s": age,
        "staked_yen": race.staked_yen,
        "starters": [{**vars(s), "ev": s.ev} for s in race.starters],
        "tickets": [{**vars(t), "bet_type": t.bet_type.value} for t in race.tickets],
        "rejected": dict(race.rejected),
        "odds_stale": race.odds_stale,
        "post_passed": race.post_passed,
    }


def _cards(warehouse: Warehouse, race_date: dt.date, at: dt.datetime) -> pl.DataFrame:
    """The latest card of each race of `race_date` fetched at or before `at`."""
    if not warehouse.has_table(ENTRIES_TABLE):
        raise KeibaError(
            f"no race cards have been collected in the dataset {warehouse.dataset!r} "
            "(keiba run collects them on race day)"
        )
    cards = warehouse.query(
        "SELECT race_id, venue_code, race_no, race_name, race_class, grade, post_time, "
        f"CAST(horse_no AS BIGINT) AS horse_no, horse_name FROM {ENTRIES_TABLE} "
        "WHERE race_date = ? AND as_of <= ? "
        "QUALIFY as_of = max(as_of) OVER (PARTITION BY race_id) "
        "ORDER BY post_time, race_id, horse_no",
        [race_date, at],
    )
    if cards.is_empty():
        raise KeibaError(
            f"no race cards for {race_date} fetched at or before {_shown(at)} in the dataset "
            f"{warehouse.dataset!r}"
        )
    return cards


def _model(
    config: KeibaConfig, warehouse: Warehouse, at: dt.datetime
) -> tuple[StoredModel, KeibaConfig, str | None]:
    """The release in force's model and the configuration with its policy, and its id; with
    no release, the latest model and the configuration as it is."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        current = ReleaseBook(engine, FixedClock(at)).in_force(warehouse.dataset)
    finally:
        engine.dispose()
    version = current.release.model_version if current else None
    stored = load_stored_model(FsspecObjectStore(config.object_store_url), version)
    check_model_dataset(stored, warehouse)
    if current is None:
        return stored, config, None
    config = config.model_copy(update={"themis": current.release.themis()})
    return stored, config, current.release.release_id


def _account(
    config: KeibaConfig, account: str, race_date: dt.date, at: dt.datetime
) -> tuple[Bankroll, bool]:
    """The account's bankroll as the engine sees it, and whether the monitor stopped buying."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        ledger = Ledger.existing(engine, FixedClock(at), account)
        stopped = restore_state(ledger.monitor_events()).stopped
        return ledger_bankroll(ledger, race_date), stopped
    finally:
        engine.dispose()


def _venue(code: int) -> str:
    try:
        return Venue(code).name.title()
    except ValueError:
        return f"venue {code:02d}"


def _header(card: pl.DataFrame, at: dt.datetime) -> TodayRace:
    first = card.row(0, named=True)
    return TodayRace(
        race_id=str(first["race_id"]),
        venue=_venue(int(first["venue_code"])),
        race_no=int(first["race_no"]),
        post_time=first["post_time"],
        race_name=str(first["race_name"] or ""),
        race_class=str(first["race_class"] or ""),
        grade=first["grade"],
        post_passed=at >= first["post_time"],
    )


def _market_and_model(
    warehouse: Warehouse, inputs: RaceInputs, stored: StoredModel
) -> dict[int, tuple[float, float]]:
    """Horse → (p_model, p_market) over the inputs' starters and win odds."""
    win = inputs.offers[BetType.WIN]
    starters = pl.DataFrame(
        {
            "race_id": inputs.race_id,
            "horse_no": list(inputs.horses),
            "race_date": [inputs.race_date] * len(inputs.horses),
            "odds": [win[str(h)] for h in inputs.horses],
        }
    )
    starters = starters.with_columns(market_probabilities(starters, "odds"))
    priced = race_probabilities(stored.model, stored.combination, warehouse, starters).frame
    rows = priced.select("horse_no", "p_model", "p_market").iter_rows()
    return {int(h): (float(m), float(q)) for h, m, q in rows}


def _decide(inputs: RaceInputs, bankroll: Bankroll, config: KeibaConfig) -> Decision:
    """Themis on the inputs, as the engine calls it."""
    offers = {b: dict(q) for b, q in inputs.offers.items()}
    return decide(
        dict(inputs.probabilities),
        offers,
        bankroll,
        config.themis,
        frames=dict(inputs.frames) if BetType.BRACKET_QUINELLA in offers else None,
        scratched=inputs.scratched,
    )


def _starters(
    inputs: RaceInputs,
    decision: Decision,
    names: Mapping[int, str],
    priced: Mapping[int, tuple[float, float]],
) -> tuple[Starter, ...]:
    stakes = {b.combination: int(b.stake) for b in decision.bets if b.bet_type is BetType.WIN}
    codes = {r.combination: r.code.value for r in decision.rejections if r.bet_type is BetType.WIN}
    win = inputs.offers[BetType.WIN]
    return tuple(
        Starter(
            horse_no=h,
            horse_name=names.get(h, ""),
            p_model=priced[h][0],
            p_market=priced[h][1],
            p_combined=float(inputs.probabilities[h]),
            odds=float(win[str(h)]),
            stake_yen=stakes.get(str(h), 0),
            reason=None if str(h) in stakes else codes.get(str(h)),
        )
        for h in inputs.horses
    )


def _stale(odds_as_of: dt.datetime | None, at: dt.datetime, config: KeibaConfig) -> bool:
    limit = dt.timedelta(seconds=config.race_day.max_odds_age_s)
    return odds_as_of is not None and at - odds_as_of > limit


def _today_race(
    warehouse: Warehouse,
    card: pl.DataFrame,
    at: dt.datetime,
    stored: StoredModel,
    bankroll: Bankroll,
    config: KeibaConfig,
) -> tuple[TodayRace, tuple[str, ...]]:
    """One race decided (or why not), and the decision's notes."""
    race = _header(card, at)
    pools = (BetType.WIN, *(b for b in config.themis.bet_types if b is BetType.PLACE))
    try:
        inputs = live_race_inputs(
            warehouse, race.race_id, at, stored.model, stored.combination, pools
        )
        priced = _market_and_model(warehouse, inputs, stored)
        decision = _decide(inputs, bankroll, config)
    except LiveInputsError as e:
        return replace(race, undecided=e.reason), ()
    except DecisionError as e:
        return replace(race, undecided=f"bad decision inputs: {e}"), ()
    names = dict(zip(card["horse_no"].to_list(), card["horse_name"].to_list(), strict=True))
    others = [r for r in decision.rejections if r.bet_type is not BetType.WIN]
    decided = replace(
        race,
        odds_as_of=inputs.odds_as_of,
        odds_stale=_stale(inputs.odds_as_of, at, config),
        starters=_starters(inputs, decision, names, priced),
        tickets=tuple(_ticket(b) for b in decision.bets if b.bet_type is not BetType.WIN),
        rejected=dict(sorted(Counter(r.code.value for r in others).items())),
    )
    return decided, decision.notes


def _ticket(bet: Bet) -> Ticket:
    return Ticket(
        bet.bet_type,
        bet.combination,
        int(bet.stake),
        bet.probability,
        bet.odds,
        bet.expected_return,
        bet.rule,
    )


def _race_date(race_date: dt.date | None, race_id: str | None, at: dt.datetime) -> dt.date:
    if race_id is not None:
        if len(race_id) != 16 or not race_id.isdigit():
            raise KeibaError(f"{race_id!r} is not a race id (16 digits, YYYYMMDDJJKKNNRR)")
        try:
            of_race = dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))
        except ValueError:
            raise KeibaError(f"{race_id!r} is not a race id: it begins with no date") from None
        if race_date is not None and race_date != of_race:
            raise KeibaError(f"race {race_id} is run on {of_race}, not on {race_date}")
        return of_race
    return race_date or at.astimezone(JST).date()


def today_bets(
    config: KeibaConfig,
    at: dt.datetime,
    *,
    race_date: dt.date | None = None,
    race_id: str | None = None,
    account: str = "main",
) -> TodayBets:
    """The day's races (default: the JST day of `at`; one race with `race_id`) as known at
    `at`, each decided by Themis or listed with why it cannot be (see the module docstring)."""
    if at.tzinfo is None:
        raise ValueError(f"the time must be timezone-aware, was {at.isoformat()}")
    day = _race_date(race_date, race_id, at)
    with open_dataset(config, must_exist=True) as warehouse:
        cards = _cards(warehouse, day, at)
        if race_id is not None:
            cards = cards.filter(pl.col("race_id") == race_id)
            if cards.is_empty():
                raise KeibaError(f"no card of race {race_id} fetched at or before {_shown(at)}")
        stored, config, release_id = _model(config, warehouse, at)
        bankroll, stopped = _account(config, account, day, at)
        ids: Sequence[str] = cards["race_id"].unique(maintain_order=True).to_list()
        build_features_for_entries(warehouse, ids, at)
        races, notes = _decide_day(warehouse, cards, at, stored, bankroll, config)
        if stopped:
            notes = (STOPPED, *notes)
        if release_id is None:
            notes = (UNRELEASED.format(dataset=warehouse.dataset), *notes)
        return TodayBets(
            day,
            at,
            warehouse.dataset,
            stored.model.version,
            account,
            bankroll,
            races,
            notes,
            release_id,
        )


def _decide_day(
    warehouse: Warehouse,
    cards: pl.DataFrame,
    at: dt.datetime,
    stored: StoredModel,
    bankroll: Bankroll,
    config: KeibaConfig,
) -> tuple[tuple[TodayRace, ...], tuple[str, ...]]:
    """Every race of the cards, in post-time order, and the notes they share."""
    races: list[TodayRace] = []
    notes: dict[str, None] = {}  # ordered and without repeats
    for (_,), card in cards.group_by("race_id", maintain_order=True):
        race, decision_notes = _today_race(warehouse, card, at, stored, bankroll, config)
        races.append(race)
        notes.update(dict.fromkeys(decision_notes))
    if any(r.odds_stale for r in races):
        limit = config.race_day.max_odds_age_s
        notes[
            f"odds marked stale are older than {limit:g} s (race_day.max_odds_age_s): the race "
            "day would not decide on them"
        ] = None
    return tuple(races), tuple(notes)


def as_of(at: dt.time | dt.datetime, day: dt.date | None, now: dt.datetime) -> dt.datetime:
    """The instant `at` names: a datetime is itself; a time of day is on `day` (default: the
    JST day of `now`), in JST."""
    if isinstance(at, dt.datetime):
        return at
    return dt.datetime.combine(day or now.astimezone(JST).date(), at, JST)


def _day_of(race_id: str) -> dt.date | None:
    try:
        return dt.date(int(race_id[:4]), int(race_id[4:6]), int(race_id[6:8]))
    except ValueError:
        return None  # `today_bets` says what is wrong with it


def today_bets_at(
    config: KeibaConfig,
    at: dt.time | dt.datetime | None,
    *,
    race_date: dt.date | None = None,
    race_id: str | None = None,
    account: str = "main",
) -> TodayBets:
    """`today_bets` as known at `at` (default: now on the wall clock); a time of day is on
    the race day (`race_date`, else the day of `race_id`, else today in JST)."""
    now = SystemClock().now()
    if race_id is not None and race_date is None:
        race_date = _day_of(race_id)
    instant = now if at is None else as_of(at, race_date, now)
    return today_bets(config, instant, race_date=race_date, race_id=race_id, account=account)
