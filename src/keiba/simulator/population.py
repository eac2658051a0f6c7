"""The horses, jockeys and trainers of a simulated world, and how they change over time.

Horses are kept as columns (one numpy array per attribute, one slot per horse ever born in
the world) so that a race day can look at thousands of them at once. A horse has a latent
talent, a development curve (improving at 2–3, peaking around 4–5, declining after 6–7),
a surface preference, a preferred distance with an aptitude that falls off away from it, a
going (mud) aptitude, a jumping aptitude, a running style and a body weight. Its state is its
record (runs, wins), when it is next ready to race, its last jockey, its recent form and
whether it is still in training. A new crop of 2-year-olds enters every January; horses
retire with age, poor form, injury, or when they fail to win as 3-year-olds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keiba.simulator.names import horse_names, person_names

__all__ = [
    "BoolArray",
    "FloatArray",
    "Horses",
    "IntArray",
    "Jockeys",
    "Trainers",
    "create_horses",
    "create_jockeys",
    "create_trainers",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

EAST, WEST = 0, 1
_OLDEST_INITIAL_AGE = 9
# Share of a crop still in training on 1 January at each age (better horses stay longer).
_SURVIVAL = {3: 0.72, 4: 0.42, 5: 0.3, 6: 0.2, 7: 0.12, 8: 0.06, 9: 0.03}
# Probability of retiring at the turn of the year, by the age reached.
_RETIRE_AT_NEW_YEAR = {3: 0.03, 4: 0.08, 5: 0.15, 6: 0.25, 7: 0.4, 8: 0.55, 9: 0.7}
_JOCKEY_TURNOVER = 4
_APPRENTICE_YEARS = 5


@dataclass
class Trainers:
    ids: list[str]
    names: list[str]
    skill: FloatArray
    region: IntArray


@dataclass
class Jockeys:
    ids: list[str]
    names: list[str]
    skill: FloatArray
    region: IntArray
    debut_year: IntArray
    active: BoolArray
    career_wins: IntArray

    def allowance_kg(self, year: int) -> FloatArray:
        """Apprentice weight allowance (減量): 3, 2 or 1 kg by career wins, for five years."""
        young = (year - self.debut_year) < _APPRENTICE_YEARS
        wins = self.career_wins
        allowance = np.where(wins <= 30, 3.0, np.where(wins <= 50, 2.0, 1.0))
        return np.where(young & (wins <= 100), allowance, 0.0)

    def new_year(self, rng: np.random.Generator, year: int) -> None:
        """The least successful veterans retire; as many apprentices make their debut."""
        veterans = np.flatnonzero(self.active & (self.debut_year < year - 8))
        if veterans.size >= _JOCKEY_TURNOVER:
            weakness = -self.skill[veterans] + rng.gumbel(0.0, 0.1, veterans.size)
            leaving = veterans[np.argsort(-weakness)[:_JOCKEY_TURNOVER]]
            self.active[leaving] = False
        waiting = np.flatnonzero(~self.active & (self.debut_year == year))
        self.active[waiting[:_JOCKEY_TURNOVER]] = True


@dataclass
class Horses:
    ids: npt.NDArray[np.object_]
    names: npt.NDArray[np.object_]
    birth_year: IntArray
    birth_day: IntArray
    female: BoolArray
    talent: FloatArray
    maturity: FloatArray
    peak_age: FloatArray
    decline: FloatArray
    pref_turf: FloatArray
    pref_distance: FloatArray
    distance_width: FloatArray
    mud: FloatArray
    jump_skill: FloatArray
    style: FloatArray
    trainer: IntArray
    region: IntArray
    debut_day: IntArray
    active: BoolArray
    gelded: BoolArray
    jumper: BoolArray
    runs: IntArray
    wins: IntArray
    jump_wins: IntArray
    ready_day: IntArray
    last_run_day: IntArray
    last_jockey: IntArray
    form: FloatArray
    body_weight: IntArray

    @property
    def count(self) -> int:
        return int(self.talent.size)

    def development(self, index: IntArray, day: int) -> FloatArray:
        """Ability gained or lost with age on `day` (0 at the peak of a mature horse)."""
        years = (day - self.birth_day[index]) / 365.25
        growth = -1.3 * np.exp(-(years - 2.0) / self.maturity[index])
        past_peak = np.maximum(years - self.peak_age[index], 0.0)
        return np.asarray(growth - self.decline[index] * past_peak**2, dtype=np.float64)

    def rating(self, index: IntArray, day: int) -> FloatArray:
        """What the horse's connections know of its current ability (talent + development)."""
        return self.talent[index] + self.development(index, day)

    def activate_crop(self, year: int) -> None:
        """The 2-year-olds of `year` go into training."""
        self.active[self.birth_year == year - 2] = True

    def new_year(self, rng: np.random.Generator, year: int) -> None:
        """Retirements by age (fillies and mares earlier, to stud) and a few geldings."""
        age = year - self.birth_year
        index = np.flatnonzero(self.active & (age >= 3))
        a = np.minimum(age[index], 10)
        probability = np.array([_RETIRE_AT_NEW_YEAR.get(int(x), 1.0) for x in range(11)])[a]
        probability = probability + np.where(self.female[index] & (a >= 5), 0.2, 0.0)
        probability = probability + 0.1 * np.clip(self.form[index] - 0.5, 0.0, None)
        self.active[index[rng.random(index.size) < probability]] = False
        colts = np.flatnonzero(self.active & ~self.female & ~self.gelded & (age >= 3))
        self.gelded[colts[rng.random(colts.size) < 0.04]] = True

    def retire_maidens(self, rng: np.random.Generator, year: int) -> None:
        """3-year-olds still without a win leave when maiden races end; a few go jumping."""
        index = np.flatnonzero(
            self.active & ~self.jumper & (self.wins == 0) & (self.birth_year == year - 3)
        )
        to_jumps = rng.random(index.size) < 0.1
        self.jumper[index[to_jumps & ~self.female[index]]] = True
        self.active[index[~(to_jumps & ~self.female[index])]] = False

    def retire_idle(self, day: int, limit_days: int = 150) -> None:
        """Horses that have waited too long for a race leave training."""
        self.active[self.active & (self.ready_day < day - limit_days)] = False


def _trainer_for(rng: np.random.Generator, talent: FloatArray, trainers: Trainers) -> IntArray:
    """Better trainers tend to get better horses."""
    skill = trainers.skill / max(float(trainers.skill.std()), 1e-9)
    out = np.empty(talent.size, dtype=np.int64)
    for start in range(0, talent.size, 2000):
        block = talent[start : start + 2000]
        affinity = 0.6 * block[:, None] * skill[None, :]
        out[start : start + 2000] = np.argmax(
            affinity + rng.gumbel(size=(block.size, skill.size)), axis=1
        )
    return out


def create_horses(
    rng: np.random.Generator,
    first_year: int,
    crops: int,
    crop_size: int,
    trainers: Trainers,
) -> Horses:
    """Every horse the world will ever see: an initial population aged 3–9 on 1 January of
    `first_year` (with records plausible for their talent) and `crops` yearly crops of
    2-year-olds from `first_year` on."""
    birth_years: list[npt.NDArray[np.int64]] = []
    for age in range(_OLDEST_INITIAL_AGE, 2, -1):
        birth_years.append(np.full(round(crop_size * _SURVIVAL[age]), first_year - age))
    for crop in range(crops):
        birth_years.append(np.full(crop_size, first_year - 2 + crop))
    birth_year = np.concatenate(birth_years).astype(np.int64)
    n = birth_year.size
    initial = birth_year <= first_year - 3

    female = rng.random(n) < 0.47
    talent = rng.standard_normal(n)
    # the initial horses aged 4 and over are the survivors of their crops: the better ones
    older = np.flatnonzero(birth_year <= first_year - 4)
    talent[older] = np.abs(rng.standard_normal(older.size)) * 0.9 + rng.normal(
        0.0, 0.55, older.size
    )
    maturity = rng.uniform(0.5, 1.1, n)
    years = np.unique(birth_year)
    april = {int(y): dt.date(int(y), 4, 1).toordinal() for y in years}
    june_of_two = {int(y): dt.date(int(y) + 2, 6, 1).toordinal() for y in years}
    foaling = np.vectorize(april.__getitem__, otypes=[np.int64])(birth_year)
    birth_day = foaling + rng.integers(-50, 50, n)
    debut_offset = (300.0 * rng.beta(1.3, 2.2, n) * maturity / 0.8).astype(np.int64)
    debut_day = np.vectorize(june_of_two.__getitem__, otypes=[np.int64])(birth_year) + debut_offset
    trainer = _trainer_for(rng, talent, trainers)

    serial = np.zeros(n, dtype=np.int64)
    for year in np.unique(birth_year):
        members = np.flatnonzero(birth_year == year)
        serial[members] = 100_001 + np.arange(members.size)
    ids = np.array([f"{y}{s:06d}" for y, s in zip(birth_year, serial, strict=True)], dtype=object)
    names = np.array(horse_names(rng, n), dtype=object)
    mature_weight = np.where(female, rng.normal(462, 24, n), rng.normal(480, 26, n))

    horses = Horses(
        ids=ids,
        names=names,
        birth_year=birth_year,
        birth_day=birth_day,
        female=female,
        talent=talent,
        maturity=maturity,
        peak_age=rng.normal(5.2, 0.6, n),
        decline=rng.uniform(0.08, 0.2, n),
        pref_turf=rng.beta(0.7, 0.7, n),
        pref_distance=np.clip(np.exp(rng.normal(np.log(1650.0), 0.22, n)), 1000.0, 3400.0),
        distance_width=rng.uniform(0.18, 0.32, n),
        mud=rng.standard_normal(n),
        jump_skill=rng.standard_normal(n),
        style=rng.beta(2.0, 2.0, n),
        trainer=trainer,
        region=trainers.region[trainer],
        debut_day=debut_day,
        active=initial.copy(),
        gelded=np.zeros(n, dtype=bool),
        jumper=np.zeros(n, dtype=bool),
        runs=np.zeros(n, dtype=np.int64),
        wins=np.zeros(n, dtype=np.int64),
        jump_wins=np.zeros(n, dtype=np.int64),
        ready_day=debut_day.copy(),
        last_run_day=np.full(n, -1, dtype=np.int64),
        last_jockey=np.full(n, -1, dtype=np.int64),
        form=np.full(n, 0.5),
        body_weight=np.clip(np.round(mature_weight / 2) * 2, 380, 580).astype(np.int64) - 14,
    )
    _give_records(rng, horses, np.flatnonzero(initial), first_year)
    return horses


def _give_records(
    rng: np.random.Generator, horses: Horses, index: IntArray, first_year: int
) -> None:
    """Careers so far for the initial population, consistent with their ages and talent."""
    start = dt.date(first_year, 1, 1).toordinal()
    age = first_year - horses.birth_year[index]
    merit = horses.talent[index] + rng.normal(0.0, 0.5, index.size)
    wins = np.zeros(index.size, dtype=np.int64)
    for a in np.unique(age):
        members = np.flatnonzero(age == a)
        rank = np.argsort(np.argsort(-merit[members])) / max(members.size - 1, 1)
        if a == 3:
            # on 1 January, 3-year-olds: many unraced, most maidens, a few winners
            wins[members] = np.select([rank < 0.05, rank < 0.25], [2, 1], 0)
        else:
            wins[members] = np.select(
                [rank < 0.14, rank < 0.27, rank < 0.52], [4 + (rank < 0.05), 3, 2], 1
            )
    horses.wins[index] = wins
    raced = (age > 3) | (wins > 0) | (rng.random(index.size) < 0.55)
    horses.runs[index] = np.where(
        raced, wins + rng.integers(1, 4, index.size) * np.maximum(age - 2, 1), 0
    )
    horses.last_run_day[index] = np.where(raced, start - rng.integers(7, 70, index.size), -1)
    horses.ready_day[index] = np.where(
        raced, start + rng.integers(0, 60, index.size), start + rng.integers(7, 100, index.size)
    )
    horses.body_weight[index] += 14
    horses.gelded[index] = ~horses.female[index] & (rng.random(index.size) < 0.08 * (age - 2))
    horses.form[index] = rng.uniform(0.2, 0.7, index.size)
    jumpers = (age >= 4) & ~horses.female[index] & (wins <= 2) & (rng.random(index.size) < 0.12)
    horses.jumper[index[jumpers]] = True
    horses.jump_wins[index[jumpers]] = (rng.random(int(jumpers.sum())) < 0.35).astype(np.int64)


def create_trainers(rng: np.random.Generator, count: int) -> Trainers:
    ids = [f"{1000 + 7 * k + int(rng.integers(0, 7)):05d}" for k in range(count)]
    return Trainers(
        ids=ids,
        names=person_names(rng, count),
        skill=rng.normal(0.0, 0.08, count),
        region=rng.integers(0, 2, count).astype(np.int64),
    )


def create_jockeys(rng: np.random.Generator, count: int, first_year: int, years: int) -> Jockeys:
    """`count` active jockeys in `first_year` (a sixth of them apprentices) and the
    apprentices who will make their debut in each later year."""
    newcomers = _JOCKEY_TURNOVER * years
    total = count + newcomers
    debut_year = np.concatenate(
        [
            first_year - rng.integers(0, 26, count),
            np.repeat(np.arange(first_year + 1, first_year + 1 + years), _JOCKEY_TURNOVER),
        ]
    ).astype(np.int64)
    apprentice = (first_year - debut_year) < _APPRENTICE_YEARS
    skill = rng.normal(0.0, 0.11, total) - np.where(apprentice | (debut_year > first_year), 0.08, 0)
    top = np.argsort(-skill[:count])[:8]
    skill[top] += 0.25
    seniority = np.maximum(first_year - debut_year, 0)
    career_wins = np.where(
        apprentice,
        rng.integers(0, 40, total) * seniority,
        (rng.integers(10, 40, total) * seniority * (1.0 + 3.0 * np.clip(skill, 0, None) / 0.1)),
    ).astype(np.int64)
    ids = [f"{1000 + 5 * k + int(rng.integers(0, 5)):05d}" for k in range(total)]
    return Jockeys(
        ids=ids,
        names=person_names(rng, total),
        skill=skill,
        region=rng.integers(0, 2, total).astype(np.int64),
        debut_year=debut_year,
        active=np.arange(total) < count,
        career_wins=career_wins,
    )
