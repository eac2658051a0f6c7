"""Fit the discounted-Harville exponents γ (2nd place) and δ (3rd) by maximum likelihood.

Each race contributes the log-probability of its observed first three, given the market's win
probabilities (1/odds, normalised over the starters) and (γ, δ):

    log P(i, j, k) = log p_i + log(s_j / (1 − s_i)) + log(t_k / (1 − t_i − t_j)).

Dead heats are handled explicitly: a tie covering places 1–3 means the runners could have come
in either order, so the race's likelihood is the sum over every order of the first three
consistent with the official positions (a tie for 3rd: either runner third). Runners that did
not finish have no position but were in the market, so they stay in the normalisation; a race
whose rows do not cover its whole field (as in the 2018 CSVs, which omit non-finishers) is
left out, because its market probabilities would be normalised over the finishers only.

`races_from_warehouse` reads the races (I/O); `fit_exotics` is pure and vectorised over races;
`record_fit` stores the result; `fit_and_record` does all three. Themis only consumes γ and δ
(`ThemisConfig.exotic_gamma` and `exotic_delta`).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize

from keiba.common.errors import KeibaError
from keiba.common.storage.object_store import ObjectStore
from keiba.common.storage.warehouse import Warehouse
from keiba.market.fields import COMPLETE_FIELDS_SQL

__all__ = [
    "ExoticFit",
    "FinishedRace",
    "consistent_orders",
    "fit_and_record",
    "fit_exotics",
    "log_likelihood",
    "races_from_warehouse",
    "record_fit",
]

PUBLISHED = {
    "Benter (Hong Kong)": {"gamma": 0.81, "delta": 0.65},
    "JRA (published fit)": {"gamma": 0.88, "delta": 0.73},
}


@dataclass(frozen=True)
class FinishedRace:
    """One race for the fit: win probabilities of the starters and the finishing groups.

    `groups` lists, in finishing order, the indices (into `win`) sharing each official
    position, until three places are covered: `((0,), (4, 2))` is a dead heat for 2nd.
    """

    win: tuple[float, ...]
    groups: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class ExoticFit:
    gamma: float
    delta: float
    gamma_se: float
    delta_se: float
    log_likelihood: float
    harville_log_likelihood: float
    races: int
    dead_heat_races: int
    skipped: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "published": PUBLISHED}


def consistent_orders(groups: Sequence[Sequence[int]], depth: int = 3) -> list[tuple[int, ...]]:
    """Every order of the first `depth` places consistent with the finishing groups.

    >>> consistent_orders([(0,), (1,), (2, 3)])
    [(0, 1, 2), (0, 1, 3)]
    """
    found: set[tuple[int, ...]] = set()
    for parts in itertools.product(*(itertools.permutations(g) for g in groups)):
        order = tuple(itertools.chain.from_iterable(parts))[:depth]
        if len(order) == depth:
            found.add(order)
    return sorted(found)


@dataclass(frozen=True)
class _Stacked:
    p: NDArray[np.float64]  # races × 18, zero padded
    race: NDArray[np.intp]  # one entry per (race, consistent order)
    i: NDArray[np.intp]
    j: NDArray[np.intp]
    k: NDArray[np.intp]
    races: int


def _stack(races: Sequence[FinishedRace]) -> _Stacked:
    width = max(len(r.win) for r in races)
    p = np.zeros((len(races), width))
    rows: list[tuple[int, int, int, int]] = []
    for n, r in enumerate(races):
        p[n, : len(r.win)] = r.win
        rows += [(n, *order) for order in consistent_orders(r.groups)]  # type: ignore[misc]
    a = np.array(rows, dtype=np.intp)
    return _Stacked(p, a[:, 0], a[:, 1], a[:, 2], a[:, 3], len(races))


def _normalised(p: NDArray[np.float64], power: float) -> NDArray[np.float64]:
    w = np.power(p, power, where=p > 0, out=np.zeros_like(p))
    out: NDArray[np.float64] = w / w.sum(axis=1, keepdims=True)
    return out


def _log_likelihood(data: _Stacked, gamma: float, delta: float) -> float:
    s, t = _normalised(data.p, gamma), _normalised(data.p, delta)
    r, i, j, k = data.race, data.i, data.j, data.k
    prob = (
        data.p[r, i]
        * s[r, j]
        / np.maximum(1.0 - s[r, i], 1e-300)
        * t[r, k]
        / np.maximum(1.0 - t[r, i] - t[r, j], 1e-300)
    )
    per_race = np.bincount(r, weights=prob, minlength=data.races)
    return float(np.sum(np.log(np.maximum(per_race, 1e-300))))


def log_likelihood(races: Sequence[FinishedRace], gamma: float, delta: float) -> float:
    """Log-likelihood of the races' first three under discounted Harville (γ, δ)."""
    return _log_likelihood(_stack(races), gamma, delta)


def fit_exotics(races: Sequence[FinishedRace]) -> ExoticFit:
    """Maximum-likelihood γ and δ, with standard errors from the observed information."""
    if not races:
        raise KeibaError("no races with a complete field and three finishers to fit on")
    data = _stack(races)

    def negative(x: NDArray[np.float64]) -> float:
        return -_log_likelihood(data, float(x[0]), float(x[1]))

    found = optimize.minimize(
        negative, np.array([1.0, 1.0]), method="L-BFGS-B", bounds=[(0.05, 3.0), (0.05, 3.0)]
    )
    gamma, delta = float(found.x[0]), float(found.x[1])
    h = 1e-4
    hessian = np.zeros((2, 2))
    for a in range(2):
        for b in range(2):
            ea, eb = np.eye(2)[a] * h, np.eye(2)[b] * h
            hessian[a, b] = (
                negative(found.x + ea + eb)
                - negative(found.x + ea - eb)
                - negative(found.x - ea + eb)
                + negative(found.x - ea - eb)
            ) / (4 * h * h)
    try:
        cov = np.linalg.inv(hessian)
        se = (math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0)))
    except np.linalg.LinAlgError:
        se = (math.nan, math.nan)
    ties = sum(1 for r in races if any(len(g) > 1 for g in r.groups))
    return ExoticFit(
        gamma=gamma,
        delta=delta,
        gamma_se=se[0],
        delta_se=se[1],
        log_likelihood=-float(found.fun),
        harville_log_likelihood=_log_likelihood(data, 1.0, 1.0),
        races=len(races),
        dead_heat_races=ties,
    )


_RUNNERS_SQL = f"""
    SELECT r.race_id, r.horse_no, r.finish_pos, r.win_odds_final, ra.race_date
    FROM runners r JOIN races ra USING (race_id)
    WHERE r.status NOT IN ('scratched', 'excluded') AND r.race_id IN ({COMPLETE_FIELDS_SQL})
    ORDER BY r.race_id, r.horse_no
"""


def races_from_warehouse(warehouse: Warehouse) -> tuple[list[FinishedRace], dict[str, Any]]:
    """Races with a row for every declared runner, win odds for every starter and three
    placed runners; and what was left out and why."""
    frame = warehouse.query(_RUNNERS_SQL, deterministic=True)
    total = warehouse.query(
        "SELECT count(*) AS n, min(race_date) AS a, max(race_date) AS b FROM races"
    )
    races: list[FinishedRace] = []
    skipped = {"incomplete_field": int(total["n"][0]) - frame["race_id"].n_unique()}
    skipped.update(missing_odds=0, fewer_than_three_placed=0)
    for (_race_id,), rows in frame.group_by("race_id", maintain_order=True):
        odds = rows["win_odds_final"].to_list()
        if any(o is None or o <= 1.0 for o in odds):
            skipped["missing_odds"] += 1
            continue
        inverse = [1.0 / o for o in odds]
        total_inverse = math.fsum(inverse)
        win = tuple(x / total_inverse for x in inverse)
        positions: dict[int, list[int]] = {}
        for index, pos in enumerate(rows["finish_pos"].to_list()):
            if pos is not None:
                positions.setdefault(int(pos), []).append(index)
        groups: list[tuple[int, ...]] = []
        covered = 0
        for pos in sorted(positions):
            if covered >= 3:
                break
            groups.append(tuple(positions[pos]))
            covered += len(positions[pos])
        if covered < 3 or len(win) < 3:
            skipped["fewer_than_three_placed"] += 1
            continue
        races.append(FinishedRace(win, tuple(groups)))
    period = {"first_race_date": str(total["a"][0]), "last_race_date": str(total["b"][0])}
    return races, {"skipped": skipped, **period}


def record_fit(store: ObjectStore, fit: ExoticFit, period: dict[str, Any]) -> str:
    """Write the fit as JSON under `models/exotics/`; returns the key."""
    first = str(period.get("first_race_date", "unknown")).replace("-", "")
    last = str(period.get("last_race_date", "unknown")).replace("-", "")
    key = f"models/exotics/discounted-harville-{first}-{last}.json"
    body = {
        "model": "discounted Harville (power form): s ∝ p^gamma for 2nd, t ∝ p^delta for 3rd",
        "probabilities": "market win odds, 1/odds normalised over the starters",
        **period,
        **fit.to_dict(),
    }
    store.put(key, json.dumps(body, ensure_ascii=False, indent=2, sort_keys=True).encode())
    return key


def fit_and_record(warehouse: Warehouse, store: ObjectStore) -> dict[str, Any]:
    """Fit γ and δ on the warehouse's races and record the fit; returns what was recorded,
    with the key it is stored at."""
    races, info = races_from_warehouse(warehouse)
    fit = replace(fit_exotics(races), skipped=info["skipped"])
    period = {k: v for k, v in info.items() if k != "skipped"}
    key = record_fit(store, fit, period)
    return {**fit.to_dict(), **period, "stored_at": key}
