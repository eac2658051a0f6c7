import pytest

from keiba.common.bet_types import BetType
from keiba.common.money import Yen
from keiba.market.settlement import settle_ticket

PAYOUTS = {("win", "3"): 450, ("win", "5"): 380, ("quinella", "3-5"): 1230, ("place", "3"): 150}
STATUSES = {1: "finished", 2: "scratched", 3: "finished", 5: "finished", 6: "did_not_finish"}


def test_winning_ticket_returns_stake_times_payout() -> None:
    assert settle_ticket(BetType.WIN, "3", Yen(1200), PAYOUTS, STATUSES).paid == 5400


def test_dead_heat_pays_each_winner_its_own_payout() -> None:
    assert settle_ticket(BetType.WIN, "5", Yen(100), PAYOUTS, STATUSES).paid == 380


def test_losing_ticket_returns_nothing() -> None:
    outcome = settle_ticket(BetType.WIN, "6", Yen(500), PAYOUTS, STATUSES)
    assert (outcome.paid, outcome.label) == (0, "lost")


def test_scratched_runner_is_refunded() -> None:
    outcome = settle_ticket(BetType.QUINELLA, "2-3", Yen(300), PAYOUTS, STATUSES)
    assert (outcome.paid, outcome.label) == (300, "refund")


def test_bracket_refunded_only_when_a_frame_is_empty() -> None:
    frames = {1: 1, 2: 1, 3: 2, 5: 3}
    statuses = {1: "finished", 2: "scratched", 3: "finished", 5: "finished"}
    payouts = {("bracket_quinella", "1-2"): 800}
    assert (
        settle_ticket(BetType.BRACKET_QUINELLA, "1-2", Yen(100), payouts, statuses, frames).paid
        == 800
    )
    statuses[1] = "excluded"
    assert settle_ticket(
        BetType.BRACKET_QUINELLA, "1-2", Yen(100), payouts, statuses, frames
    ).refund
    with pytest.raises(ValueError, match="frames"):
        settle_ticket(BetType.BRACKET_QUINELLA, "1-2", Yen(100), payouts, statuses)


def test_stake_must_be_a_unit_multiple() -> None:
    with pytest.raises(ValueError, match="multiple of 100"):
        settle_ticket(BetType.WIN, "3", Yen(150), PAYOUTS, STATUSES)
