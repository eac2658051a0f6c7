import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keiba.common.errors import InvalidRaceIdError
from keiba.common.ids import NetkeibaRaceId, RaceKey, Venue


def test_race_key_parses_and_formats() -> None:
    key = RaceKey.parse("2018122206050811")
    assert key.race_date == dt.date(2018, 12, 22)
    assert key.venue is Venue.NAKAYAMA
    assert (key.meeting, key.meeting_day, key.race_no) == (5, 8, 11)
    assert str(key) == "2018122206050811"


def test_race_key_converts_to_netkeiba_and_back() -> None:
    key = RaceKey.parse("2018122206050811")
    nk = key.to_netkeiba()
    assert str(nk) == "201806050811"
    assert nk.to_race_key(dt.date(2018, 12, 22)) == key


@pytest.mark.parametrize(
    ("race_id", "reason"),
    [
        ("201812220605081", "16 ASCII digits"),
        ("20181222060508110", "16 ASCII digits"),
        ("2018122206O50811", "16 ASCII digits"),
        ("２０１８122206050811", "16 ASCII digits"),
        ("2018023006050811", "not a calendar date"),
        ("2018122211050811", "venue 11"),
        ("2018122206050813", "race number 13"),
        ("2018122206000811", "meeting 00"),
    ],
)
def test_malformed_race_keys_name_the_problem(race_id: str, reason: str) -> None:
    with pytest.raises(InvalidRaceIdError, match=reason) as caught:
        RaceKey.parse(race_id)
    assert race_id in str(caught.value)


def test_netkeiba_id_needs_a_date_in_its_year() -> None:
    nk = NetkeibaRaceId.parse("201806050811")
    with pytest.raises(InvalidRaceIdError, match="not in the id's year"):
        nk.to_race_key(dt.date(2019, 1, 5))


def test_netkeiba_id_rejects_wrong_length() -> None:
    with pytest.raises(InvalidRaceIdError, match="12 ASCII digits"):
        NetkeibaRaceId.parse("2018060508")


def test_venue_names() -> None:
    assert Venue.from_japanese("東京") is Venue.TOKYO
    assert Venue.KOKURA.japanese == "小倉"
    assert Venue.SAPPORO.code == "01"
    with pytest.raises(ValueError, match="unknown JRA racecourse"):
        Venue.from_japanese("大井")


@given(
    date=st.dates(dt.date(1990, 1, 1), dt.date(2099, 12, 31)),
    venue=st.sampled_from(list(Venue)),
    meeting=st.integers(1, 12),
    day=st.integers(1, 15),
    race=st.integers(1, 12),
)
def test_round_trip_of_every_valid_key(
    date: dt.date, venue: Venue, meeting: int, day: int, race: int
) -> None:
    key = RaceKey(date, venue, meeting, day, race)
    assert RaceKey.parse(str(key)) == key
    assert NetkeibaRaceId.parse(str(key.to_netkeiba())).to_race_key(date) == key
