"""The `rating` feature group: online ratings of horses, jockeys and trainers, and aptitudes.

A rating is a log-strength: a runner's strength in a race is the sum of its horse's, jockey's
and trainer's ratings, and the ratings give each starter the win probability softmax(strength)
over the race. After every race day the ratings learn from the day's results, by one Newton
step per entity on the discounted Plackett–Luce likelihood of the finishing order (winner ∝
e^s, second among the rest ∝ e^(0.81 s), later places ∝ e^(0.65 s): later places say less),
with a Gaussian prior: each rating carries a variance that starts at `PRIOR_VARIANCE`, grows
with the days since the entity last ran (abilities change) and shrinks with every race by the
information the race carried. Aptitudes are the mean surprise (observed minus expected, the
same likelihood's gradient) of the horse's past starts on the race's surface and at distances
near the race's: what the overall rating does not explain.

Point in time: the features of a race on day D are read from the ratings after every day
before D and before any race of D; the day's results update them only after all of D's rows
are read, so no result of D or later reaches a feature of D. Races without a result (cards)
are read and update nothing. The passage is sequential, which SQL cannot express, so it runs
in Python over the starts the warehouse returns (`starts_sql`, the same query on DuckDB and
BigQuery); it is deterministic: rows are processed in (day, race, finishing order) order and
every sum runs in that order.

The state after a run of days (`rating_state`) is all a later day's features need:
`day_rating_features` reads one day's rows from it, with the values the whole passage gives
them. `state_frame` and `state_of` turn it into rows and back, so a race day's builds can keep
the state of the days before it in the warehouse (`keiba.feature_engineering.build`).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import polars as pl

__all__ = [
    "CODE_DIGEST",
    "RATING_COLUMNS",
    "RATING_DESCRIPTIONS",
    "RatingState",
    "day_rating_features",
    "rating_features",
    "rating_state",
    "state_frame",
    "state_of",
]

RATING_DESCRIPTIONS: dict[str, str] = {
    "rating_horse": "the horse's rating (log-strength) before the day; null before its first "
    "rated start",
    "rating_horse_sd": "the uncertainty (sd) of the horse's rating; the prior's for a debutant",
    "rating_jockey": "the jockey's rating before the day",
    "rating_trainer": "the trainer's rating before the day",
    "rating_total": "horse + jockey + trainer ratings (unknown ones count 0)",
    "rating_logp": "log of the win probability the ratings give the runner in this field",
    "rating_starts": "starts that rated the horse",
    "apt_surface": "mean surprise (won-or-placed beyond the ratings) of the horse's past starts "
    "on this surface",
    "apt_distance": "mean surprise of the horse's past starts at distances near this one "
    "(this band weighted 1, the neighbouring bands ½)",
    "apt_distance_gap": "log of this distance over the distance of the horse's past starts, "
    "weighted towards its best (by e^(2·surprise))",
    "rating_market": "the horse's market rating: its past races' final-odds log-probabilities "
    "against its fields', filtered; null before its first priced start",
    "rating_market_logp": "log of the win probability the market ratings give the runner in "
    "this field (unrated horses at the prior, 0)",
}
RATING_COLUMNS: tuple[str, ...] = tuple(RATING_DESCRIPTIONS)

PRIOR_VARIANCE = {"horse": 1.0, "jockey": 0.25, "trainer": 0.16}
"""Variance of a new entity's rating (log-strength units)."""
DRIFT_PER_DAY = {"horse": 0.09 / 365, "jockey": 0.01 / 365, "trainer": 0.01 / 365}
"""How much a rating's variance grows per day without a race (capped at the prior)."""
MARKET_NOISE_VARIANCE = 0.2
"""Variance of one race's market log-probability around the horse's relative strength (the
day's form and the public's own noise)."""
STAGE_POWERS = (1.0, 0.81, 0.65)
"""Discount of the finishing-order likelihood for 1st, 2nd, and 3rd and later places."""
DISTANCE_BANDS = np.array([1250.0, 1450.0, 1650.0, 1850.0, 2100.0, 2500.0, 3000.0])
"""Upper edges of the distance bands of the distance aptitude (metres; the last is open)."""
SURFACES = ("turf", "dirt", "jump")
_ENTITIES = ("horse", "jockey", "trainer")
_NUMBERS = {"mean": "mean", "var": "variance", "last": "last_day", "starts": "starts"}
"""A rating's arrays and the names of their stored columns."""
CODE_DIGEST = hashlib.sha256(
    (resources.files("keiba.feature_engineering") / "ratings.py").read_bytes()
).hexdigest()
"""A digest of this module's code (read through the package's resources, so from a wheel or a
zip too): a stored state (`state_frame`) is read back only by the code that stored it."""


@dataclass
class _Ratings:
    """One kind of entity's ratings, variances, last day run and rated starts."""

    kind: str
    mean: np.ndarray
    var: np.ndarray
    last: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, kind: str, size: int) -> _Ratings:
        return cls(
            kind,
            np.zeros(size),
            np.full(size, PRIOR_VARIANCE[kind]),
            np.full(size, -1, dtype=np.int64),
            np.zeros(size, dtype=np.int64),
        )

    def variance_on(self, codes: np.ndarray, day: int) -> np.ndarray:
        """Variance of `codes` (−1: none) on `day`, after the drift since their last race."""
        known = codes >= 0
        at = np.where(known, codes, 0)
        idle = np.where(self.last[at] >= 0, day - self.last[at], 0)
        grown = np.minimum(
            self.var[at] + DRIFT_PER_DAY[self.kind] * idle, PRIOR_VARIANCE[self.kind]
        )
        return np.where(known, grown, 0.0)

    def learn(self, codes: np.ndarray, day: int, grad: np.ndarray, info: np.ndarray) -> None:
        """One Newton step with the prior for each of `codes` (each appears once a day)."""
        known = codes >= 0
        c, g, h = codes[known], grad[known], info[known]
        var = self.variance_on(c, day)
        self.mean[c] += var * g / (1.0 + var * h)
        self.var[c] = var / (1.0 + var * h)
        self.last[c] = day
        self.starts[c] += 1


class RatingState:
    """Ratings and aptitude sums of every horse, jockey and trainer, day after day.

    `keys[kind]` are the sorted keys of the entities of a kind: the code of an entity is its
    key's position. `sizes` (by default one per key, at least one) leaves room for more, at the
    prior."""

    def __init__(self, keys: dict[str, np.ndarray], sizes: dict[str, int] | None = None) -> None:
        self.keys = keys
        sizes = sizes or {kind: max(keys[kind].size, 1) for kind in _ENTITIES}
        self.ratings = {kind: _Ratings.of(kind, sizes[kind]) for kind in _ENTITIES}
        horses = sizes["horse"]
        self.surface_sum = np.zeros((horses, len(SURFACES)))
        self.surface_n = np.zeros((horses, len(SURFACES)))
        self.band_sum = np.zeros((horses, DISTANCE_BANDS.size))
        self.band_n = np.zeros((horses, DISTANCE_BANDS.size))
        self.dist_weight = np.zeros(horses)
        self.dist_log_sum = np.zeros(horses)
        self.market = _Ratings.of("horse", horses)

    def parts(self) -> list[tuple[str, str, np.ndarray]]:
        """Every per-entity array (one per column of a 2-D one) as (kind, stored column name,
        the array or a view of it)."""
        parts = [
            (kind, column, getattr(self.ratings[kind], name))
            for kind in _ENTITIES
            for name, column in _NUMBERS.items()
        ]
        parts += [("horse", f"market_{c}", getattr(self.market, n)) for n, c in _NUMBERS.items()]
        for name, labels in (("surface", SURFACES), ("band", range(DISTANCE_BANDS.size))):
            for i, label in enumerate(labels):
                parts += [
                    ("horse", f"{name}_{part}_{label}", getattr(self, f"{name}_{part}")[:, i])
                    for part in ("sum", "n")
                ]
        parts += [("horse", name, getattr(self, name)) for name in ("dist_weight", "dist_log_sum")]
        return parts

    def coded(self, keys: dict[str, pl.Series]) -> tuple[RatingState, dict[str, np.ndarray]]:
        """The codes of `keys` (−1 for none), and a copy of the state with room for the keys it
        has not seen (after its own, at the prior): the state to read rows with those keys."""
        codes = {kind: _lookup(self.keys[kind], keys[kind]) for kind in _ENTITIES}
        sizes = {
            kind: max(int(codes[kind].max(initial=-1)) + 1, self.ratings[kind].mean.size)
            for kind in _ENTITIES
        }
        grown = RatingState(self.keys, sizes)
        for (_, _, mine), (_, _, theirs) in zip(self.parts(), grown.parts(), strict=True):
            theirs[: mine.shape[0]] = mine
        return grown, codes

    def total(self, day: _Day) -> np.ndarray:
        """Each row's strength: the sum of its known entities' ratings."""
        total = np.zeros(day.rows)
        for kind in _ENTITIES:
            codes = day.codes[kind]
            total += np.where(codes >= 0, self.ratings[kind].mean[np.maximum(codes, 0)], 0.0)
        return total

    def features(self, day: _Day) -> dict[str, np.ndarray]:
        """The day's rows' features, from the state before the day."""
        horse = day.codes["horse"]
        h = self.ratings["horse"]
        rated = h.starts[horse] > 0
        out: dict[str, np.ndarray] = {
            "rating_horse": np.where(rated, h.mean[horse], np.nan),
            "rating_horse_sd": np.sqrt(h.variance_on(horse, day.day)),
        }
        for kind in ("jockey", "trainer"):
            codes, r = day.codes[kind], self.ratings[kind]
            at = np.maximum(codes, 0)
            out[f"rating_{kind}"] = np.where((codes >= 0) & (r.starts[at] > 0), r.mean[at], np.nan)
        total = self.total(day)
        out["rating_total"] = total
        out["rating_logp"] = _log_softmax(day, total)
        out["rating_starts"] = h.starts[horse].astype(np.float64)
        s = self.surface_n[horse, day.surface]
        out["apt_surface"] = np.where(
            s > 0, self.surface_sum[horse, day.surface] / np.maximum(s, 1), np.nan
        )
        near_sum, near_n = np.zeros(day.rows), np.zeros(day.rows)
        for offset, weight in ((-1, 0.5), (0, 1.0), (1, 0.5)):
            band = day.band + offset
            ok = (band >= 0) & (band < DISTANCE_BANDS.size)
            b = np.clip(band, 0, DISTANCE_BANDS.size - 1)
            near_sum += np.where(ok, weight * self.band_sum[horse, b], 0.0)
            near_n += np.where(ok, weight * self.band_n[horse, b], 0.0)
        out["apt_distance"] = np.where(near_n > 0, near_sum / np.maximum(near_n, 1e-12), np.nan)
        m = self.market
        out["rating_market"] = np.where(m.starts[horse] > 0, m.mean[horse], np.nan)
        out["rating_market_logp"] = _log_softmax(day, m.mean[horse])
        w = self.dist_weight[horse]
        out["apt_distance_gap"] = np.where(
            w > 0, day.log_distance - self.dist_log_sum[horse] / np.maximum(w, 1e-12), np.nan
        )
        return out

    def learn(self, day: _Day) -> None:
        """Update every entity and aptitude with the day's results (races that have one)."""
        grad, info = _surprise(day, self.total(day))
        done = day.rated
        for kind in _ENTITIES:
            codes = np.where(done, day.codes[kind], -1)
            self.ratings[kind].learn(codes, day.day, grad, info)
        horse = day.codes["horse"][done]
        g = grad[done]
        np.add.at(self.surface_sum, (horse, day.surface[done]), g)
        np.add.at(self.surface_n, (horse, day.surface[done]), 1.0)
        np.add.at(self.band_sum, (horse, day.band[done]), g)
        np.add.at(self.band_n, (horse, day.band[done]), 1.0)
        weight = np.exp(2.0 * g)
        np.add.at(self.dist_weight, horse, weight)
        np.add.at(self.dist_log_sum, horse, weight * day.log_distance[done])
        self._learn_market(day)

    def _learn_market(self, day: _Day) -> None:
        """A Kalman step per horse of every race priced for all its starters: the horse's
        market log-probability against the field's mean measures its rating against theirs."""
        log_q = day.log_market
        priced = np.bincount(day.race, weights=np.isfinite(log_q), minlength=day.finishers.size)
        starters = np.bincount(day.race, minlength=day.finishers.size)
        whole = (priced == starters) & (day.finishers > 0)
        rows = whole[day.race]
        if not rows.any():
            return
        horse = day.codes["horse"]
        m = self.market
        y = np.where(rows, log_q, 0.0)
        r = m.mean[horse]
        counts = np.maximum(starters, 1)
        y_mean = np.bincount(day.race, weights=y, minlength=starters.size) / counts
        r_mean = np.bincount(day.race, weights=r, minlength=starters.size) / counts
        error = (y - y_mean[day.race]) - (r - r_mean[day.race])
        h, e = horse[rows], error[rows]
        var = m.variance_on(h, day.day)
        gain = var / (var + MARKET_NOISE_VARIANCE)
        m.mean[h] += gain * e
        m.var[h] = var * (1.0 - gain)
        m.last[h] = day.day
        m.starts[h] += 1


@dataclass(frozen=True)
class _Day:
    """One race day's starters, race after race in finishing order (unfinished last)."""

    day: int
    race: np.ndarray
    slot: np.ndarray
    width: int
    codes: dict[str, np.ndarray]
    surface: np.ndarray
    band: np.ndarray
    log_distance: np.ndarray
    log_market: np.ndarray
    """The start's market log-probability from its final odds (−inf without odds)."""
    finishers: np.ndarray
    """Per race: starters with a finishing position (0 for a race without a result)."""

    @property
    def rows(self) -> int:
        return int(self.race.size)

    @property
    def rated(self) -> np.ndarray:
        return np.asarray(self.finishers[self.race] > 0)

    def padded(self, values: np.ndarray, fill: float) -> np.ndarray:
        out = np.full((self.finishers.size, self.width), fill)
        out[self.race, self.slot] = values
        return out


def _log_softmax(day: _Day, values: np.ndarray) -> np.ndarray:
    """Each row's value less the log-sum-exp of its race's values."""
    logits = day.padded(values, -np.inf)
    top = logits.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return np.asarray(values - norm[day.race])


def _surprise(day: _Day, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the gradient (observed − expected) and the information of the discounted
    Plackett–Luce likelihood of its race's finishing order in its own strength."""
    logits = day.padded(total, -np.inf)
    grad = np.zeros(logits.shape)
    info = np.zeros(logits.shape)
    columns = np.arange(day.width)
    for k in range(day.width - 1):
        power = STAGE_POWERS[min(k, len(STAGE_POWERS) - 1)]
        live = (day.finishers > k) & (day.finishers >= 1)
        stage = np.where(columns[None, :] >= k, power * logits, -np.inf)
        top = stage.max(axis=1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0.0)
        weights = np.exp(stage - top)
        p = weights / np.maximum(weights.sum(axis=1, keepdims=True), 1e-300)
        chosen = (columns == k)[None, :].astype(np.float64)
        # a stage with a single runner left says nothing
        live &= np.isfinite(logits[:, k]) & (np.isfinite(stage).sum(axis=1) > 1)
        grad += np.where(live[:, None], power * (chosen - p), 0.0)
        info += np.where(live[:, None], power**2 * p * (1.0 - p), 0.0)
    return grad[day.race, day.slot], info[day.race, day.slot]


def _codes(values: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the keys (−1 for null or empty), in sorted key order, and the keys."""
    keys = values.fill_null("").to_numpy().astype(str)
    uniques, inverse = np.unique(keys, return_inverse=True)
    codes = inverse.astype(np.int64)
    if uniques.size and uniques[0] == "":
        codes -= 1
        uniques = uniques[1:]
    return np.where(values.is_null().to_numpy(), -1, codes), uniques


def _lookup(known: np.ndarray, values: pl.Series) -> np.ndarray:
    """Codes of the keys among the sorted `known` ones; keys not among them are coded after
    them, in sorted order; −1 for null or empty."""
    keys = values.fill_null("").to_numpy().astype(str)
    found = np.zeros(keys.size, dtype=bool)
    at = np.zeros(keys.size, dtype=np.int64)
    if known.size:
        at = np.minimum(np.searchsorted(known, keys), known.size - 1)
        found = known[at] == keys
    none = keys == ""
    new = np.unique(keys[~found & ~none])
    codes = np.where(found, at, known.size + np.searchsorted(new, keys))
    return np.where(none, -1, codes).astype(np.int64)


def rating_features(starts: pl.DataFrame) -> pl.DataFrame:
    """The `rating` group's features of every start in `starts` (the rows of `starts_sql`):
    race_id, horse_no and `RATING_COLUMNS`, rounded like every feature."""
    return _passage(starts, learn_first=False)


def rating_state(starts: pl.DataFrame) -> RatingState:
    """The state after learning every day of `starts` (the rows of `starts_sql`): what the
    features of a later day are read from (`day_rating_features`)."""
    frame = _ordered(starts)
    codes, keys = _coded(frame)
    return _run(_Rows.of(frame, codes), RatingState(keys), None, learn_first=False)


def day_rating_features(state: RatingState, starts: pl.DataFrame) -> pl.DataFrame:
    """The `rating` features of one day's starts read from `state`, the state after every
    earlier day (`rating_state`): the rows `rating_features` gives them from every start up to
    the day. `starts` are every start of the day (the rows of `starts_sql` on the day), not a
    few races': the day's widest field sets how the fields' sums are grouped, to the bit."""
    frame = _ordered(starts)
    if frame["day_no"].n_unique() > 1:
        raise ValueError("the starts of one day only are read from a state")
    grown, codes = state.coded({kind: frame[f"{kind}_key"] for kind in _ENTITIES})
    rows = _Rows.of(frame, codes)
    columns = {name: np.full(frame.height, np.nan) for name in RATING_COLUMNS}
    if frame.height:
        for name, values in grown.features(rows.day(0, frame.height)).items():
            columns[name][:] = values
    return _feature_frame(frame, columns)


def _passage(starts: pl.DataFrame, *, learn_first: bool) -> pl.DataFrame:
    """The day-by-day passage; `learn_first` (a leak, for tests only) reads each day's rows
    after learning from its results."""
    frame = _ordered(starts)
    codes, keys = _coded(frame)
    columns = {name: np.full(frame.height, np.nan) for name in RATING_COLUMNS}
    _run(_Rows.of(frame, codes), RatingState(keys), columns, learn_first=learn_first)
    return _feature_frame(frame, columns)


def _run(
    rows: _Rows,
    state: RatingState,
    columns: dict[str, np.ndarray] | None,
    *,
    learn_first: bool,
) -> RatingState:
    """Each day in turn: its rows' features into `columns` (unless None), then its results
    into `state`; the state after the last day."""
    for start, end in _day_bounds(rows.day_no):
        day = rows.day(start, end)
        if learn_first:
            state.learn(day)
        if columns is not None:
            for name, values in state.features(day).items():
                columns[name][start:end] = values
        if not learn_first:
            state.learn(day)
    return state


def _feature_frame(frame: pl.DataFrame, columns: dict[str, np.ndarray]) -> pl.DataFrame:
    out = frame.select("race_id", "horse_no").with_columns(
        pl.Series(name, np.round(values, 9)).fill_nan(None) for name, values in columns.items()
    )
    return out.sort("race_id", "horse_no")


def _ordered(starts: pl.DataFrame) -> pl.DataFrame:
    """Rows by day, race, finishing position (ties by horse number), unfinished last."""
    return starts.with_columns(
        pl.col("horse_no").cast(pl.Int64), pl.col("day_no").cast(pl.Int64)
    ).sort(["day_no", "race_id", "finish_pos", "horse_no"], nulls_last=True)


def _coded(frame: pl.DataFrame) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The entities' codes of the rows and their keys, by kind."""
    coded = {kind: _codes(frame[f"{kind}_key"]) for kind in _ENTITIES}
    return {k: c for k, (c, _) in coded.items()}, {k: keys for k, (_, keys) in coded.items()}


def _day_bounds(day_no: np.ndarray) -> list[tuple[int, int]]:
    if day_no.size == 0:
        return []
    cuts = np.flatnonzero(np.diff(day_no)) + 1
    edges = [0, *cuts.tolist(), int(day_no.size)]
    return list(itertools.pairwise(edges))


@dataclass(frozen=True)
class _Rows:
    """The ordered starts as arrays, one element a row, which each day is cut from."""

    day_no: np.ndarray
    race: np.ndarray
    codes: dict[str, np.ndarray]
    surface: np.ndarray
    band: np.ndarray
    distance: np.ndarray
    finished: np.ndarray
    odds: np.ndarray

    @classmethod
    def of(cls, frame: pl.DataFrame, codes: dict[str, np.ndarray]) -> _Rows:
        surfaces = {s: i for i, s in enumerate(SURFACES)}
        distance = frame["distance_m"].cast(pl.Float64).to_numpy()
        band = np.searchsorted(DISTANCE_BANDS, distance, side="left")
        return cls(
            day_no=frame["day_no"].to_numpy(),
            race=_codes(frame["race_id"])[0],
            codes=codes,
            surface=frame["surface"]
            .replace_strict(surfaces, default=1, return_dtype=pl.Int64)
            .to_numpy(),
            band=band.clip(0, DISTANCE_BANDS.size - 1),
            distance=distance,
            finished=frame["finish_pos"].is_not_null().to_numpy(),
            odds=frame["win_odds"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
        )

    def day(self, start: int, end: int) -> _Day:
        """The day of rows `start` to `end` (one day's, in order)."""
        rows = slice(start, end)
        races = self.race[rows]
        new_race = np.r_[True, races[1:] != races[:-1]]
        first = np.flatnonzero(new_race)
        race = np.cumsum(new_race) - 1
        slot = np.arange(end - start) - first[race]
        return _Day(
            day=int(self.day_no[start]),
            race=race,
            slot=slot,
            width=int(slot.max()) + 1,
            codes={kind: c[rows] for kind, c in self.codes.items()},
            surface=self.surface[rows],
            band=self.band[rows],
            log_distance=np.log(self.distance[rows]),
            log_market=_log_market(race, self.odds[rows]),
            finishers=np.bincount(race, weights=self.finished[rows]).astype(np.int64),
        )


def _log_market(race: np.ndarray, odds: np.ndarray) -> np.ndarray:
    """log((1/odds) / Σ 1/odds over the race) of each start; −inf where it has no odds. The
    race's sum runs in row order."""
    priced = odds > 1.0
    inverse = np.divide(1.0, odds, out=np.zeros_like(odds), where=priced)
    total = np.bincount(race, weights=inverse)[race]
    share = np.divide(inverse, total, out=np.ones_like(odds), where=priced)
    return np.where(priced, np.log(share), -np.inf)


def state_frame(state: RatingState) -> pl.DataFrame:
    """The state as rows, one per entity: kind, key, then its numbers (the horses' aptitudes
    and market rating in columns that are null for jockeys and trainers); `state_of` reads it
    back."""
    frames = []
    for kind in _ENTITIES:
        n = state.keys[kind].size
        columns: dict[str, pl.Series] = {
            "kind": pl.Series([kind] * n, dtype=pl.String),
            "key": pl.Series(state.keys[kind].tolist(), dtype=pl.String),
        }
        for of, column, values in state.parts():
            if of == kind:
                columns[column] = pl.Series(values[:n])
        frames.append(pl.DataFrame(columns))
    return pl.concat(frames, how="diagonal")


def state_of(frame: pl.DataFrame) -> RatingState:
    """The state `state_frame` wrote (its rows in any order)."""
    parts = {kind: frame.filter(pl.col("kind") == kind) for kind in _ENTITIES}
    keys = {kind: part["key"].to_numpy().astype(str) for kind, part in parts.items()}
    orders = {kind: np.argsort(k, kind="stable") for kind, k in keys.items()}
    state = RatingState({kind: keys[kind][orders[kind]] for kind in _ENTITIES})
    for kind, column, values in state.parts():
        values[: keys[kind].size] = parts[kind][column].to_numpy()[orders[kind]]
    return state
