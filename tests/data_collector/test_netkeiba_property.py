"""Mutated and truncated pages and JSON: the only failure is the typed parse error, and an
ingest of a damaged page writes a race whole or not at all."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netkeiba_fixtures import fixture

from keiba.common.clock import FixedClock
from keiba.common.ids import NetkeibaRaceId
from keiba.common.storage import DuckDBWarehouse
from keiba.data_collector.netkeiba_cards import parse_card, parse_race_list
from keiba.data_collector.netkeiba_ingest import ingest_pages
from keiba.data_collector.netkeiba_odds import parse_odds_api, parse_odds_page
from keiba.data_collector.netkeiba_pages import NetkeibaParseError
from keiba.data_collector.netkeiba_results import parse_db_result, parse_race_result
from keiba.data_collector.raw_pages import PageKind, RawPage

Parser = Callable[[bytes], object]
PARSERS: dict[str, Parser] = {
    "db_result_202306010101.html": lambda b: parse_db_result(b, "p"),
    "db_result_201005030211_dead_heat.html": lambda b: parse_db_result(b, "p"),
    "race_result_202602010607.html": lambda b: parse_race_result(b, "p"),
    "race_shutuba_202001010102.html": lambda b: parse_card(b, "p"),
    "race_list_20260628.html": lambda b: parse_race_list(b, "p", dt.date(2026, 6, 28)),
    "race_odds_win_place_20260222_kokura11.html": lambda b: parse_odds_page(b, "p"),
    "odds_api_final_202603020211.json": lambda b: parse_odds_api(
        b, "p", NetkeibaRaceId.parse("202603020211"), dt.date(2026, 6, 28)
    ),
    "odds_api_forecast_202602011011.json": lambda b: parse_odds_api(
        b, "p", NetkeibaRaceId.parse("202602011011"), dt.date(2026, 7, 12)
    ),
}
DATA = {name: fixture(name) for name in PARSERS}
_INTERESTING = [b"<", b">", b"</td>", b"<tr>", b"1", b"0", b"-", b"\xa4", b'"', b",", b"]", b"}"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """Cut, delete, overwrite or insert somewhere in the part that holds the data."""
    size = len(data)
    kind = draw(st.sampled_from(["truncate", "delete", "overwrite", "insert", "digits"]))
    at = draw(st.integers(0, size - 1))
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 400)) :]
    if kind == "digits":  # change every digit in a window: numbers that parse but are wrong
        window = data[at : at + 300]
        digit = draw(st.sampled_from(b"0123456789"))
        return data[:at] + bytes(digit if 48 <= c <= 57 else c for c in window) + data[at + 300 :]
    blob = draw(st.one_of(st.binary(min_size=1, max_size=12), st.sampled_from(_INTERESTING)))
    return data[:at] + blob + data[at + (len(blob) if kind == "overwrite" else 0) :]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_parsers_fail_only_with_the_typed_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(PARSERS)))
    page = data.draw(mutated(DATA[name]))
    error: NetkeibaParseError | None = None
    try:
        PARSERS[name](page)
    except NetkeibaParseError as e:
        error = e
    assert error is None or (error.locator.startswith("p") and error.reason)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_damaged_result_is_loaded_whole_or_quarantined(data: st.DataObject) -> None:
    page = data.draw(mutated(fixture("race_result_202602010607.html")))
    raw = RawPage(
        url="http://x/race/result.html?race_id=202602010607",
        kind=PageKind.RESULT,
        content_key="raw-data/netkeiba/ab/abc.html",
        fetched_at=dt.datetime(2026, 6, 28, 9, tzinfo=dt.UTC),
        race_id="202602010607",
        race_date=dt.date(2026, 6, 28),
    )
    clock = FixedClock(dt.datetime(2026, 6, 29, tzinfo=dt.UTC))
    with DuckDBWarehouse(None) as warehouse:
        report = ingest_pages(warehouse, [raw], lambda p: page, clock)
        races = warehouse.query("SELECT field_size FROM races")
        runners = warehouse.query("SELECT count(*) AS n FROM runners")["n"][0]
        payouts = warehouse.query("SELECT count(*) AS n FROM payouts")["n"][0]
        quarantined = warehouse.query("SELECT count(*) AS n FROM quarantine")["n"][0]
    if races.height:
        assert runners == races["field_size"][0] and payouts > 0 and quarantined == 0
    else:
        assert runners == payouts == 0 and quarantined == report.quarantined == 1
