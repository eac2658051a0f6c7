from fractions import Fraction

import pytest

from keiba.common.bet_types import BetType, format_combination, parse_combination


def test_takeouts_match_jra_rates() -> None:
    assert BetType.WIN.takeout == Fraction(1, 5)
    assert BetType.PLACE.payout_rate == Fraction(4, 5)
    assert BetType.QUINELLA.takeout == Fraction(225, 1000)
    assert BetType.QUINELLA_PLACE.takeout == Fraction(225, 1000)
    assert BetType.BRACKET_QUINELLA.takeout == Fraction(225, 1000)
    assert BetType.EXACTA.takeout == Fraction(1, 4)
    assert BetType.TRIO.takeout == Fraction(1, 4)
    assert BetType.TRIFECTA.takeout == Fraction(275, 1000)


def test_japanese_names_round_trip() -> None:
    assert {b.japanese for b in BetType} == {
        "単勝",
        "複勝",
        "枠連",
        "馬連",
        "ワイド",
        "馬単",
        "三連複",
        "三連単",
    }
    for bet in BetType:
        assert BetType.from_japanese(bet.japanese) is bet
    with pytest.raises(ValueError, match="unknown bet type"):
        BetType.from_japanese("WIN5")


def test_canonical_combinations() -> None:
    assert format_combination(BetType.QUINELLA, [7, 3]) == "3-7"
    assert format_combination(BetType.TRIFECTA, [7, 3, 1]) == "7>3>1"
    assert format_combination(BetType.TRIO, [9, 1, 4]) == "1-4-9"
    assert format_combination(BetType.BRACKET_QUINELLA, [3, 3]) == "3-3"
    assert parse_combination(BetType.EXACTA, "7>3") == (7, 3)


@pytest.mark.parametrize(
    ("bet", "text"),
    [
        (BetType.QUINELLA, "7-3"),
        (BetType.QUINELLA, "3-3"),
        (BetType.EXACTA, "3-7"),
        (BetType.TRIFECTA, "1>2"),
        (BetType.WIN, "19"),
        (BetType.BRACKET_QUINELLA, "1-9"),
        (BetType.WIN, "x"),
    ],
)
def test_non_canonical_combinations_are_rejected(bet: BetType, text: str) -> None:
    with pytest.raises(ValueError, match=bet.value):
        parse_combination(bet, text)
