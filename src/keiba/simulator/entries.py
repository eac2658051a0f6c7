"""Entries: which ready horses run in which race, who rides them and what they carry.

Trainers enter a horse where it fits: its class and age, its preferred surface and distance,
its home region (美浦 horses mostly run in the east, 栗東 horses in the west), and how long
it has been waiting for a race; the best horses are drawn to graded races. Horse numbers are
drawn by lot and frames follow JRA's rule. Jockeys are spread over the day's venues (mostly
in their own region, the best at the main venue); a horse keeps its last jockey when it can,
and better jockeys tend to get better horses. Weight carried follows the age/sex scale of the
race's condition, with allowances for 3-year-olds against their elders, extra weight for
stakes winners, handicaps from 49 to 59 kg and apprentice allowances in ordinary races.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from keiba.common.ids import Venue
from keiba.simulator.calendar import RaceDay
from keiba.simulator.courses import DIRT, JUMP, courses_at
from keiba.simulator.population import (
    EAST,
    WEST,
    BoolArray,
    FloatArray,
    Horses,
    IntArray,
    Jockeys,
)
from keiba.simulator.program import CATEGORIES, Category, Eligibility, RaceSpec

__all__ = ["Field", "assign_jockeys", "enter_horses", "frame_numbers", "weights_carried"]

_MIN_FIELD = 5
_REGION = {
    Venue.TOKYO: EAST,
    Venue.NAKAYAMA: EAST,
    Venue.FUKUSHIMA: EAST,
    Venue.NIIGATA: EAST,
    Venue.KYOTO: WEST,
    Venue.HANSHIN: WEST,
    Venue.CHUKYO: WEST,
    Venue.KOKURA: WEST,
}
_QUALITY_PULL = {"G1": 1.6, "G2": 0.9, "G3": 0.9, "L": 0.5, "OP": 0.4}


def _frame_table() -> tuple[tuple[int, ...], ...]:
    table: list[tuple[int, ...]] = [()]
    for n in range(1, 19):
        if n <= 8:
            table.append(tuple(range(1, n + 1)))
            continue
        base, extra = divmod(n, 8)
        frames: list[int] = []
        for frame in range(1, 9):
            frames += [frame] * (base + (1 if frame > 8 - extra else 0))
        table.append(tuple(frames))
    return tuple(table)


_FRAMES = _frame_table()


def frame_numbers(field_size: int) -> tuple[int, ...]:
    """枠番 of horse numbers 1..n: each horse its own frame up to 8 runners; beyond that
    eight frames, the outer ones taking the extra horses (16 runners: two per frame)."""
    return _FRAMES[field_size]


@dataclass(frozen=True)
class Field:
    """A race's declared runners in horse-number order, with their current ratings."""

    spec: RaceSpec
    horses: IntArray
    rating: FloatArray


@dataclass(frozen=True)
class ReadyHorses:
    """The horses ready to run on a date, with what trainers weigh when entering them."""

    index: IntArray
    rating: FloatArray
    turf_liking: FloatArray
    log_distance: FloatArray
    inverse_width: FloatArray
    region: IntArray
    waiting_bonus: FloatArray

    @classmethod
    def on(cls, horses: Horses, index: IntArray, day: int) -> ReadyHorses:
        return cls(
            index=index,
            rating=horses.rating(index, day),
            turf_liking=2.5 * (horses.pref_turf[index] - 0.5),
            log_distance=np.log(horses.pref_distance[index]),
            inverse_width=1.0 / horses.distance_width[index],
            region=horses.region[index],
            waiting_bonus=np.clip((day - horses.ready_day[index]) / 7.0 * 0.12, 0.0, 2.0),
        )


def _suitability(
    spec: RaceSpec, ready: ReadyHorses, at: IntArray, rng: np.random.Generator
) -> FloatArray:
    course = spec.course
    score = 0.8 * rng.standard_normal(at.size) + ready.waiting_bonus[at]
    if not spec.category.jump:
        liking = ready.turf_liking[at]
        score += liking if course.surface == 0 else -liking
        gap = (np.log(course.distance_m) - ready.log_distance[at]) * ready.inverse_width[at]
        score -= 0.5 * gap * gap
    region = _REGION.get(course.venue)
    score -= 0.3 if region is None else 0.7 * (ready.region[at] != region)
    pull = _QUALITY_PULL.get(spec.grade or "")
    if pull is not None and at.size > 1:
        rating = ready.rating[at]
        score += pull * (rating - rating.mean()) / max(float(rating.std()), 1e-6)
    return score


def enter_horses(
    specs: list[RaceSpec],
    ready: ReadyHorses,
    eligibility: Eligibility,
    rng: np.random.Generator,
) -> list[Field]:
    """Fill the day's races, most important first; a race that cannot find five horses
    switches to the category with the most ready horses left, or is dropped."""
    taken = np.zeros(ready.index.size, dtype=bool)
    masks: dict[tuple[int, bool, bool], BoolArray] = {}

    def mask(category: Category, graded: bool, fillies: bool) -> BoolArray:
        key = (category.code, graded, fillies)
        if key not in masks:
            masks[key] = eligibility.mask(category, graded=graded, fillies=fillies)
        return masks[key]

    fields: list[Field] = []
    for spec in sorted(specs, key=lambda s: -s.priority):
        graded = spec.grade in ("G1", "G2", "G3")
        candidates = np.flatnonzero(mask(spec.category, graded, spec.fillies) & ~taken)
        if candidates.size < _MIN_FIELD:
            spec = _fallback(spec, mask, taken)
            candidates = np.flatnonzero(mask(spec.category, False, False) & ~taken)
            if candidates.size < _MIN_FIELD:
                continue
        score = _suitability(spec, ready, candidates, rng)
        willing = int((score >= -2.5).sum())
        size = min(spec.target_field, max(willing, _MIN_FIELD))
        if spec.grade == "G1":
            size = min(spec.course.max_field, candidates.size)
        if size < candidates.size:
            best = np.argpartition(-score, size - 1)[:size]
        else:
            best = np.arange(candidates.size)
        chosen = candidates[best[rng.permutation(best.size)]]
        taken[chosen] = True
        fields.append(Field(spec, ready.index[chosen], ready.rating[chosen]))
    return fields


def _fallback(
    spec: RaceSpec,
    mask: Callable[[Category, bool, bool], BoolArray],
    taken: BoolArray,
) -> RaceSpec:
    month = spec.day.date.month
    best: Category | None = None
    best_count = -1
    for category in CATEGORIES:
        if not category.valid_in(month):
            continue
        count = int((mask(category, False, False) & ~taken).sum())
        if category.jump == spec.category.jump:
            count += 10_000  # stay on the flat (or over jumps) when at all possible
        if count > best_count:
            best, best_count = category, count
    assert best is not None
    course = spec.course
    if best.jump != spec.category.jump:
        surface = JUMP if best.jump else DIRT
        course = min(courses_at(course.venue, surface), key=lambda c: abs(c.distance_m - 1800))
    return dataclasses.replace(
        spec,
        category=best,
        course=course,
        grade=None,
        special=False,
        fillies=False,
        handicap=False,
        name=f"{best.age_label}{_plain_class(best)}",
    )


def _plain_class(category: Category) -> str:
    suffix = {"1勝": "1勝クラス", "2勝": "2勝クラス", "3勝": "3勝クラス", "OP": "オープン"}
    return suffix.get(category.race_class, category.race_class)


def venue_pools(
    days: tuple[RaceDay, ...], jockeys: Jockeys, rng: np.random.Generator
) -> dict[Venue, IntArray]:
    """Send each active jockey to one of the day's venues."""
    active = np.flatnonzero(jockeys.active)
    scores = np.empty((active.size, len(days)))
    for k, day in enumerate(days):
        region = _REGION.get(day.venue)
        home = 0.5 if region is None else 2.0 * (jockeys.region[active] == region)
        prestige = 3.0 * jockeys.skill[active] / 0.11 * (0.4 if day.slot == 0 else -0.2)
        scores[:, k] = home + prestige
    choice = np.argmax(scores + rng.gumbel(0.0, 1.0, scores.shape), axis=1)
    counts = np.bincount(choice, minlength=len(days))
    while len(days) > 1 and counts.min() < 24:
        small, large = int(np.argmin(counts)), int(np.argmax(counts))
        movers = np.flatnonzero(choice == large)
        choice[movers[int(rng.integers(0, movers.size))]] = small
        counts = np.bincount(choice, minlength=len(days))
    return {day.venue: active[choice == k] for k, day in enumerate(days)}


def assign_jockeys(
    field: Field,
    pool: IntArray,
    horses: Horses,
    jockeys: Jockeys,
    rng: np.random.Generator,
) -> IntArray:
    """One jockey per runner: the last jockey if available (often), otherwise the better
    jockeys go to the better horses, with some noise."""
    runners = field.horses
    rating = field.rating + 0.5 * rng.standard_normal(runners.size)
    order = np.argsort(-(jockeys.skill[pool] + rng.normal(0.0, 0.1, pool.size)))
    ranked = [int(j) for j in pool[order]]
    available = set(ranked)
    chosen = np.empty(runners.size, dtype=np.int64)
    keep = rng.random(runners.size) < 0.6
    pending = []
    for i in np.argsort(-rating):
        last = int(horses.last_jockey[runners[i]])
        if keep[i] and last in available:
            chosen[i] = last
            available.discard(last)
        else:
            pending.append(int(i))
    cursor = 0
    for i in pending:
        while ranked[cursor] not in available:
            cursor += 1
        chosen[i] = ranked[cursor]
        available.discard(ranked[cursor])
    return chosen


def _scale_weight(category: Category, month: int, age: IntArray, female: BoolArray) -> FloatArray:
    """馬齢/定量 weights: colts and geldings, fillies and mares 2 kg less."""
    label = category.age_label
    if category.jump:
        colt = np.where(age >= 4, 60.0, 58.0)
    elif label == "2歳":
        colt = np.full(age.size, 55.0)
    elif label == "3歳":
        colt = np.full(age.size, 56.0)
    else:
        three = 54.0 if month <= 8 else (55.0 if month == 9 else 56.0)
        colt = np.where(age >= 4, 57.0, three)
    return colt - np.where(female, 1.0 if label == "2歳" else 2.0, 0.0)


def weights_carried(
    field: Field,
    horses: Horses,
    age: IntArray,
    jockey_allowance: FloatArray,
) -> FloatArray:
    spec = field.spec
    runners = field.horses
    female = horses.female[runners]
    weights = _scale_weight(spec.category, spec.day.date.month, age, female)
    if spec.handicap:
        rating = field.rating
        z = (rating - rating.mean()) / max(float(rating.std()), 1e-6)
        top = 57.0 + np.round(np.clip(z.max(), 0.0, 2.0))
        weights = np.clip(np.round(top - 2.2 * (z.max() - z)), 49.0, 59.0)
    elif spec.grade == "G1":
        weights = weights + np.where(age >= 4, 1.0, 0.0)
    elif spec.grade is not None:
        wins = horses.jump_wins[runners] if spec.category.jump else horses.wins[runners]
        weights = weights + np.clip((wins - 4) // 2, 0, 3)
    elif (
        not spec.special
        and not spec.category.jump
        and spec.category.race_class in ("未勝利", "1勝", "2勝")
    ):
        weights = weights - jockey_allowance
    return weights.astype(np.float64)
