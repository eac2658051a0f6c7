"""A canary decides and buys its share of a twin day's races under its own caps; the release in
force decides (and buys) the others and decides the canary's in shadow; the report compares them.

The twin day of `twin_release` (three races of a small simulated world) is played from a
fresh copy in each test, with a strict release in force (an EV threshold no race reaches, so it
never buys) and the configured policy as the candidate (which buys on this day).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import statistics
from typing import Any

import pytest
from typer.testing import CliRunner

from keiba.app.release_report import compare
from keiba.app.releases import canary, promote, shadow
from keiba.app.twin_day import TwinPrepared
from keiba.bankroll import Ledger
from keiba.cli.main import app
from keiba.common.clock import JST, FixedClock
from keiba.common.config import ThemisConfig
from keiba.common.errors import KeibaError
from keiba.common.ids import NetkeibaRaceId
from keiba.common.storage import create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.release import (
    AUTOMATIC,
    CANARY,
    CANARY_STOP,
    CanaryRun,
    CanarySettings,
    PromotionRefused,
    Release,
    ReleaseError,
    selects,
)
from keiba.scheduler import Outcome
from keiba.scheduler.journal import journal_path

from .twin_release import (
    GOOD,
    SATURDAY_NOON,
    WEDNESDAY_NOON,
    book_of,
    measured,
    play,
    release_config,
)

CLOCK = FixedClock(WEDNESDAY_NOON)


def _strict_in_force(prepared: TwinPrepared) -> dict[str, Any]:
    config = release_config(prepared, ev_threshold=5.0)
    return promote(config, clock=CLOCK, model=None, reason="strict", measure_gates=measured(GOOD))  # type: ignore[arg-type]


def _race_key(prepared: TwinPrepared, netkeiba_id: str) -> str:
    return str(NetkeibaRaceId.parse(netkeiba_id).to_race_key(prepared.day.date))


def _candidate_id(prepared: TwinPrepared) -> str:
    config = release_config(prepared)
    version = book_of(prepared).in_force(config.storage.dataset)
    assert version is not None
    return Release.of(
        config.storage.dataset, version.release.model_version, config.themis
    ).release_id


# --- the share -------------------------------------------------------------------------------


def test_the_share_is_deterministic_order_free_and_close_to_the_share_on_many_races() -> None:
    races = [
        f"2031011105{m:02d}{d:02d}{r:02d}"
        for m in range(1, 6)
        for d in range(1, 9)
        for r in range(1, 13)
    ]
    chosen = [r for r in races if selects("r-0123456789ab", r, 0.25)]
    assert chosen == [r for r in reversed(races) if selects("r-0123456789ab", r, 0.25)][::-1]
    assert abs(len(chosen) / len(races) - 0.25) < 0.04  # 480 races: 3 sigma is 0.059
    other = [r for r in races if selects("r-ba9876543210", r, 0.25)]
    assert other != chosen  # another release draws other races
    assert all(selects("r-0123456789ab", r, 1.0) for r in races)
    shares = [sum(selects(f"r-{i:012x}", r, 0.5) for r in races) / len(races) for i in range(8)]
    assert abs(statistics.mean(shares) - 0.5) < 0.03


def test_a_canary_needs_a_share_in_the_interval_and_caps_in_hundreds() -> None:
    for share in (0.0, -0.1, 1.5):
        with pytest.raises(ReleaseError, match="share"):
            CanarySettings(share, 1_000, 5_000)
    with pytest.raises(ReleaseError, match="multiple of 100"):
        CanarySettings(0.5, 150, 5_000)
    with pytest.raises(ReleaseError, match="exceeds its day cap"):
        CanarySettings(0.5, 1_000, 500)


def test_the_day_cap_counts_only_what_the_canary_s_races_staked_since_it_started() -> None:
    release = Release.of("sim", "m-1", ThemisConfig())
    day = dt.date(2031, 1, 11)
    races = [f"20310111{v:02d}{r:02d}" for v in range(1, 4) for r in range(1, 13)]
    share = 0.5
    mine = [r for r in races if selects(release.release_id, r, share)]
    other = next(r for r in races if not selects(release.release_id, r, share))
    run = CanaryRun(release, CanarySettings(share, 1_000, 5_000), "2031-01-11T03:00:00+00:00")
    before = dt.datetime(2031, 1, 11, 2, 59, tzinfo=dt.UTC)
    after_naive = dt.datetime(2031, 1, 11, 3, 0)  # SQLite gives back the ledger's UTC naive
    after_jst = dt.datetime(2031, 1, 11, 12, 30, tzinfo=JST)

    def ticket(race: str, stake: int, at: dt.datetime, state: str = "placed") -> dict[str, Any]:
        return {"race_id": race, "stake_yen": stake, "reserved_at": at, "state": state}

    tickets = [
        ticket(mine[0], 700, before),  # the release in force bought it before the canary
        ticket(mine[1], 300, after_naive),
        ticket(mine[2], 200, after_jst, "settled"),
        ticket(mine[2], 400, after_jst, "rejected"),
        ticket(mine[3], 100, after_jst, "absent"),
        ticket(other, 900, after_jst),  # a race the canary does not run
        ticket(mine[4].replace("20310111", "20310112"), 800, after_jst),  # another day
    ]
    assert run.staked(tickets, day) == 500
    assert run.cap_left(run.staked(tickets, day)) == 1_000
    assert run.cap_left(4_500) == 500 and run.cap_left(5_200) == 0


# --- the book and the freeze --------------------------------------------------------------


def test_a_canary_start_in_the_freeze_is_refused_unless_forced_and_audited(
    prepared: TwinPrepared,
) -> None:
    _strict_in_force(prepared)
    config = release_config(prepared)
    settings = CanarySettings(0.5, 1_000, 3_000)
    saturday = FixedClock(SATURDAY_NOON)
    with pytest.raises(PromotionRefused) as refused:
        canary(config, clock=saturday, model=None, reason="try", settings=settings, by="ann")
    assert len(refused.value.lines) == 1
    assert (
        "freeze" in refused.value.lines[0] and "canary starts are refused" in refused.value.lines[0]
    )
    assert book_of(prepared).canary(config.storage.dataset) is None
    event = canary(
        config, clock=saturday, model=None, reason="hotfix", settings=settings, by="ann", force=True
    )
    assert event["action"] == CANARY and event["by"] == "ann" and event["reason"] == "hotfix"
    assert len(event["forced"]) == 1 and "freeze" in event["forced"][0]
    assert event["canary"] == settings.to_dict()
    stopped = canary(config, clock=saturday, model=None, reason="enough", stop=True, by="bob")
    assert (stopped["action"], stopped["by"], stopped["reason"]) == (CANARY_STOP, "bob", "enough")
    assert book_of(prepared).canary(config.storage.dataset) is None
    # the command, on the wall clock (forced: it may be a race day's freeze when this runs)
    env = {
        "KEIBA_STORAGE__LEDGER_URL": config.storage.ledger_url,
        "KEIBA_STORAGE__OBJECT_STORE_URL": config.object_store_url,
    }
    home = ["--home", str(config.home), "release"]
    start = [*home, "canary", "--dataset", config.storage.dataset, "--reason", "cli", "--force"]
    said = CliRunner().invoke(
        app, [*start, "--share", "0.25", "--race-cap", "1000", "--day-cap", "3000"], env=env
    )
    assert said.exit_code == 0, said.output
    assert "runs as a canary on 25% of the races, at most 1,000 yen a race and 3,000" in said.stdout
    ended = CliRunner().invoke(app, [*start[:-1], "--stop"], env=env)
    assert ended.exit_code == 0, ended.output
    assert ended.stdout.startswith("canary r-") and "ended" in ended.stdout
    assert book_of(prepared).canary(config.storage.dataset) is None


def test_a_promotion_or_a_rollback_ends_the_canary_with_a_record(prepared: TwinPrepared) -> None:
    first = _strict_in_force(prepared)
    config = release_config(prepared)
    dataset = config.storage.dataset
    settings = CanarySettings(0.5, 1_000, 3_000)
    canary(config, clock=CLOCK, model=None, reason="try", settings=settings)
    promoted = promote(
        config,
        clock=CLOCK,
        model=None,
        reason="good",
        force=True,  # past the policy step from the strict release
        measure_gates=measured(GOOD),  # type: ignore[arg-type]
    )
    events = book_of(prepared).events(dataset)
    assert [e.action for e in events[-3:]] == [CANARY, CANARY_STOP, "promote"]
    assert "ended by the promotion of " + promoted["release_id"] in events[-2].reason
    assert book_of(prepared).canary(dataset) is None
    bolder = release_config(prepared, ev_threshold=1.2)
    canary(bolder, clock=CLOCK, model=None, reason="again", settings=settings)
    book = book_of(prepared)
    book.rollback(dataset, by="ann", reason="bad week")
    events = book.events(dataset)
    assert [e.action for e in events[-2:]] == [CANARY_STOP, "rollback"]
    assert events[-2].reason == "ended by a rollback: bad week" and events[-2].by == "ann"
    assert book.in_force(dataset).release.release_id == first["release_id"]  # type: ignore[union-attr]
    with pytest.raises(ReleaseError, match="no canary runs"):
        book.stop_canary(dataset, by="ann", reason="again")


# --- the race day ---------------------------------------------------------------------------


def test_canary_races_buy_the_candidate_within_its_caps_and_the_others_the_release_in_force(
    prepared: TwinPrepared,
) -> None:
    in_force = _strict_in_force(prepared)
    candidate = _candidate_id(prepared)
    keys = {_race_key(prepared, r.netkeiba_id) for r in prepared.day.races}
    settings = CanarySettings(1.0, 200, 300)
    canary(release_config(prepared), clock=CLOCK, model=None, reason="try", settings=settings)
    day, _ = play(prepared, auto_promote=None)
    assert {_race_key(prepared, r) for r in day.outcomes} == keys
    bought = [o for o in day.outcomes.values() if o.outcome is Outcome.BOUGHT]
    assert bought, "the candidate buys on this day"
    staked = 0
    for race_id, outcome in day.outcomes.items():
        if outcome.outcome in (Outcome.BOUGHT, Outcome.PASSED):
            assert outcome.detail["release_id"] == candidate and outcome.detail["canary"] is True
        tickets = outcome.detail.get("tickets", [])
        assert sum(t["stake_yen"] for t in tickets) <= 200
        staked += sum(t["stake_yen"] for t in tickets)
        row = day.canary[race_id]
        assert (row["in_force"], row["canary"]) == (in_force["release_id"], candidate)
        assert row["staked_yen"] == 0  # the strict release passes: it decided in shadow
    assert 0 < staked <= 300
    ledger = Ledger(create_ledger_engine(day.ledger), CLOCK, day.account)
    assert sum(int(t["stake_yen"]) for t in ledger.tickets()) == staked
    assert len({t["race_id"] for t in ledger.tickets()}) == len(bought)  # one decision a race
    assert any("+canary-cap" in str(t["rule"]) for t in ledger.tickets())
    with ledger.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT content FROM audit_log WHERE record_type = 'decision' ORDER BY seq"
        ).all()
    summaries = [json.loads(r[0])["payload"]["inputs_summary"] for r in rows]
    assert len(summaries) == len(bought)
    for summary in summaries:  # the audited decision names the canary and the cap it ran under
        assert summary["release_id"] == candidate
        assert 0 <= summary["canary"]["cap_yen"] <= 200


def test_a_canary_on_part_of_the_day_leaves_the_other_races_to_the_release_in_force(
    prepared: TwinPrepared,
) -> None:
    """The configured policy in force (it buys on this day), the strict one as the canary (it
    never buys): the release in force decides the races the canary does not select; the one it
    selects (on this day, the race the release in force would have bought) is decided by the
    canary, decided by the release in force in shadow only, and bought by no one."""
    config = release_config(prepared)
    in_force = promote(
        config, clock=CLOCK, model=None, reason="in force", measure_gates=measured(GOOD)
    )  # type: ignore[arg-type]
    strict = release_config(prepared, ev_threshold=5.0)
    candidate = Release.of(
        config.storage.dataset, in_force["model_version"], strict.themis
    ).release_id
    keys = sorted(_race_key(prepared, r.netkeiba_id) for r in prepared.day.races)
    # the smallest share that selects exactly one of the day's races, found by the public rule
    share = next(
        s / 1000 for s in range(1, 1001) if sum(selects(candidate, k, s / 1000) for k in keys) == 1
    )
    chosen = {k for k in keys if selects(candidate, k, share)}
    started = canary(
        strict, clock=CLOCK, model=None, reason="try", settings=CanarySettings(share, 1_000, 2_000)
    )
    assert started["release_id"] == candidate
    day, _ = play(prepared, auto_promote=None)
    assert {_race_key(prepared, r) for r in day.canary} == chosen
    ledger = Ledger(create_ledger_engine(day.ledger), CLOCK, day.account)
    for race_id, outcome in day.outcomes.items():
        key = _race_key(prepared, race_id)
        assert outcome.outcome in (Outcome.BOUGHT, Outcome.PASSED)
        tickets = ledger.race_tickets(key)
        if key in chosen:
            assert outcome.detail["release_id"] == candidate and outcome.detail["canary"] is True
            assert outcome.outcome is Outcome.PASSED and tickets == []
            assert day.canary[race_id]["in_force"] == in_force["release_id"]
        else:
            assert outcome.detail["release_id"] == in_force["release_id"]
            assert "canary" not in outcome.detail
            assert len(tickets) == len(outcome.detail["tickets"])
            assert len({t["decision_id"] for t in tickets}) <= 1  # one decision bought a race
    # the release in force would have bought the canary's race: it decided it in shadow only
    assert sum(row["staked_yen"] for row in day.canary.values()) > 0


def test_the_report_equals_a_recomputation_from_the_ledger_and_the_payouts(
    prepared: TwinPrepared,
) -> None:
    """Shadow and canary on the same day, both the configured policy: the canary buys every
    race under its caps, the shadow decides without them and buys nothing, the strict release
    in force decides in shadow and never buys."""
    _strict_in_force(prepared)
    canary(
        release_config(prepared),
        clock=CLOCK,
        model=None,
        reason="try",
        settings=CanarySettings(1.0, 10_000, 30_000),
    )
    shadow(release_config(prepared), clock=CLOCK, model=None, reason="compare")
    day, _ = play(prepared, auto_promote=None)
    report = compare(
        prepared.config, prepared.day.date, journal=prepared.run_dir / "journal.sqlite"
    )
    ledger = Ledger(create_ledger_engine(day.ledger), CLOCK, day.account)
    tickets = ledger.tickets()
    assert tickets, "the canary bought"
    part = report["canary"]
    assert part is not None and len(part["races"]) == len(day.outcomes)
    with open_dataset(prepared.config, read_only=True) as warehouse:
        payouts = {
            (r, b, c): int(p)
            for r, b, c, p in warehouse.query(
                "SELECT race_id, bet_type, combination, payout_yen FROM payouts"
            ).iter_rows()
        }
    for row in part["races"]:
        mine = [t for t in tickets if t["race_id"] == row["race_id"]]
        assert row["settled"] and all(t["state"] == "settled" for t in mine)
        assert row["candidate"]["staked_yen"] == sum(int(t["stake_yen"]) for t in mine)
        assert row["candidate"]["returned_yen"] == sum(int(t["payout_yen"]) for t in mine)
        assert row["in_force"]["staked_yen"] == 0 and row["in_force"]["returned_yen"] == 0
    totals = part["totals"]["candidate"]
    assert totals["staked_yen"] == sum(int(t["stake_yen"]) for t in tickets)
    assert totals["profit_yen"] == sum(int(t["payout_yen"]) - int(t["stake_yen"]) for t in tickets)
    # the shadow: its tickets paid by hand from the payouts table (win and place, no dead heat)
    shadowed = report["shadow"]
    assert shadowed is not None
    staked = returned = 0
    for row in shadowed["races"]:
        assert row["in_force"]["staked_yen"] == 0  # the release in force, on a canary race
        for bet in row["candidate"]["bets"]:
            staked += bet["stake_yen"]
            key = (row["race_id"], bet["bet_type"], bet["combination"])
            returned += bet["stake_yen"] // 100 * payouts.get(key, 0)
    assert staked > 0
    assert shadowed["totals"]["candidate"]["staked_yen"] == staked
    assert shadowed["totals"]["candidate"]["returned_yen"] == returned
    journal = str(prepared.run_dir / "journal.sqlite")
    home, dataset = str(prepared.config.home), prepared.config.storage.dataset
    args = ["--home", home, "release", "compare", "--dataset", dataset, "--journal", journal]
    date = ["--date", prepared.day.date.isoformat()]
    printed = CliRunner().invoke(app, [*args, *date, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout) == json.loads(json.dumps(report))
    table = CliRunner().invoke(app, [*args, *date])
    assert table.exit_code == 0, table.output
    assert f"canary {part['release_id']}" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 80


def test_a_range_of_days_sums_the_days_run_and_refuses_to_mix_candidates(
    prepared: TwinPrepared,
) -> None:
    _strict_in_force(prepared)
    settings = CanarySettings(1.0, 10_000, 30_000)
    canary(release_config(prepared), clock=CLOCK, model=None, reason="try", settings=settings)
    play(prepared, auto_promote=None)
    config, day = prepared.config, prepared.day.date
    single = compare(config, day, journal=prepared.run_dir / "journal.sqlite")
    assert single["canary"] is not None
    home_journal = journal_path(config.home, day)
    home_journal.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", ".canary.jsonl"):
        source = (prepared.run_dir / "journal.sqlite").with_suffix(suffix or ".sqlite")
        shutil.copy(source, home_journal.with_suffix(suffix or ".sqlite"))
    week = compare(config, day - dt.timedelta(days=3), until=day + dt.timedelta(days=3))
    assert week["days"] == [day.isoformat()]  # the days not run here are skipped
    assert week["canary"] == single["canary"] and week["journal"] is None
    # a second day whose canary was another release: the sums would mix them
    later = journal_path(config.home, day + dt.timedelta(days=7))
    later.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(home_journal, later)
    lines = home_journal.with_suffix(".canary.jsonl").read_text("utf-8").splitlines()
    stamp, later_stamp = f"{day:%Y%m%d}", f"{day + dt.timedelta(days=7):%Y%m%d}"
    moved = [
        {**row, "race_id": row["race_id"].replace(stamp, later_stamp, 1)}
        for row in map(json.loads, lines)
    ]
    log = later.with_suffix(".canary.jsonl")
    log.write_text("".join(json.dumps({**r, "canary": "r-0"}) + "\n" for r in moved), "utf-8")
    with pytest.raises(KeibaError, match="canary compared changes within the range"):
        compare(config, day, until=day + dt.timedelta(days=7))
    # the same canary on both days (the second without its results yet): their sum
    log.write_text("".join(json.dumps(r) + "\n" for r in moved), "utf-8")
    both = compare(config, day, until=day + dt.timedelta(days=7))
    assert both["canary"] is not None and len(both["days"]) == 2
    one, two = single["canary"]["totals"], both["canary"]["totals"]
    for side in ("in_force", "candidate"):
        assert two[side]["races"] == 2 * one[side]["races"]
        assert two[side]["staked_yen"] == 2 * one[side]["staked_yen"]
        assert two[side]["settled_races"] == one[side]["settled_races"]
        assert two[side]["profit_yen"] == one[side]["profit_yen"]
    with pytest.raises(KeibaError, match="journal names one day"):
        compare(config, day, journal=home_journal, until=day)
    with pytest.raises(KeibaError, match=r"ends .* before it starts"):
        compare(config, day, until=day - dt.timedelta(days=1))
    with pytest.raises(KeibaError, match="no race day from"):
        compare(config, day + dt.timedelta(days=1), until=day + dt.timedelta(days=6))
    args = ["--home", str(config.home), "release", "compare", "--dataset"]
    args += [config.storage.dataset, "--date", day.isoformat(), "--until", day.isoformat()]
    printed = CliRunner().invoke(app, [*args, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["canary"] == json.loads(json.dumps(single["canary"]))


def test_a_drawdown_while_a_canary_runs_ends_it_audited_and_alerted(prepared: TwinPrepared) -> None:
    from keiba.app.race_day import fund_paper_ledger

    _strict_in_force(prepared)
    later = FixedClock(WEDNESDAY_NOON + dt.timedelta(hours=1))
    canary(
        release_config(prepared),
        clock=later,
        model=None,
        reason="try",
        settings=CanarySettings(1.0, 10_000, 30_000),
    )
    url, bankroll = f"sqlite:///{prepared.run_dir / 'ledger.sqlite'}", 1_000_000
    start = dt.datetime.combine(prepared.day.date, dt.time(0), tzinfo=dt.UTC)
    fund_paper_ledger(url, "paper", FixedClock(start), bankroll, "paper bankroll")
    Ledger(
        create_ledger_engine(url), FixedClock(WEDNESDAY_NOON + dt.timedelta(hours=2)), "paper"
    ).adjust(-bankroll // 4, "a bad week")
    day, sink = play(prepared, auto_promote=None)
    assert "release.canary_ended" in {a.kind for a in sink.alerts}
    assert day.canary == {}
    assert not any(o.detail and o.detail.get("canary") for o in day.outcomes.values())
    last = book_of(prepared).events(prepared.config.storage.dataset)[-1]
    assert (last.action, last.by) == (CANARY_STOP, AUTOMATIC) and "drawdown" in last.reason
