"""Ticket ids name the channel that bought a ticket and its place in its intent's chain."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keiba.execution import PaperBroker
from keiba.execution.channels import PRIMARY, Attempt, Channel, channel_of
from keiba.execution.rebuy import missed_id

ROOTS = st.from_regex(
    r"[0-9]{16}-[a-z]{1,8}-[a-z]{3,8}-[0-9]{1,2}(-[0-9]{1,2}){0,2}", fullmatch=True
)
NAMES = st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True) | st.just(PRIMARY)


@given(root=ROOTS, number=st.integers(0, 9), channel=NAMES)
def test_an_attempts_id_reads_back(root: str, number: int, channel: str) -> None:
    attempt = Attempt(root, number, channel)
    assert Attempt.of(attempt.ticket_id) == attempt
    assert channel_of(attempt.ticket_id) == channel
    assert attempt.next("alt") == Attempt(root, number + 1, "alt")
    assert len(missed_id(attempt.ticket_id)) <= 64


def test_the_first_attempt_through_the_primary_is_the_decisions_ticket() -> None:
    assert Attempt("2018112505050811-themis-win-7", 0, PRIMARY).ticket_id == (
        "2018112505050811-themis-win-7"
    )
    assert Attempt.of("adopt-20181125-0001-1-t@alt") == Attempt("adopt-20181125-0001-1-t", 0, "alt")


@pytest.mark.parametrize("name", ["ALT", "a-b", "toolongname", " "])
def test_a_channel_name_is_short_lowercase_letters_and_digits(name: str) -> None:
    with pytest.raises(ValueError, match="channel"):
        Channel(name, PaperBroker())
