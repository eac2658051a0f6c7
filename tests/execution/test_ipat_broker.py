"""The IPAT web broker against the IPAT twin, in headless Chromium.

A purchase end to end gets its receipt; every fault gets the answer it deserves: refused with
the reason when nothing can have been bought, `PurchaseUnknown` when the purchase was sent and
no clear answer came back (then the purchase history, not the broker, says what happened).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from structlog.testing import capture_logs

from keiba.common.clock import JST
from keiba.common.errors import ConfigError
from keiba.execution import BrokerError, PurchaseUnknown
from keiba.execution.ipat import IpatBroker

from .ipat_support import DAY, KYOTO_11, MORNING, TOKYO_1, TOKYO_11, Secrets, Venue, ticket

SHORT = pytest.mark.parametrize("venue", [{"timeout_s": 2.0}], indirect=True)


def _bought(venue: Venue) -> list[tuple[str, int, str, int]]:
    return [
        (p.race.race_id, p.serial, p.line.selection, p.line.stake) for p in venue.twin.purchases
    ]


def _asked(venue: Venue, request: str) -> int:
    return venue.twin.requests.count(request)


def test_a_purchase_end_to_end_gets_its_receipt(venue: Venue) -> None:
    tickets = [ticket(TOKYO_11, "win", "3", 300), ticket(TOKYO_11, "trifecta", "7>3>1", 200)]
    answers = venue.broker.submit(tickets)
    assert [(a.ticket_id, a.accepted, a.receipt) for a in answers] == [
        (tickets[0].ticket_id, True, "20181125-0001-1"),
        (tickets[1].ticket_id, True, "20181125-0001-2"),
    ]
    assert _bought(venue) == [(TOKYO_11, 1, "03", 300), (TOKYO_11, 2, "07→03→01", 200)]
    assert venue.twin.deposit_yen == 9_500
    assert venue.broker.venue_has(tickets, DAY) == {
        tickets[0].ticket_id: "20181125-0001-1",
        tickets[1].ticket_id: "20181125-0001-2",
    }
    assert venue.broker.spent_yen(DAY) == 500


def test_each_race_is_bought_on_its_own_page(venue: Venue) -> None:
    tickets = [
        ticket(TOKYO_1, "quinella", "2-9", 100),
        ticket(KYOTO_11, "exacta", "5>1", 400),
        ticket(TOKYO_1, "quinella_place", "1-18", 100),
    ]
    answers = venue.broker.submit(tickets)
    assert [a.receipt for a in answers] == ["20181125-0001-1", "20181125-0002-1", "20181125-0001-2"]
    races = {p.receipt_no: p.race.race_id for p in venue.twin.purchases}
    assert races == {"0001": TOKYO_1, "0002": KYOTO_11}
    assert venue.secrets.asked == 1  # one login serves both races


def test_an_expired_session_is_noticed_and_logged_into_again(venue: Venue) -> None:
    venue.broker.submit([ticket(TOKYO_11, "win", "1", 100)])
    venue.clock.advance(dt.timedelta(minutes=30))
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "2", 100)])
    assert answers[0].accepted
    assert venue.secrets.asked == 2


@SHORT
def test_a_timeout_before_acceptance_is_unknown_and_the_history_says_absent(venue: Venue) -> None:
    venue.faults.timeout("/cart/buy")
    tickets = [ticket(TOKYO_11, "win", "3", 300)]
    with pytest.raises(PurchaseUnknown) as raised:
        venue.broker.submit(tickets)
    assert raised.value.unknown == (tickets[0].ticket_id,)
    assert _bought(venue) == []
    assert venue.broker.venue_has(tickets, DAY) == {tickets[0].ticket_id: None}


@SHORT
def test_a_timeout_after_acceptance_is_unknown_and_the_history_finds_it(venue: Venue) -> None:
    venue.faults.timeout("/cart/buy", after_record=True)
    tickets = [ticket(TOKYO_11, "win", "3", 300), ticket(TOKYO_11, "place", "3", 100)]
    with pytest.raises(PurchaseUnknown) as raised:
        venue.broker.submit(tickets)
    assert raised.value.unknown == tuple(t.ticket_id for t in tickets)
    assert len(venue.twin.purchases) == 2
    assert venue.broker.venue_has(tickets, DAY) == {
        tickets[0].ticket_id: "20181125-0001-1",
        tickets[1].ticket_id: "20181125-0001-2",
    }
    assert _asked(venue, "POST /cart/buy") == 1  # never sent again


def test_an_unknown_purchase_keeps_what_was_known_and_sends_nothing_more(venue: Venue) -> None:
    first, second, third = (
        ticket(TOKYO_1, "win", "1", 100),
        ticket(TOKYO_11, "win", "2", 100),
        ticket(KYOTO_11, "win", "3", 100),
    )
    venue.faults.close_race(TOKYO_1)
    venue.faults.server_error("/cart/buy", 502, after_record=True)
    with pytest.raises(PurchaseUnknown) as raised:
        venue.broker.submit([first, second, third])
    assert [(a.ticket_id, a.accepted) for a in raised.value.answers] == [(first.ticket_id, False)]
    assert raised.value.unknown == (second.ticket_id,)
    assert raised.value.not_sent == (third.ticket_id,)
    assert _bought(venue) == [(TOKYO_11, 1, "02", 100)]
    assert _asked(venue, "POST /cart/buy") == 1


def test_a_5xx_after_the_purchase_is_sent_is_unknown(venue: Venue) -> None:
    venue.faults.server_error("/cart/buy", 503)
    with pytest.raises(PurchaseUnknown):
        venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert _bought(venue) == []  # the venue had not taken it; only the history can say so


def test_a_5xx_before_anything_is_sent_is_a_refusal(venue: Venue) -> None:
    venue.faults.server_error("/login/inetid", 503)
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert not answers[0].accepted
    assert "503" in answers[0].reason
    assert _asked(venue, "POST /cart/buy") == 0


def test_a_session_that_dies_mid_list_is_refused_and_nothing_is_left(venue: Venue) -> None:
    venue.faults.expire_session_after(1)
    tickets = [ticket(TOKYO_11, "win", "3", 300), ticket(TOKYO_11, "win", "4", 300)]
    answers = venue.broker.submit(tickets)
    assert [a.accepted for a in answers] == [False, False]
    assert "session ended" in answers[0].reason
    assert _bought(venue) == [] and venue.twin.deposit_yen == 10_000
    venue.faults.clear()
    assert [a.accepted for a in venue.broker.submit(tickets)] == [True, True]
    assert len(venue.twin.purchases) == 2


def test_a_failure_after_filling_the_list_clears_it_for_the_next_race(venue: Venue) -> None:
    venue.faults.server_error("/cart", 500)
    refused = venue.broker.submit([ticket(TOKYO_1, "win", "1", 100)])
    assert not refused[0].accepted and "500" in refused[0].reason
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "2", 200)])
    assert answers[0].accepted
    assert _bought(venue) == [(TOKYO_11, 1, "02", 200)]


def test_slow_pages_still_buy(venue: Venue) -> None:
    for path in ("/menu", "/vote", "/cart/buy"):
        venue.faults.slow(1.0, path)
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert answers[0].accepted


@pytest.mark.parametrize(
    "venue", [{"at": dt.datetime(2018, 11, 25, 15, 38, tzinfo=JST)}], indirect=True
)
def test_a_closed_race_is_refused_without_clicking_it(venue: Venue) -> None:
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert not answers[0].accepted and "sales closed" in answers[0].reason
    assert _asked(venue, "GET /vote/race") == 0


def test_a_race_closing_before_the_purchase_is_the_venues_refusal(venue: Venue) -> None:
    venue.faults.close_race(TOKYO_11, on_request_to="/cart/buy")
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert not answers[0].accepted
    assert answers[0].reason.startswith("sales closed: 発売を締め切った")
    assert _bought(venue) == []


@pytest.mark.parametrize("venue", [{"deposit": 500}], indirect=True)
def test_an_insufficient_deposit_is_refused_before_sending(venue: Venue) -> None:
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 1_000)])
    assert not answers[0].accepted and "insufficient deposit" in answers[0].reason
    assert _asked(venue, "POST /cart/buy") == 0


def test_a_history_page_that_is_down_is_an_error_not_an_empty_history(venue: Venue) -> None:
    tickets = [ticket(TOKYO_11, "win", "3", 300)]
    venue.broker.submit(tickets)
    venue.faults.history_down()
    with pytest.raises(BrokerError, match="HTTP 503"):
        venue.broker.history(DAY)
    with pytest.raises(BrokerError):
        venue.broker.venue_has(tickets, DAY)


def test_a_double_click_buys_once(venue: Venue) -> None:
    venue.faults.double_submit()
    tickets = [ticket(TOKYO_11, "win", "3", 300), ticket(TOKYO_11, "win", "5", 100)]
    answers = venue.broker.submit(tickets)
    assert [a.receipt for a in answers] == ["20181125-0001-1", "20181125-0001-2"]
    assert _asked(venue, "POST /cart/buy") == 2
    assert len(venue.twin.purchases) == 2 and venue.twin.deposit_yen == 9_600


def test_maintenance_is_a_refusal(venue: Venue) -> None:
    venue.faults.maintenance(start=MORNING)
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert not answers[0].accepted and "maintenance" in answers[0].reason


def test_a_race_page_that_is_not_the_tickets_race_is_refused(venue: Venue) -> None:
    venue.faults.misroute(TOKYO_11, TOKYO_1)
    answers = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    assert not answers[0].accepted and "race mismatch" in answers[0].reason
    assert _asked(venue, "POST /cart/add") == 0


@pytest.mark.parametrize("venue", [{"cap": 500}], indirect=True)
def test_the_day_cap_refuses_a_race_that_would_pass_it(venue: Venue) -> None:
    first = venue.broker.submit([ticket(TOKYO_1, "win", "1", 400)])
    second = venue.broker.submit([ticket(TOKYO_11, "win", "2", 200)])
    assert first[0].accepted
    assert not second[0].accepted and "cap" in second[0].reason
    for history_down in (False, True):  # after a restart the day's history counts
        venue.faults.history_down(history_down)
        restarted = IpatBroker(
            venue.broker.url, venue.secrets, venue.clock, day_cap_yen=500, browser=venue.browser
        )
        try:
            again = restarted.submit([ticket(TOKYO_11, "win", "2", 200)])
        finally:
            restarted.close()
        assert not again[0].accepted
        expected = "cannot check the day's cap" if history_down else "400 + 200 yen > 500"
        assert expected in again[0].reason
    assert len(venue.twin.purchases) == 1


def test_buying_anywhere_but_loopback_needs_the_live_switch_and_a_cap() -> None:
    clock: Any = None
    with pytest.raises(ConfigError, match="live"):
        IpatBroker("https://ipat.example", Secrets(), clock)
    with pytest.raises(ConfigError, match="day cap"):
        IpatBroker("https://ipat.example", Secrets(), clock, live=True)
    IpatBroker("https://ipat.example", Secrets(), clock, live=True, day_cap_yen=10_000)


def _texts(error: BaseException | None) -> list[str]:
    out = []
    while error is not None:
        out += [str(error), repr(error)]
        error = error.__cause__ or error.__context__
    return out


@pytest.mark.parametrize("venue", [{"timeout_s": 2.0, "pin": "4096"}], indirect=True)
def test_the_credentials_never_show(
    venue: Venue, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    seen = [repr(venue.broker), repr(venue.secrets.ipat_credentials())]
    with capture_logs() as events:
        wrong = venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])  # the twin wants 5821
        assert "cannot log in" in wrong[0].reason
        seen.append(wrong[0].reason)
        venue.secrets.pin = "5821"
        venue.faults.timeout("/login/member")
        seen.append(venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])[0].reason)
        venue.faults.timeout("/cart/buy", after_record=True)
        with pytest.raises(PurchaseUnknown) as raised:
            venue.broker.submit([ticket(TOKYO_11, "win", "3", 300)])
    seen += _texts(raised.value)
    assert "ipat_login" in [e["event"] for e in events]  # the log was captured
    captured = capsys.readouterr()
    text = "\n".join([*seen, *map(repr, events), captured.out, captured.err, caplog.text])
    for secret in ("ZQ7XK2M9", "73918264", "5821", "4096", "9037"):
        assert not re.search(rf"(?<![0-9A-Za-z]){secret}(?![0-9A-Za-z])", text), secret
