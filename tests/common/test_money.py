import pytest
from hypothesis import given
from hypothesis import strategies as st

from keiba.common.errors import InvalidAmountError
from keiba.common.money import round_down_to_unit, yen


def test_yen_accepts_whole_numbers() -> None:
    assert yen(1500) == 1500
    assert yen(-100, allow_negative=True) == -100


@pytest.mark.parametrize("bad", [1.0, 100.5, "100", True, None])
def test_yen_refuses_anything_but_int(bad: object) -> None:
    with pytest.raises(InvalidAmountError, match="whole number of yen"):
        yen(bad, what="stake")


def test_negative_amount_is_refused_with_its_name() -> None:
    with pytest.raises(InvalidAmountError, match="deposit must not be negative"):
        yen(-1, what="deposit")


@given(st.integers(-(10**12), 10**12), st.sampled_from([100, 1000]))
def test_round_down_never_exceeds_and_is_a_unit_multiple(amount: int, unit: int) -> None:
    rounded = round_down_to_unit(amount, unit)
    assert rounded % unit == 0
    assert 0 <= rounded <= max(amount, 0)
    assert max(amount, 0) - rounded < unit
