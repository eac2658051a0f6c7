"""`keiba bet today` through the command line (in process), on a simulated race day's home."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import typer
from cli_runner import keiba
from rich.cells import cell_len

from keiba.app.today import as_of, today_bets
from keiba.cli.today_cli import parse_at
from keiba.common.clock import JST
from race_morning import DATASET, Morning

NOW = dt.datetime(2015, 2, 14, 1, 0, tzinfo=dt.UTC)


def today(morning: Morning, *args: str) -> tuple[int, str, str]:
    done = keiba(morning.home, "bet", "today", "--dataset", DATASET, *args)
    return done.code, done.stdout, done.stderr


def test_the_json_is_the_days_bets_as_data(morning: Morning) -> None:
    code, stdout, _ = today(morning, "--at", morning.at.isoformat(), "--json")
    assert code == 0
    expected = today_bets(morning.config, morning.at).to_dict()
    assert json.loads(stdout) == json.loads(json.dumps(expected, default=str))
    assert json.loads(stdout)["at"] == morning.at.astimezone(JST).isoformat()


def test_the_table_shows_every_race_and_fits_80_columns(morning: Morning) -> None:
    code, stdout, _ = today(morning, "--at", morning.at.isoformat())
    assert code == 0
    too_wide = [line for line in stdout.splitlines() if cell_len(line) > 80]
    assert too_wide == []
    result = today_bets(morning.config, morning.at)
    lines = stdout.splitlines()
    for race in result.races:
        assert any(line.startswith(race.race_id) for line in lines)
        for s in race.starters:
            row = next(line for line in lines if s.horse_name in line.split())
            themis = f"{s.stake_yen:,} yen" if s.stake_yen else str(s.reason)
            assert row.split()[0] == str(s.horse_no) and row.rstrip().endswith(themis)
            assert f"{s.p_combined:.3f}" in row and f"{s.odds:.1f}" in row
    staked = sum(r.staked_yen for r in result.races)
    assert f"Themis would stake {staked:,} yen" in stdout


def test_races_that_cannot_be_decided_are_listed_with_the_reason(morning: Morning) -> None:
    code, stdout, _ = today(morning, "--at", morning.early.isoformat())
    assert code == 0
    races = len(morning.day.races)
    reason = "cannot be decided: no win odds published yet (forecasts are not prices)"
    assert stdout.count(reason) == races
    assert f"{races} race(s), {races} not decided" in stdout


def test_one_race_at_a_time_of_its_day(morning: Morning) -> None:
    race = morning.day.races[3]
    hhmm = morning.at.astimezone(JST).strftime("%H:%M")
    code, stdout, _ = today(morning, "--race", race.race_id, "--at", hhmm, "--json")
    assert code == 0
    result = json.loads(stdout)
    assert [r["race_id"] for r in result["races"]] == [race.race_id]
    assert result["at"] == morning.at.astimezone(JST).replace(second=0).isoformat()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--race", "2015021499999999"), "no card of race 2015021499999999"),
        (("--date", "2015-02-15"), "no race cards for 2015-02-15"),
        (("--account", "nobody"), "no account 'nobody'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    morning: Morning, args: tuple[str, ...], message: str
) -> None:
    code, stdout, stderr = today(morning, "--at", morning.at.isoformat(), *args)
    assert (code, stdout) == (1, "")
    assert stderr.count("\n") == 1 and message in stderr


def test_no_model_is_one_line_and_exit_1(morning: Morning) -> None:
    done = keiba(
        morning.home,
        "bet",
        "today",
        "--dataset",
        DATASET,
        "--at",
        morning.at.isoformat(),
        env={"KEIBA_STORAGE__OBJECT_STORE_URL": str(morning.home / "no-models")},
    )
    assert done.code == 1 and done.stderr.count("\n") == 1
    assert "no model has been trained yet" in done.stderr


def test_times_are_read_in_jst() -> None:
    day = dt.date(2015, 2, 14)
    assert as_of(parse_at("9:05"), day, NOW) == dt.datetime(2015, 2, 14, 9, 5, tzinfo=JST)
    assert as_of(parse_at("13:40"), None, NOW) == dt.datetime(2015, 2, 14, 13, 40, tzinfo=JST)
    full = parse_at("2015-02-14T13:40")
    assert as_of(full, None, NOW) == dt.datetime(2015, 2, 14, 13, 40, tzinfo=JST)
    utc = as_of(parse_at("2015-02-14T04:40+00:00"), day, NOW)
    assert utc == dt.datetime(2015, 2, 14, 13, 40, tzinfo=JST)
    with pytest.raises(typer.BadParameter):
        parse_at("25:99")
