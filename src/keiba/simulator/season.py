"""Racing the days one after another: entries, the races, and what they do to the horses.

This is the part of the world that must run in date order, because today's results decide
tomorrow's classes, rests and retirements. For each race date: find the horses ready to run,
plan the program, fill the races, assign jockeys and weights, scratch a few runners, compute
strengths and true win probabilities, draw the finishing orders (all races of the date at
once), resolve incidents, then update the horses (record, class, rest, injuries, body weight,
form, retirement or a switch to jumping). What a recorded day produces is appended to
`SeasonRecords`; the market and the tables are built from it afterwards.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from keiba.simulator.calendar import RaceDay
from keiba.simulator.config import WorldConfig
from keiba.simulator.entries import (
    Field,
    ReadyHorses,
    assign_jockeys,
    enter_horses,
    frame_numbers,
    venue_pools,
    weights_carried,
)
from keiba.simulator.knowable import FormIntegral
from keiba.simulator.learnable import CardView
from keiba.simulator.population import (
    BoolArray,
    FloatArray,
    Horses,
    IntArray,
    Jockeys,
    Trainers,
)
from keiba.simulator.program import CATEGORIES, Eligibility, ProgramPlanner, RaceSpec
from keiba.simulator.race_model import (
    DID_NOT_FINISH,
    EXCLUDED,
    FINISHED,
    SCRATCHED,
    StrengthInputs,
    finishing_orders,
    mean_strengths,
    resolve_outcome,
    win_probabilities,
)

__all__ = ["Season", "SeasonRecords"]

_WIDTH = 18
_MIN_STARTERS = 4
_GRADED_EARLY_DAYS = 21
_POOL_BY_LEVEL = (38e6, 33e6, 42e6, 55e6, 70e6, 95e6)
_POOL_BY_GRADE = {"G1": 1.4e9, "G2": 3.8e8, "G3": 2.3e8, "L": 1.3e8, "OP": 1.0e8}
_BIG_RACES = ("有馬記念", "東京優駿", "ジャパンカップ")


@dataclass
class SeasonRecords:
    """Columns of every recorded race and runner (runners refer to races by index)."""

    races: list[tuple[RaceSpec, int, float]] = field(default_factory=list)
    runner_columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add_runners(self, columns: dict[str, np.ndarray]) -> None:
        for name, values in columns.items():
            self.runner_columns.setdefault(name, []).append(values)

    def runner(self, name: str) -> np.ndarray:
        return np.concatenate(self.runner_columns[name])


@dataclass(frozen=True)
class _Card:
    """The declared runners of one date, race after race in horse-number order."""

    sizes: IntArray
    blocks: list[slice]
    race_of: IntArray
    runner: IntArray
    horse_no: IntArray
    frame: IntArray
    jockey: IntArray
    weight: FloatArray
    age: IntArray
    status: IntArray


@dataclass(frozen=True)
class _Outcome:
    status: IntArray
    finish_pos: IntArray
    run_order: IntArray
    tied: BoolArray
    demoted: BoolArray

    @classmethod
    def empty(cls, size: int) -> _Outcome:
        return cls(
            status=np.zeros(size, dtype=np.int64),
            finish_pos=np.zeros(size, dtype=np.int64),
            run_order=np.zeros(size, dtype=np.int64),
            tied=np.zeros(size, dtype=bool),
            demoted=np.zeros(size, dtype=bool),
        )


class Season:
    """The state of the racing world and the day-by-day simulation of it."""

    def __init__(
        self,
        config: WorldConfig,
        horses: Horses,
        jockeys: Jockeys,
        trainers: Trainers,
        planner: ProgramPlanner,
        rng: np.random.Generator,
        observer: Callable[[CardView], None] | None = None,
    ) -> None:
        self.config = config
        self.observer = observer
        self.horses = horses
        self.jockeys = jockeys
        self.trainers = trainers
        self.planner = planner
        self.rng = rng
        self.records = SeasonRecords()
        self.form_integral = FormIntegral.of(config.strength_scale, config.form_noise)

    def race_date(self, date: dt.date, days: tuple[RaceDay, ...], record: bool) -> None:
        """Run every race of `date`; keep what happened if `record`."""
        today = date.toordinal()
        fields = self._enter(date, days, today)
        if not fields:
            return
        card = self._card(date, days, fields)
        debut = self.horses.runs[card.runner] == 0
        since = np.where(debut, -1, today - self.horses.last_run_day[card.runner])
        new_weight, change = self._body_weights(card, since, debut)
        mean = mean_strengths(self._strength_inputs(card, fields, today, since, change))
        strength = mean + self.rng.normal(0.0, self.config.form_noise, mean.size)
        p, outcome = self._run(card, strength)
        self._update(today, date.year, fields, card, outcome, new_weight)
        if record:
            knowable = self._knowable(card, mean)
            self._record(fields, card, outcome, (p, knowable), new_weight, change, debut)
            if self.observer is not None:
                self.observer(self._view(today, fields, card, since, change, outcome))

    def _enter(self, date: dt.date, days: tuple[RaceDay, ...], today: int) -> list[Field]:
        horses = self.horses
        ready = np.flatnonzero(horses.active & (horses.ready_day <= today + _GRADED_EARLY_DAYS))
        eligibility = Eligibility(
            age=date.year - horses.birth_year[ready],
            wins=horses.wins[ready],
            jump_wins=horses.jump_wins[ready],
            runs=horses.runs[ready],
            jumper=horses.jumper[ready],
            female=horses.female[ready],
            early=horses.ready_day[ready] > today,
        )
        supply = {c.code: int(eligibility.mask(c).sum()) for c in CATEGORIES}
        specs = self.planner.program(date, days, supply)
        pool = ReadyHorses.on(horses, ready, today)
        return _numbered(enter_horses(specs, pool, eligibility, self.rng))

    def _card(self, date: dt.date, days: tuple[RaceDay, ...], fields: list[Field]) -> _Card:
        horses, rng = self.horses, self.rng
        pools = venue_pools(days, self.jockeys, rng)
        allowance = self.jockeys.allowance_kg(date.year)
        sizes = np.array([f.horses.size for f in fields])
        offsets = np.cumsum(sizes) - sizes
        blocks = [slice(int(o), int(o + s)) for o, s in zip(offsets, sizes, strict=True)]
        runner = np.concatenate([f.horses for f in fields])
        jockey = np.concatenate(
            [assign_jockeys(f, pools[f.spec.day.venue], horses, self.jockeys, rng) for f in fields]
        )
        age = date.year - horses.birth_year[runner]
        weight = np.concatenate(
            [
                weights_carried(f, horses, age[b], allowance[jockey[b]])
                for b, f in zip(blocks, fields, strict=True)
            ]
        )
        race_of = np.repeat(np.arange(len(fields)), sizes)
        return _Card(
            sizes=sizes,
            blocks=blocks,
            race_of=race_of,
            runner=runner,
            horse_no=np.concatenate([np.arange(1, s + 1) for s in sizes]),
            frame=np.concatenate([np.array(frame_numbers(int(s))) for s in sizes]),
            jockey=jockey,
            weight=weight,
            age=age,
            status=self._scratches(race_of, sizes),
        )

    def _body_weights(
        self, card: _Card, since: IntArray, debut: BoolArray
    ) -> tuple[IntArray, IntArray]:
        """Today's body weight (young horses grow, long rests swing more) and the change."""
        before = self.horses.body_weight[card.runner]
        change = 2 * np.rint(
            self.rng.normal(np.where(card.age <= 3, 0.8, 0.0), np.where(since > 90, 4.0, 2.6))
        ).astype(np.int64)
        new_weight = np.clip(before + change, 340, 600)
        return new_weight, np.where(debut, 0, new_weight - before)

    def _strength_inputs(
        self, card: _Card, fields: list[Field], today: int, since: IntArray, change: IntArray
    ) -> StrengthInputs:
        horses, runner = self.horses, card.runner
        return StrengthInputs(
            ability=np.concatenate([f.rating for f in fields]),
            jump_ability=0.4 * horses.talent[runner]
            + 0.5 * horses.development(runner, today)
            + 0.9 * horses.jump_skill[runner],
            female=horses.female[runner],
            pref_turf=horses.pref_turf[runner],
            pref_distance=horses.pref_distance[runner],
            distance_width=horses.distance_width[runner],
            mud=horses.mud[runner],
            jockey_skill=self.jockeys.skill[card.jockey],
            trainer_skill=self.trainers.skill[horses.trainer[runner]],
            **_race_columns(card, fields),
            weight_kg=card.weight,
            days_since_run=since,
            body_weight_change=change,
        )

    def _view(
        self,
        today: int,
        fields: list[Field],
        card: _Card,
        since: IntArray,
        change: IntArray,
        outcome: _Outcome,
    ) -> CardView:
        """What the record shows of the day, for an observer (no latent quantity)."""
        horses, runner = self.horses, card.runner
        return CardView(
            day=today,
            race_of=card.race_of,
            horse=runner,
            horse_birth_year=horses.birth_year[runner],
            female=horses.female[runner],
            jockey=card.jockey,
            trainer=horses.trainer[runner],
            **_race_columns(card, fields),
            weight_kg=card.weight,
            days_since_run=since,
            body_weight_change=change,
            started=card.status == FINISHED,
            finished=outcome.status == FINISHED,
            run_order=outcome.run_order,
            horse_no=card.horse_no,
        )

    def _knowable(self, card: _Card, mean: FloatArray) -> FloatArray:
        """Each starter's win probability with the day's form integrated out."""
        padded, started, cells = _padded(card, mean)
        p = self.form_integral.probabilities(padded, started, self.config.strength_scale)
        return np.asarray(p[cells], dtype=np.float64)

    def _run(self, card: _Card, strength: FloatArray) -> tuple[FloatArray, _Outcome]:
        """True probabilities and results of every race of the day (as a padded matrix)."""
        config = self.config
        padded, started, cells = _padded(card, strength)
        p = win_probabilities(padded, started, config.strength_scale)
        orders = finishing_orders(p, config.harville_gamma, config.harville_delta, self.rng)
        outcome = _Outcome.empty(card.runner.size)
        for r, block in enumerate(card.blocks):
            result = resolve_outcome(
                orders[r],
                int(started[r].sum()),
                card.status[block],
                config.dnf_rate,
                config.disqualification_rate,
                config.tie_rate,
                config.demotion_rate,
                self.rng,
            )
            outcome.status[block] = result.status
            outcome.finish_pos[block] = result.finish_pos
            outcome.run_order[block] = result.run_order
            outcome.tied[block] = result.tied_with_previous
            outcome.demoted[block] = result.demoted
        return np.asarray(p[cells], dtype=np.float64), outcome

    def _record(
        self,
        fields: list[Field],
        card: _Card,
        outcome: _Outcome,
        truth: tuple[FloatArray, FloatArray],
        new_weight: IntArray,
        change: IntArray,
        debut: BoolArray,
    ) -> None:
        first = len(self.records.races)
        for f in fields:
            self.records.races.append((f.spec, f.horses.size, self._pool_size(f.spec)))
        horses, runner = self.horses, card.runner
        starts = (outcome.status != SCRATCHED) & (outcome.status != EXCLUDED)
        self.records.add_runners(
            {
                "race": card.race_of + first,
                "horse": runner,
                "horse_no": card.horse_no,
                "frame": card.frame,
                "jockey": card.jockey,
                "weight": card.weight,
                "body_weight": np.where(starts, new_weight, -1),
                "body_weight_diff": np.where(starts & ~debut, change, -999),
                "age": card.age,
                "sex": np.where(horses.female[runner], 1, np.where(horses.gelded[runner], 2, 0)),
                "status": outcome.status,
                "finish_pos": outcome.finish_pos,
                "run_order": outcome.run_order,
                "tied": outcome.tied,
                "demoted": outcome.demoted,
                "p_true": truth[0],
                "p_knowable": truth[1],
                "style": horses.style[runner],
            }
        )

    def _scratches(self, race_of: IntArray, sizes: IntArray) -> IntArray:
        rng = self.rng
        u = rng.random(race_of.size)
        status = np.where(
            u < self.config.scratch_rate,
            SCRATCHED,
            np.where(u < self.config.scratch_rate + self.config.exclusion_rate, EXCLUDED, FINISHED),
        ).astype(np.int64)
        starters = np.bincount(race_of, weights=status == FINISHED, minlength=sizes.size)
        too_few = np.flatnonzero(starters < np.minimum(sizes, _MIN_STARTERS))
        status[np.isin(race_of, too_few)] = FINISHED
        return status

    def _pool_size(self, spec: RaceSpec) -> float:
        if spec.grade is not None:
            base = _POOL_BY_GRADE[spec.grade]
        else:
            base = _POOL_BY_LEVEL[spec.category.level]
        if spec.name in _BIG_RACES:
            base *= 2.5
        if spec.category.jump:
            base *= 0.55
        base *= (1.25, 1.0, 0.8)[min(spec.day.slot, 2)]
        base *= 1.0 if spec.day.date.weekday() == 5 else 1.15
        if spec.race_no == 12:
            base *= 1.1
        return float(base * np.exp(0.25 * self.rng.standard_normal()))

    def _update(
        self,
        today: int,
        year: int,
        fields: list[Field],
        card: _Card,
        outcome: _Outcome,
        new_weight: IntArray,
    ) -> None:
        """Records, rests, injuries, form and retirements after the day's races."""
        horses, rng = self.horses, self.rng
        race_of, runner, jockey = card.race_of, card.runner, card.jockey
        status, finish_pos = outcome.status, outcome.finish_pos
        ran = (status != SCRATCHED) & (status != EXCLUDED)
        jump_race = np.array([f.spec.category.jump for f in fields])[race_of]
        won = finish_pos == 1
        h = runner[ran]
        horses.runs[h] += 1
        horses.last_run_day[h] = today
        horses.last_jockey[h] = jockey[ran]
        horses.body_weight[h] = new_weight[ran]
        horses.wins[runner[won & ~jump_race]] += 1
        horses.jump_wins[runner[won & jump_race]] += 1
        np.add.at(self.jockeys.career_wins, jockey[won], 1)

        finishers = np.bincount(race_of, weights=finish_pos > 0, minlength=len(fields))
        result = np.where(
            finish_pos > 0,
            (finish_pos - 1) / np.maximum(finishers[race_of] - 1, 1),
            1.0,
        )
        horses.form[h] = 0.6 * horses.form[h] + 0.4 * result[ran]
        rest = 14 + rng.gamma(2.0, 10.0, runner.size).astype(np.int64)
        injured = rng.random(runner.size) < np.where(status == DID_NOT_FINISH, 0.3, 0.04)
        rest = np.where(injured, rest + rng.integers(60, 300, runner.size), rest)
        rest = np.where(ran, rest, rng.integers(7, 29, runner.size))
        horses.ready_day[runner] = today + rest

        age = year - horses.birth_year[runner]
        career_over = rng.random(runner.size) < np.where(status == DID_NOT_FINISH, 0.12, 0.006)
        poor = (horses.form[runner] > 0.75) & (horses.runs[runner] >= 5) & (age >= 3)
        # connections persevere with horses that have won in a good class
        quit_chance = np.clip(0.3 - 0.06 * horses.wins[runner], 0.05, None)
        gives_up = poor & (rng.random(runner.size) < quit_chance)
        to_jumps = (
            gives_up
            & ~horses.jumper[runner]
            & ~horses.female[runner]
            & (horses.wins[runner] <= 1)
            & (rng.random(runner.size) < 0.4)
        )
        switch = runner[to_jumps & ran]
        horses.jumper[switch] = True
        horses.form[switch] = 0.5
        horses.ready_day[switch] += 60
        leaving = runner[ran & (career_over | (gives_up & ~to_jumps))]
        horses.active[leaving] = False


def _numbered(fields: list[Field]) -> list[Field]:
    """Fields in card order; races renumbered from 1 at a venue-day if one was dropped."""
    by_day: dict[RaceDay, list[Field]] = {}
    for f in fields:
        by_day.setdefault(f.spec.day, []).append(f)
    out: list[Field] = []
    for day in sorted(by_day, key=lambda d: d.slot):
        ordered = sorted(by_day[day], key=lambda f: f.spec.race_no)
        for number, f in enumerate(ordered, start=1):
            if f.spec.race_no != number:
                f = dataclasses.replace(f, spec=dataclasses.replace(f.spec, race_no=number))
            out.append(f)
    return out


def _padded(
    card: _Card, values: FloatArray
) -> tuple[FloatArray, BoolArray, tuple[IntArray, IntArray]]:
    """`values` as rows of races padded to 18 columns, the starters' mask, and their cells."""
    races = card.sizes.size
    padded = np.zeros((races, _WIDTH))
    started = np.zeros((races, _WIDTH), dtype=bool)
    cells = (card.race_of, card.horse_no - 1)
    padded[cells] = values
    started[cells] = card.status == FINISHED
    return padded, started, cells


def _race_columns(card: _Card, fields: list[Field]) -> dict[str, np.ndarray]:
    """Each runner's race: its surface, distance and going, and its draw on the course."""

    def per_race(values: list[float] | list[int]) -> np.ndarray:
        return np.array(values)[card.race_of]

    return {
        "surface": per_race([f.spec.course.surface for f in fields]),
        "distance": per_race([f.spec.course.distance_m for f in fields]),
        "going": per_race([f.spec.going for f in fields]),
        "draw_fraction": (card.horse_no - 1) / np.maximum(card.sizes[card.race_of] - 1, 1),
        "draw_slope": per_race([f.spec.course.draw_slope for f in fields]),
    }
