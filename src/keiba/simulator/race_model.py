"""The race itself: runners' strengths, true win probabilities and the finishing order.

A starter's strength is the sum of its current ability (talent and age), sex, its fit to the
surface, distance and going, its jockey and trainer, the draw bias of the course, the weight
it carries, freshness, body-weight swings and a daily form term nobody observes. True win
probabilities are the softmax of `scale · strength` over the starters.

The finishing order is drawn from a discounted-Harville (Plackett–Luce with powers) model:
the winner with probability p, 2nd among the rest in proportion to p**gamma, 3rd and later
in proportion to p**delta. So p is *exactly* each starter's chance to finish first. Races
are processed together as rows of a matrix padded to 18 columns with -inf log-probabilities.

Incidents keep that exactness: non-finishers (中止, 失格) are drawn among starters that would
have finished 4th or worse, demotions (降着) only swap two finishers from 4th place down, and
dead heats tie adjacent finishers after the order is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keiba.simulator.courses import JUMP, TURF
from keiba.simulator.population import BoolArray, FloatArray, IntArray

__all__ = [
    "FINISHED",
    "STATUS_NAMES",
    "RaceOutcome",
    "StrengthInputs",
    "finishing_orders",
    "mean_strengths",
    "resolve_outcome",
    "strengths",
    "win_probabilities",
]

FINISHED, SCRATCHED, EXCLUDED, DID_NOT_FINISH, DISQUALIFIED = 0, 1, 2, 3, 4
STATUS_NAMES = ("finished", "scratched", "excluded", "did_not_finish", "disqualified")


@dataclass(frozen=True)
class StrengthInputs:
    """Everything that makes one runner fast or slow today (arrays over runners)."""

    ability: FloatArray
    jump_ability: FloatArray
    female: BoolArray
    pref_turf: FloatArray
    pref_distance: FloatArray
    distance_width: FloatArray
    mud: FloatArray
    jockey_skill: FloatArray
    trainer_skill: FloatArray
    surface: IntArray
    distance: IntArray
    going: IntArray
    draw_fraction: FloatArray
    draw_slope: FloatArray
    weight_kg: FloatArray
    days_since_run: IntArray
    body_weight_change: IntArray


def strengths(inputs: StrengthInputs, form_noise: float, rng: np.random.Generator) -> FloatArray:
    """Today's strengths: the mean strengths plus the day's form, N(0, form_noise²)."""
    return mean_strengths(inputs) + rng.normal(0.0, form_noise, inputs.ability.size)


def mean_strengths(inputs: StrengthInputs) -> FloatArray:
    """Strengths without the day's form: all that could be known before the race."""
    x = inputs
    jump = x.surface == JUMP
    sign = np.where(x.surface == TURF, 1.0, -1.0)
    fit_surface = np.where(jump, 0.0, 0.9 * (x.pref_turf - 0.5) * sign)
    gap = np.log(x.distance / x.pref_distance) / x.distance_width
    fit_distance = np.where(jump, 0.0, np.maximum(-0.5 * gap**2, -2.5))
    fresh = np.select(
        [
            x.days_since_run < 0,
            x.days_since_run > 180,
            x.days_since_run > 90,
            x.days_since_run < 14,
        ],
        [0.0, -0.25, -0.12, -0.06],
        0.0,
    )
    swing = -0.015 * np.maximum(np.abs(x.body_weight_change) - 6, 0)
    total = (
        np.where(jump, x.jump_ability, x.ability)
        - np.where(x.female & ~jump, 0.2, 0.0)
        + fit_surface
        + fit_distance
        + 0.12 * x.mud * x.going
        + x.jockey_skill
        + x.trainer_skill
        + x.draw_slope * (x.draw_fraction - 0.5)
        - 0.045 * (x.weight_kg - 55.0)
        + fresh
        + swing
    )
    return np.asarray(total, dtype=np.float64)


def win_probabilities(strength: FloatArray, starts: BoolArray, scale: float) -> FloatArray:
    """Softmax of `scale · strength` per row over the starters (others get 0)."""
    logits = np.where(starts, scale * strength, -np.inf)
    logits = logits - logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return np.asarray(weights / weights.sum(axis=1, keepdims=True), dtype=np.float64)


def finishing_orders(
    p: FloatArray, gamma: float, delta: float, rng: np.random.Generator
) -> IntArray:
    """Column indices of each row's runners in finishing order (non-starters, p = 0, last)."""
    with np.errstate(divide="ignore"):
        log_p = np.log(p)
    rows = np.arange(p.shape[0])
    first = np.argmax(log_p + rng.gumbel(size=p.shape), axis=1)
    second_key = gamma * log_p + rng.gumbel(size=p.shape)
    second_key[rows, first] = -np.inf
    second = np.argmax(second_key, axis=1)
    rest_key = delta * log_p + rng.gumbel(size=p.shape)
    rest_key[rows, first] = -np.inf
    rest_key[rows, second] = -np.inf
    rest = np.argsort(-rest_key, axis=1, kind="stable")[:, : p.shape[1] - 2]
    return np.column_stack([first, second, rest]).astype(np.int64)


@dataclass(frozen=True)
class RaceOutcome:
    """One race's result, per declared runner (arrays in horse-number order)."""

    status: IntArray
    finish_pos: IntArray
    """Official position, 0 when none; tied runners share it and the next is skipped."""
    run_order: IntArray
    """Crossing order 1..k among finishers (ties in drawn order), then non-finishers; 0 for
    runners that did not start."""
    tied_with_previous: BoolArray
    demoted: BoolArray


def resolve_outcome(
    order: IntArray,
    starters: int,
    status: IntArray,
    dnf_rate: float,
    dq_rate: float,
    tie_rate: float,
    demotion_rate: float,
    rng: np.random.Generator,
) -> RaceOutcome:
    """Turn a drawn order of starter positions (indices into `status`) into the result."""
    status = status.copy()
    crossing = [int(i) for i in order[:starters]]
    if starters > 4:
        rate_boost = starters / (starters - 3)
        for i in crossing[3:]:
            u = rng.random()
            if u < dnf_rate * rate_boost:
                status[i] = DID_NOT_FINISH
            elif u < (dnf_rate + dq_rate) * rate_boost:
                status[i] = DISQUALIFIED
    finishers = [i for i in crossing if status[i] == FINISHED]
    others = [i for i in crossing if status[i] != FINISHED]
    demoted = np.zeros(status.size, dtype=bool)
    k = len(finishers)
    if k >= 6 and rng.random() < demotion_rate:
        j = int(rng.integers(3, k - 1))  # 0-based: 4th crosser or later, not the last
        finishers[j], finishers[j + 1] = finishers[j + 1], finishers[j]
        demoted[finishers[j + 1]] = True
    tied = np.zeros(status.size, dtype=bool)
    finish_pos = np.zeros(status.size, dtype=np.int64)
    run_order = np.zeros(status.size, dtype=np.int64)
    ties = rng.random(k) < tie_rate
    position = 0
    for rank, i in enumerate(finishers):
        neighbour_demoted = demoted[i] or (rank > 0 and demoted[finishers[rank - 1]])
        if rank > 0 and ties[rank] and not neighbour_demoted:
            tied[i] = True
        else:
            position = rank + 1
        finish_pos[i] = position
        run_order[i] = rank + 1
    for extra, i in enumerate(others):
        run_order[i] = k + 1 + extra
    _list_ties_by_number(finishers, run_order, tied)
    return RaceOutcome(status, finish_pos, run_order, tied, demoted)


def _list_ties_by_number(finishers: list[int], run_order: IntArray, tied: BoolArray) -> None:
    """Within a dead heat the runners are listed by horse number; all but the first are 同着."""
    start = 0
    while start < len(finishers):
        end = start + 1
        while end < len(finishers) and tied[finishers[end]]:
            end += 1
        if end - start > 1:
            group = finishers[start:end]
            slots = sorted(int(run_order[i]) for i in group)
            for rank, i in enumerate(sorted(group)):
                run_order[i] = slots[rank]
                tied[i] = rank > 0
        start = end
