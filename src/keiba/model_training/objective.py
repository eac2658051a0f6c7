"""The per-race softmax (conditional logit) objective and its score, in plain numpy.

A race is a group of runners; the model gives each runner a score s_i and the win probability
is p_i = exp(s_i) / Σ_race exp(s_j). The loss of a race is −Σ_i y_i log p_i with y the winner
indicator (a dead heat of k winners gives each y = 1/k, so Σ y = 1 per race). Its gradient is
p − y and the diagonal of its Hessian p(1 − p) (floored, so Newton steps stay finite).

`order_grad_hess` reads the finishing order beyond the winner: a discounted Plackett–Luce
loss, the winner chosen ∝ exp(s), the 2nd among the rest ∝ exp(γ·s), the 3rd and later
∝ exp(δ·s), over the first few finishers. Its first stage is exactly the winner's softmax loss,
so the winner probabilities keep their meaning; the later stages add what the places say.

Rows need not be sorted: groups are integer codes (`group_codes`), and every operation is a
segmented reduction over them. Nothing here imports LightGBM.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "HESSIAN_FLOOR",
    "group_codes",
    "group_softmax",
    "order_grad_hess",
    "order_ranks",
    "race_log_losses",
    "softmax_grad_hess",
    "softmax_loss",
    "winner_log_loss",
]

HESSIAN_FLOOR = 1e-6
_P_FLOOR = 1e-15

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def group_codes(race_ids: pl.Series | Sequence[str]) -> tuple[IntArray, int]:
    """Integer codes 0..G−1 for the races of `race_ids` (in order of first appearance)."""
    series = race_ids if isinstance(race_ids, pl.Series) else pl.Series(list(race_ids))
    codes = series.cast(pl.String).rank(method="dense").cast(pl.Int64).to_numpy() - 1
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    return codes.astype(np.int64, copy=False), n_groups


def group_softmax(scores: npt.ArrayLike, codes: IntArray, n_groups: int) -> FloatArray:
    """Softmax of `scores` within each group (numerically stable)."""
    s = np.asarray(scores, dtype=np.float64)
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, codes, s)
    e = np.exp(s - top[codes])
    total = np.bincount(codes, weights=e, minlength=n_groups)
    return np.asarray(e / total[codes], dtype=np.float64)


def softmax_grad_hess(
    scores: npt.ArrayLike, labels: FloatArray, codes: IntArray, n_groups: int
) -> tuple[FloatArray, FloatArray]:
    """Gradient p − y and Hessian diagonal max(p(1 − p), floor) of the per-race softmax loss."""
    p = group_softmax(scores, codes, n_groups)
    grad = p - labels
    hess = np.maximum(p * (1.0 - p), HESSIAN_FLOOR)
    return grad, hess


def order_ranks(finish_pos: npt.ArrayLike, codes: IntArray, n_groups: int) -> IntArray:
    """0-based crossing rank of each finisher in its race (ties by row order), and a rank past
    every finisher for a runner without a position (null or 0)."""
    pos = np.asarray(finish_pos, dtype=np.float64)
    placed = np.isfinite(pos) & (pos > 0)
    key = np.where(placed, pos, np.inf)
    order = np.lexsort((np.arange(key.size), key, codes))
    first_of_group = np.searchsorted(codes[order], np.arange(n_groups))
    rank = np.empty(key.size, dtype=np.int64)
    rank[order] = np.arange(key.size) - first_of_group[codes[order]]
    return np.where(placed, rank, np.iinfo(np.int64).max // 2)


def order_grad_hess(
    scores: npt.ArrayLike,
    labels: FloatArray,
    ranks: IntArray,
    codes: IntArray,
    n_groups: int,
    powers: Sequence[float],
) -> tuple[FloatArray, FloatArray]:
    """Gradient and Hessian diagonal of the discounted Plackett–Luce loss of the first
    len(`powers`) places: stage 0 is the winner's softmax loss (`labels`, dead heats shared);
    stage k ≥ 1 chooses the runner of rank k among those ranked k or later ∝ exp(powers[k]·s).
    A stage counts in a race only if it has that rank and two runners left to choose from."""
    s = np.asarray(scores, dtype=np.float64)
    grad, hess = softmax_grad_hess(s, labels, codes, n_groups)
    hess = hess.copy()
    for k, power in enumerate(powers[1:], start=1):
        remaining = ranks >= k
        chosen = (ranks == k).astype(np.float64)
        has_rank = np.bincount(codes, weights=chosen, minlength=n_groups) > 0
        enough = np.bincount(codes, weights=remaining, minlength=n_groups) >= 2
        active = remaining & (has_rank & enough)[codes]
        if not active.any():
            continue
        p = _masked_softmax(power * s, active, codes, n_groups)
        grad = grad + np.where(active, power * (p - chosen), 0.0)
        hess = hess + np.where(active, power * power * p * (1.0 - p), 0.0)
    return grad, np.maximum(hess, HESSIAN_FLOOR)


def _masked_softmax(
    logits: FloatArray, mask: npt.NDArray[np.bool_], codes: IntArray, n_groups: int
) -> FloatArray:
    """Softmax within each group over the rows of `mask` (0 elsewhere)."""
    top = np.full(n_groups, -np.inf)
    np.maximum.at(top, codes[mask], logits[mask])
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.where(mask, np.exp(np.where(mask, logits - top[codes], 0.0)), 0.0)
    total = np.bincount(codes, weights=e, minlength=n_groups)
    return np.asarray(e / np.where(total > 0, total, 1.0)[codes], dtype=np.float64)


def race_log_losses(
    probabilities: npt.ArrayLike, labels: FloatArray, codes: IntArray, n_groups: int
) -> FloatArray:
    """−Σ_i y_i log p_i per race; NaN for a race whose labels sum to 0 (no winner)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), _P_FLOOR, 1.0)
    loss = np.bincount(codes, weights=-labels * np.log(p), minlength=n_groups)
    weight = np.bincount(codes, weights=labels, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(weight > 0, loss / np.where(weight > 0, weight, 1.0), np.nan)
    return np.asarray(out, dtype=np.float64)


def softmax_loss(
    scores: npt.ArrayLike, labels: FloatArray, codes: IntArray, n_groups: int
) -> float:
    """Total loss Σ_races −Σ_i y_i log p_i of raw scores: `softmax_grad_hess` is its derivative.

    Labels must sum to 1 in every race.
    """
    p = np.clip(group_softmax(scores, codes, n_groups), _P_FLOOR, 1.0)
    return float(-(labels * np.log(p)).sum())


def winner_log_loss(probabilities: npt.ArrayLike, frame: pl.DataFrame) -> float:
    """Mean over races of −log p(winner); a dead heat averages over its winners.

    `frame` holds `race_id` and `won` (winner indicator or 1/k share), aligned with
    `probabilities`. Races without a winner are skipped; with none at all, raises ValueError.
    """
    codes, n_groups = group_codes(frame["race_id"])
    labels = frame["won"].cast(pl.Float64).fill_null(0.0).to_numpy()
    losses = race_log_losses(probabilities, labels, codes, n_groups)
    if not np.isfinite(losses).any():
        raise ValueError("no race in the frame has a winner: the log-loss is undefined")
    return float(np.nanmean(losses))
