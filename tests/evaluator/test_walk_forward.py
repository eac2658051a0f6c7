"""The walk-forward schedule: one window per month, trained only on the days before it."""

from __future__ import annotations

import datetime as dt

import pytest

from keiba.common.errors import KeibaError
from keiba.evaluator.walk_forward import plan_windows

# JRA-like weekends of 2018: Saturdays and Sundays
DAYS = [dt.date(2018, 1, 6) + dt.timedelta(days=7 * w + d) for w in range(40) for d in (0, 1)]


def test_one_window_per_month_and_nothing_from_the_test_month_or_later() -> None:
    windows = plan_windows(
        DAYS, dt.date(2018, 3, 1), dt.date(2018, 6, 30), min_history_days=16, combine_share=0.25
    )
    assert [(w.test_from.month, w.test_to.month) for w in windows] == [(m, m) for m in (3, 4, 5, 6)]
    for w in windows:
        assert w.train_from == DAYS[0]
        assert w.train_from <= w.valid_from <= w.train_to < w.combine_from <= w.combine_to
        assert w.combine_to < w.test_from
        history = [d for d in DAYS if d < w.test_from]
        assert w.combine_to == history[-1]  # the model sees every day up to the month
        combine_days = [d for d in history if d >= w.combine_from]
        assert len(combine_days) == max(2, round(len(history) * 0.25))


def test_the_period_bounds_cut_the_first_and_last_month() -> None:
    windows = plan_windows(
        DAYS, dt.date(2018, 3, 10), dt.date(2018, 4, 8), min_history_days=16, combine_share=0.25
    )
    assert windows[0].test_from == dt.date(2018, 3, 10)
    assert windows[-1].test_to == dt.date(2018, 4, 8)


def test_too_little_history_is_refused_with_the_month() -> None:
    with pytest.raises(KeibaError, match=r"2018-02 has 8 race days before it"):
        plan_windows(
            DAYS,
            dt.date(2018, 2, 1),
            dt.date(2018, 3, 31),
            min_history_days=16,
            combine_share=0.25,
        )


def test_empty_and_reversed_periods_are_refused() -> None:
    with pytest.raises(KeibaError, match="no race days"):
        plan_windows(
            DAYS, dt.date(2019, 3, 1), dt.date(2019, 3, 31), min_history_days=2, combine_share=0.25
        )
    with pytest.raises(KeibaError, match="before --from"):
        plan_windows(
            DAYS, dt.date(2018, 5, 1), dt.date(2018, 3, 1), min_history_days=2, combine_share=0.25
        )
