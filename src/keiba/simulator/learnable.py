"""The learnable floor: the win probability a model of the recorded past could give.

`p_knowable` assumes every latent quantity known exactly. The learnable floor knows only what
was recorded before the race — results, cards and, if given, final win odds — plus the world's
true structure and parameters, and approximates the posterior predictive by an online Gaussian
filter (assumed-density filtering):

- Each horse has a Gaussian state: talent, development's deviation from its mean at the horse's
  age, turf aptitude (±0.9(pref_turf − ½) on turf / dirt), mud aptitude (0.12·mud, times the
  going), jump skill, and its fit to every distance in a few principal components
  (`learnable_priors`). Jockeys and trainers each have one Gaussian skill. Priors are the
  world's: talent by generation (a young horse's shifted by its trainer's skill, since the
  world gives better trainers better horses), development's law by age, aptitudes', skills'.
- A starter's mean strength is linear in its states plus what the card tells exactly (sex,
  weight carried, draw and the course's draw bias, days since the last run, body-weight
  change), so before a race it is Gaussian with mean m and variance v. Before the race, the
  order of the jockeys given to runners that change jockey is read as a ranking of their
  ratings (the world hands the best available jockeys to the best-rated of them).
- Prediction: p = E[softmax(s·(μ + ε))] with μ ~ N(m, v) and the day's form ε ~ N(0, σ²)
  integrated out together (`FormBank`).
- Update, after each race day: the finishing order's likelihood is the world's discounted
  Plackett–Luce (winner ∝ e^u, second ∝ e^(γu), later ∝ e^(δu), u = s·(μ + ε)); its
  Laplace approximation around the joint mode of the race's logits, divided by the prior,
  gives each starter a Gaussian message on its strength on the day, combined with the one the
  final odds give (`learnable_odds`), which updates its horse's state (Kalman) and its
  jockey's and trainer's skills (the day's messages summed).
- Between runs, development's deviation moves as the Gaussian conditional of its law from the
  age at the last update to today's.

What it leaves out, so a model could in principle know more: connections choose races,
distances and surfaces with knowledge of the horse's ability and aptitudes, and handicappers
set weights by it; the filter reads none of those choices, nor earlier races of the same day,
nor the link between a debut's date and the horse's maturity, and keeps a factorised Gaussian
where the posterior is not one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from keiba.simulator.config import WorldConfig
from keiba.simulator.courses import JUMP, TURF
from keiba.simulator.learnable_odds import MarketReading
from keiba.simulator.learnable_priors import (
    DevelopmentPrior,
    DistancePrior,
    FormBank,
    person_priors,
)
from keiba.simulator.population import BoolArray, FloatArray, IntArray

__all__ = ["CHOICE_SHARPNESS", "CardView", "LearnableFilter"]

CHOICE_SHARPNESS = 1.0
"""How sharply the order of jockeys' skills is read as a ranking of the runners' ratings."""
_WIDTH = 18
_NEWTON_STEPS = 5
_TALENT, _DEV, _TURF, _MUD, _JUMP = range(5)
_TURF_VAR = 0.81 * 0.7 * 0.7 / (1.4**2 * 2.4)  # 0.9² · Var Beta(0.7, 0.7)
_MUD_VAR = 0.12**2
_JUMP_VAR = 0.9**2
_OLD_TALENT = (0.9 * np.sqrt(2.0 / np.pi), 0.81 * (1.0 - 2.0 / np.pi) + 0.55**2)


@dataclass(frozen=True)
class CardView:
    """What the record shows of one day's declared runners (race after race), and the results.

    No latent quantity: horses, jockeys and trainers are ids (array indices)."""

    day: int
    race_of: IntArray
    horse: IntArray
    horse_birth_year: IntArray
    female: BoolArray
    jockey: IntArray
    trainer: IntArray
    surface: IntArray
    distance: IntArray
    going: IntArray
    draw_fraction: FloatArray
    draw_slope: FloatArray
    weight_kg: FloatArray
    days_since_run: IntArray
    body_weight_change: IntArray
    started: BoolArray
    finished: BoolArray
    run_order: IntArray
    horse_no: IntArray


class LearnableFilter:
    """Online Gaussian filter over the world's latent quantities; `observe` one day at a time."""

    def __init__(self, config: WorldConfig, choice_sharpness: float = CHOICE_SHARPNESS) -> None:
        self.scale = config.strength_scale
        self.form_var = config.form_noise**2
        self.powers = (1.0, config.harville_gamma, config.harville_delta)
        self.first_year = config.start_year - config.burn_in_years
        self.start_year = config.start_year
        self.development = DevelopmentPrior.build()
        self.distance = DistancePrior.build()
        self.bank = FormBank()
        self.market = MarketReading(config)
        size = 5 + self.distance.basis.shape[1]
        self.x = np.zeros((0, size))
        self.p = np.zeros((0, size, size))
        self.choice_sharpness = choice_sharpness
        self.seen = np.zeros(0, dtype=bool)
        self.last_jockey = np.zeros(0, dtype=np.int64)
        self.age_cell = np.zeros(0, dtype=np.int64)
        self.person_priors = person_priors(config.jockeys, config.burn_in_years + config.years)
        self.jockey = np.zeros(0)
        self.jockey_var = np.zeros(0)
        self.jockey_seen = np.zeros(0, dtype=bool)
        self.trainer = np.zeros(0)
        self.trainer_var = np.zeros(0)

    def observe(self, view: CardView, win_odds: FloatArray | None = None) -> FloatArray:
        """The day's starters' learnable win probabilities (before the day), then learn from
        its results and, if given, its final win odds (per declared runner; NaN if none)."""
        self._grow(view)
        self._meet(view)
        if self.choice_sharpness > 0:
            self._read_jockey_choices(view)
        h, offset = self._design(view)
        mean, var = self._strength(view, h, offset)
        padded = _Padded.of(view)
        s = self.scale
        tau = s * np.sqrt(padded.put(var, 1.0) + self.form_var)
        p = self.bank.probabilities(s * padded.put(mean, 0.0), tau, padded.started)
        self._learn(view, padded, h, (mean, var), win_odds)
        self.last_jockey[view.horse[view.started]] = view.jockey[view.started]
        return np.asarray(p[padded.cells][view.started], dtype=np.float64)

    def _read_jockey_choices(self, view: CardView) -> None:
        """What the choice of jockeys says of the horses' current ratings (before the race).

        The world gives the runners that do not keep their last jockey (debutants among them)
        the best jockeys available in the order of their rating plus N(0, ½²) noise: so the
        order of their jockeys' skills is a noisy ranking of their ratings, read here as a
        Plackett–Luce ranking of `choice_sharpness` · rating."""
        k = self.choice_sharpness
        horse = view.horse
        pending = self.last_jockey[horse] != view.jockey
        h = np.zeros((horse.size, self.x.shape[1]))
        h[:, _TALENT] = 1.0
        h[:, _DEV] = 1.0
        ph = np.einsum("nij,nj->ni", self.p[horse], h)
        mean = self.x[horse, _TALENT] + self.x[horse, _DEV]
        var = np.einsum("ni,ni->n", h, ph)
        rows = np.flatnonzero(pending)
        rows = rows[np.lexsort((-self.jockey[view.jockey[rows]], view.race_of[rows]))]
        races = view.race_of[rows]
        first = np.searchsorted(races, races)
        rank = np.zeros(horse.size, dtype=np.int64)
        rank[rows] = np.arange(rows.size) - first
        choice = dataclasses.replace(view, started=pending, finished=pending, run_order=rank + 1)
        padded = _Padded.of(choice)
        site_mean, site_precision = _order_messages(
            k * padded.put(mean, 0.0),
            k * k * padded.put(var, 1.0),
            padded.rank,
            padded.started,
            padded.ranked,
            (1.0, 1.0, 1.0),
        )
        precision = k * k * np.where(pending, site_precision[padded.cells], 0.0)
        useful = precision > 1e-9
        observed = np.where(pending, site_mean[padded.cells], 0.0) / k
        noise = 1.0 / np.where(useful, precision, 1.0)
        self._update_horses(view, h, var, noise, observed - mean, useful)

    def _grow(self, view: CardView) -> None:
        """Room for every id of the day (arrays grow as new ids appear)."""
        horses = max(int(view.horse.max()) + 1 - self.seen.size, 0)
        if horses:
            grow = max(horses, 4096)
            self.x = np.concatenate([self.x, np.zeros((grow, self.x.shape[1]))])
            self.p = np.concatenate([self.p, np.zeros((grow, *self.p.shape[1:]))])
            self.seen = np.concatenate([self.seen, np.zeros(grow, dtype=bool)])
            self.last_jockey = np.concatenate([self.last_jockey, np.full(grow, -1)])
            self.age_cell = np.concatenate([self.age_cell, np.zeros(grow, dtype=np.int64)])
        jockeys = max(int(view.jockey.max()) + 1 - self.jockey.size, 0)
        if jockeys:
            mean, var = self.person_priors.veteran
            self.jockey = np.concatenate([self.jockey, np.full(jockeys, mean)])
            self.jockey_var = np.concatenate([self.jockey_var, np.full(jockeys, var)])
            self.jockey_seen = np.concatenate([self.jockey_seen, np.zeros(jockeys, dtype=bool)])
        trainers = max(int(view.trainer.max()) + 1 - self.trainer.size, 0)
        if trainers:
            mean, var = self.person_priors.trainer
            self.trainer = np.concatenate([self.trainer, np.full(trainers, mean)])
            self.trainer_var = np.concatenate([self.trainer_var, np.full(trainers, var)])

    def _meet(self, view: CardView) -> None:
        """Priors for horses and jockeys seen for the first time; development moved to today."""
        year = self._age_years(view)
        cell = self.development.index(year)
        horse = view.horse
        new = ~self.seen[horse]
        if new.any():
            self._new_horses(horse[new], view.horse_birth_year[new], view.trainer[new], cell[new])
        old = ~new
        self._age(horse[old], self.age_cell[horse[old]], cell[old])
        self.age_cell[horse] = cell
        self.seen[horse] = True
        fresh = np.unique(view.jockey[~self.jockey_seen[view.jockey]])
        if view.day >= _first_of_next_year(self.start_year):
            self.jockey[fresh], self.jockey_var[fresh] = self.person_priors.newcomer
        self.jockey_seen[fresh] = True

    def _age_years(self, view: CardView) -> FloatArray:
        april = np.array([_april_first(int(y)) for y in view.horse_birth_year])
        return np.asarray((view.day - april) / 365.25, dtype=np.float64)

    def _new_horses(
        self, horse: IntArray, birth_year: IntArray, trainer: IntArray, cell: IntArray
    ) -> None:
        old = birth_year <= self.first_year - 4
        talent, talent_var = self._talent_given_trainer(trainer)
        self.x[horse] = 0.0
        self.x[horse, _TALENT] = np.where(old, _OLD_TALENT[0], talent)
        diagonal = np.zeros((horse.size, self.x.shape[1]))
        diagonal[:, _TALENT] = np.where(old, _OLD_TALENT[1], talent_var)
        diagonal[:, _DEV] = self.development.cov[cell, cell]
        diagonal[:, _TURF] = _TURF_VAR
        diagonal[:, _MUD] = _MUD_VAR
        diagonal[:, _JUMP] = _JUMP_VAR
        diagonal[:, 5:] = 1.0
        self.p[horse] = diagonal[:, :, None] * np.eye(self.x.shape[1])[None, :, :]

    def _talent_given_trainer(self, trainer: IntArray) -> tuple[FloatArray, FloatArray]:
        """A young horse's talent given its trainer: the world gives trainer t to a horse of
        talent T with probability ∝ exp(0.6·T·k_t), k_t the trainer's skill over the skills'
        spread; with the k's about standard normal the sum over trainers is ∝ exp(0.18·T²),
        so T | t ~ N(0.6·k_t / 1.36, 1 / 1.36) (k_t's uncertainty added)."""
        spread = np.sqrt(self.person_priors.trainer[1])
        k = self.trainer[trainer] / spread
        k_var = self.trainer_var[trainer] / spread**2
        slope = 0.6 / 1.36
        return slope * k, 1.0 / 1.36 + slope**2 * k_var

    def _age(self, horse: IntArray, before: IntArray, now: IntArray) -> None:
        """δ(now) = ρ·δ(before) + η: the Gaussian conditional of development's law."""
        cov = self.development.cov
        rho = cov[before, now] / cov[before, before]
        noise = cov[now, now] - rho * cov[before, now]
        self.x[horse, _DEV] *= rho
        self.p[horse, _DEV, :] *= rho[:, None]
        self.p[horse, :, _DEV] *= rho[:, None]
        self.p[horse, _DEV, _DEV] += np.maximum(noise, 0.0)

    def _design(self, view: CardView) -> tuple[FloatArray, FloatArray]:
        """Mean strength = h · state + jockey + trainer + offset, per declared runner."""
        jump = view.surface == JUMP
        sign = np.where(view.surface == TURF, 1.0, -1.0)
        dev_mean = self.development.mean[self.age_cell[view.horse]]
        d = self.distance.index(view.distance)
        h = np.zeros((view.horse.size, self.x.shape[1]))
        h[:, _TALENT] = np.where(jump, 0.4, 1.0)
        h[:, _DEV] = np.where(jump, 0.5, 1.0)
        h[:, _TURF] = np.where(jump, 0.0, sign)
        h[:, _MUD] = view.going
        h[:, _JUMP] = np.where(jump, 1.0, 0.0)
        h[:, 5:] = np.where(jump[:, None], 0.0, self.distance.basis[d])
        offset = (
            np.where(jump, 0.5 * dev_mean, dev_mean + self.distance.mean[d])
            - np.where(view.female & ~jump, 0.2, 0.0)
            + _card_effects(view)
        )
        return h, offset

    def _strength(
        self, view: CardView, h: FloatArray, offset: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        horse, jockey, trainer = view.horse, view.jockey, view.trainer
        ph = np.einsum("nij,nj->ni", self.p[horse], h)
        mean = (
            np.einsum("ni,ni->n", h, self.x[horse])
            + self.jockey[jockey]
            + self.trainer[trainer]
            + offset
        )
        var = np.einsum("ni,ni->n", h, ph) + self.jockey_var[jockey] + self.trainer_var[trainer]
        return mean, var

    def _learn(
        self,
        view: CardView,
        padded: _Padded,
        h: FloatArray,
        prior: tuple[FloatArray, FloatArray],
        win_odds: FloatArray | None,
    ) -> None:
        """Gaussian messages on each starter's strength on the day (μ + ε) from its final odds
        and its race's order, then the updates of horses, jockeys and trainers."""
        s = self.scale
        mean, var = prior
        day_var = var + self.form_var
        odds_mean, odds_precision = np.zeros(mean.size), np.zeros(mean.size)
        if win_odds is not None:
            odds_mean, odds_precision = self.market.messages(view.race_of, win_odds, mean, day_var)
        precision = 1.0 / day_var + odds_precision
        centre = (mean / day_var + odds_mean * odds_precision) / precision
        site_mean, site_precision = _order_messages(
            s * padded.put(centre, 0.0),
            s * s * padded.put(1.0 / precision, 1.0),
            padded.rank,
            padded.started,
            padded.ranked,
            self.powers,
        )
        order_precision = s * s * np.where(view.started, site_precision[padded.cells], 0.0)
        order_mean = np.where(view.started, site_mean[padded.cells], 0.0) / s
        total = order_precision + odds_precision
        useful = total > 1e-9
        safe = np.where(useful, total, 1.0)
        observed = (order_mean * order_precision + odds_mean * odds_precision) / safe
        noise = self.form_var + 1.0 / safe
        residual = observed - mean
        self._update_horses(view, h, var, noise, residual, useful)
        self._update_people(view, var, noise, residual, useful)

    def _update_horses(
        self,
        view: CardView,
        h: FloatArray,
        var: FloatArray,
        noise: FloatArray,
        residual: FloatArray,
        useful: BoolArray,
    ) -> None:
        horse = view.horse[useful]
        hh = h[useful]
        total = (var + noise)[useful]
        ph = np.einsum("nij,nj->ni", self.p[horse], hh)
        self.x[horse] += ph * (residual[useful] / total)[:, None]
        self.p[horse] -= ph[:, :, None] * ph[:, None, :] / total[:, None, None]

    def _update_people(
        self,
        view: CardView,
        var: FloatArray,
        noise: FloatArray,
        residual: FloatArray,
        useful: BoolArray,
    ) -> None:
        for ids, means, variances in (
            (view.jockey, self.jockey, self.jockey_var),
            (view.trainer, self.trainer, self.trainer_var),
        ):
            who = ids[useful]
            own = variances[who]
            others = (var + noise)[useful] - own
            measured = means[who] + residual[useful]
            precision = np.bincount(who, weights=1.0 / others, minlength=means.size)
            weighted = np.bincount(who, weights=measured / others, minlength=means.size)
            touched = np.unique(who)
            prior_precision = 1.0 / variances[touched]
            new_precision = prior_precision + precision[touched]
            means[touched] = (means[touched] * prior_precision + weighted[touched]) / new_precision
            variances[touched] = 1.0 / new_precision


def _card_effects(view: CardView) -> FloatArray:
    """What the card says exactly: draw, weight carried, freshness, body-weight swing."""
    since = view.days_since_run
    fresh = np.select(
        [since < 0, since > 180, since > 90, since < 14], [0.0, -0.25, -0.12, -0.06], 0.0
    )
    swing = -0.015 * np.maximum(np.abs(view.body_weight_change) - 6, 0)
    effects = (
        view.draw_slope * (view.draw_fraction - 0.5)
        - 0.045 * (view.weight_kg - 55.0)
        + fresh
        + swing
    )
    return np.asarray(effects, dtype=np.float64)


@dataclass(frozen=True)
class _Padded:
    """The day's races as rows of 18 columns (horse-number order), and finishing ranks."""

    cells: tuple[IntArray, IntArray]
    started: BoolArray
    rank: IntArray
    ranked: BoolArray

    @classmethod
    def of(cls, view: CardView) -> _Padded:
        races = int(view.race_of.max()) + 1
        cells = (view.race_of, view.horse_no - 1)
        started = np.zeros((races, _WIDTH), dtype=bool)
        started[cells] = view.started
        rank = np.full((races, _WIDTH), _WIDTH, dtype=np.int64)
        ranked = np.zeros((races, _WIDTH), dtype=bool)
        rank[cells] = np.where(view.finished, view.run_order - 1, _WIDTH)
        ranked[cells] = view.finished
        return cls(cells, started, rank, ranked)

    def put(self, values: FloatArray, fill: float) -> FloatArray:
        out = np.full(self.started.shape, fill)
        out[self.cells] = values
        return np.where(self.started, out, fill)


def _order_messages(
    prior_mean: FloatArray,
    prior_var: FloatArray,
    rank: IntArray,
    started: BoolArray,
    ranked: BoolArray,
    powers: tuple[float, float, float],
) -> tuple[FloatArray, FloatArray]:
    """Gaussian messages (mean, precision) on each starter's logit from its race's order.

    The discounted Plackett–Luce log-likelihood of the finishers' order (non-finishers are
    known only to have finished behind) times the Gaussian prior is maximised by Newton's
    method; the Laplace posterior's marginals divided by the prior are the messages."""
    stages = _WIDTH - 1
    k = np.arange(stages)
    finishers = ranked.sum(axis=1)
    starters = started.sum(axis=1)
    active = (k[None, :] < finishers[:, None]) & (k[None, :] < starters[:, None] - 1)
    power = np.where(k == 0, powers[0], np.where(k == 1, powers[1], powers[2]))
    remaining = started[:, None, :] & (rank[:, None, :] >= k[None, :, None])
    chosen = (rank[:, None, :] == k[None, :, None]) & ranked[:, None, :]
    weight = active[:, :, None] * power[None, :, None]
    u = prior_mean.copy()
    precision = 1.0 / prior_var
    for _ in range(_NEWTON_STEPS):
        grad, hess = _pl_derivatives(u, power, remaining, chosen, weight)
        grad = grad - (u - prior_mean) * precision
        neg_hess = -hess + precision[:, :, None] * np.eye(_WIDTH)[None, :, :]
        u = u + np.linalg.solve(neg_hess, grad[:, :, None])[:, :, 0]
    _, hess = _pl_derivatives(u, power, remaining, chosen, weight)
    neg_hess = -hess + precision[:, :, None] * np.eye(_WIDTH)[None, :, :]
    marginal = np.diagonal(np.linalg.inv(neg_hess), axis1=1, axis2=2)
    site_precision = np.maximum(1.0 / marginal - precision, 0.0)
    safe = np.where(site_precision > 1e-12, site_precision, 1.0)
    site_mean = (u / marginal - prior_mean * precision) / safe
    return np.where(started, site_mean, 0.0), np.where(started, site_precision, 0.0)


def _pl_derivatives(
    u: FloatArray, power: FloatArray, remaining: BoolArray, chosen: BoolArray, weight: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian in u of the discounted Plackett–Luce log-likelihood."""
    logits = np.where(remaining, power[None, :, None] * u[:, None, :], -np.inf)
    top = np.max(logits, axis=2, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(remaining, np.exp(logits - top), 0.0)
    total = e.sum(axis=2, keepdims=True)
    pi = e / np.where(total > 0, total, 1.0)
    grad = (weight * (chosen - pi)).sum(axis=1)
    w2 = weight[:, :, 0] * power[None, :]
    hess = np.einsum("rk,rki,rkj->rij", w2, pi, pi)
    hess = hess - np.einsum("rk,rki->ri", w2, pi)[:, :, None] * np.eye(_WIDTH)[None, :, :]
    return grad, hess


def _april_first(year: int) -> int:
    import datetime as dt

    return dt.date(year, 4, 1).toordinal()


def _first_of_next_year(year: int) -> int:
    import datetime as dt

    return dt.date(year + 1, 1, 1).toordinal()
