"""Evaluation against the market (`keiba model evaluate`): model, market and combination, on
the same races.

`evaluate_frame` scores a frame (from `keiba.market.fields.market_frame`, with the model's
columns added) holding `p_market`, `p_model` and `p_combined` (and
`p_true` and `p_knowable` for a simulated world) on exactly the same races:

- winner log-loss, pseudo-R² and Brier score of each;
- ΔR² of the combination (and of the model) minus the market, with a race-level bootstrap 95%
  interval;
- calibration tables overall and conditional on the model being above or below the market
  (runner by runner: p_model > p_market, or not);
- the win rate of the favourite (market's top pick), the model's and the combination's top pick
  (ties go to the lowest horse number; a dead heat for first counts as a win);
- breakdowns by surface and by race class.

Nothing here imports MLflow or LightGBM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from keiba.common.errors import KeibaError
from keiba.evaluator.metrics import (
    Score,
    calibration_table,
    common_races,
    delta_r2_interval,
    mean,
    score,
)

__all__ = [
    "NAMES",
    "Evaluation",
    "calibration_figure",
    "evaluate_frame",
    "top_pick_win_rate",
]

NAMES = {
    "p_market": "market",
    "p_model": "model",
    "p_combined": "model + market",
    "p_true": "true probabilities",
    "p_knowable": "knowable from the past",
}
_BREAKDOWNS = ("surface", "race_class")


def top_pick_win_rate(frame: pl.DataFrame, column: str) -> float:
    """Share of races whose highest-`column` starter won (ties: lowest horse_no)."""
    picks = (
        frame.sort(["race_id", column, "horse_no"], descending=[False, True, False])
        .group_by("race_id", maintain_order=True)
        .first()
    )
    if picks.is_empty():
        return float("nan")
    return float((picks["won"] > 0).mean())  # type: ignore[arg-type]


def _score_dict(s: Score) -> dict[str, float]:
    return {
        "races": s.races,
        "log_loss": s.log_loss,
        "pseudo_r2": s.pseudo_r2,
        "brier": s.brier,
        "uniform_log_loss": s.uniform_log_loss,
    }


def _table_rows(table: pl.DataFrame) -> list[dict[str, Any]]:
    return table.to_dicts()


@dataclass
class Evaluation:
    """Everything `keiba model evaluate` measures on one set of races."""

    races: int
    runners: int
    scores: dict[str, Score]
    delta_r2: dict[str, tuple[float, float, float]]
    calibration: dict[str, pl.DataFrame]
    conditional: dict[str, dict[str, Any]]
    top_pick_win_rate: dict[str, float]
    breakdowns: dict[str, list[dict[str, Any]]]
    resamples: int
    caveats: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "races": self.races,
            "runners": self.runners,
            "scores": {k: _score_dict(s) for k, s in self.scores.items()},
            "delta_r2_vs_market": {
                k: {"delta": d, "low": lo, "high": hi, "resamples": self.resamples}
                for k, (d, lo, hi) in self.delta_r2.items()
            },
            "calibration": {k: _table_rows(t) for k, t in self.calibration.items()},
            "conditional_calibration": {
                side: {
                    "runners": c["runners"],
                    "observed": c["observed"],
                    "predicted": c["predicted"],
                    "tables": {k: _table_rows(t) for k, t in c["tables"].items()},
                }
                for side, c in self.conditional.items()
            },
            "top_pick_win_rate": self.top_pick_win_rate,
            "breakdowns": self.breakdowns,
            "caveats": self.caveats,
        }

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Flat numeric metrics (names without `@`, MLflow-safe)."""
        out: dict[str, float] = {f"{prefix}races": float(self.races)}
        for key, s in self.scores.items():
            name = NAMES[key].replace(" + ", "_plus_").replace(" ", "_")
            out |= {
                f"{prefix}{name}_log_loss": s.log_loss,
                f"{prefix}{name}_pseudo_r2": s.pseudo_r2,
                f"{prefix}{name}_brier": s.brier,
            }
        for key, (d, lo, hi) in self.delta_r2.items():
            name = "combined" if key == "p_combined" else key.removeprefix("p_")
            out |= {
                f"{prefix}delta_r2_{name}": d,
                f"{prefix}delta_r2_{name}_low": lo,
                f"{prefix}delta_r2_{name}_high": hi,
            }
        for key, rate in self.top_pick_win_rate.items():
            out[f"{prefix}top_pick_win_rate_{key}"] = rate
        for side, c in self.conditional.items():
            out[f"{prefix}{side}_observed"] = c["observed"]
            for key, value in c["predicted"].items():
                out[f"{prefix}{side}_predicted_{key.removeprefix('p_')}"] = value
        return out

    def figure(self) -> Any:
        """The calibration figure (`calibration_figure`)."""
        return calibration_figure(self)


def _conditional(frame: pl.DataFrame, columns: list[str], bins: int) -> dict[str, dict[str, Any]]:
    above = pl.col("p_model") > pl.col("p_market")
    sides = {"model_above_market": frame.filter(above), "model_below_market": frame.filter(~above)}
    result: dict[str, dict[str, Any]] = {}
    for side, rows in sides.items():
        observed = float((rows["won"] > 0).mean()) if rows.height else float("nan")  # type: ignore[arg-type]
        result[side] = {
            "runners": rows.height,
            "observed": observed,
            "predicted": {c: mean(rows[c]) if rows.height else float("nan") for c in columns},
            "tables": {c: calibration_table(rows, c, bins) for c in columns},
        }
    return result


def _breakdown(frame: pl.DataFrame, by: str, columns: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for (value,), part in frame.group_by(by):
        entry: dict[str, Any] = {by: value}
        for c in columns:
            s = score(part, c)
            entry["races"] = s.races
            entry[f"{c.removeprefix('p_')}_log_loss"] = s.log_loss
            entry[f"{c.removeprefix('p_')}_pseudo_r2"] = s.pseudo_r2
        entry["delta_r2_combined"] = entry["combined_pseudo_r2"] - entry["market_pseudo_r2"]
        rows.append(entry)
    return sorted(rows, key=lambda r: (-int(r["races"]), str(r[by])))


def evaluate_frame(
    frame: pl.DataFrame, *, resamples: int = 1000, seed: int = 0, bins: int = 10
) -> Evaluation:
    """Score market, model and combination (and truth, if present) on the same races.

    `frame`: a row per starter with race_id, horse_no, won, p_market, p_model, p_combined,
    optionally p_true and p_knowable, surface and race_class. Races lacking any compared
    probability for any starter, or without a winner, are left out of everything.
    """
    for column in ("race_id", "horse_no", "won", "p_market", "p_model", "p_combined"):
        if column not in frame.columns:
            raise KeibaError(f"the evaluation frame has no {column!r} column")
    columns = ["p_market", "p_model", "p_combined"]
    columns += [
        c for c in ("p_true", "p_knowable") if c in frame.columns and frame[c].is_not_null().any()
    ]
    same = common_races(frame, columns)
    same = same.filter((pl.col("won") > 0).any().over("race_id"))
    if same.is_empty():
        raise KeibaError("no race has every probability for every starter and a winner")
    scores = {c: score(same, c) for c in columns}
    deltas = {
        c: delta_r2_interval(same, c, "p_market", resamples=resamples, seed=seed)
        for c in ("p_combined", "p_model")
    }
    calibration = {NAMES[c]: calibration_table(same, c, bins) for c in columns}
    top = {
        "favourite": top_pick_win_rate(same, "p_market"),
        "model": top_pick_win_rate(same, "p_model"),
        "combined": top_pick_win_rate(same, "p_combined"),
    }
    breakdowns = {
        by: _breakdown(same, by, ["p_market", "p_model", "p_combined"])
        for by in _BREAKDOWNS
        if by in same.columns
    }
    return Evaluation(
        races=scores["p_market"].races,
        runners=same.height,
        scores=scores,
        delta_r2=deltas,
        calibration=calibration,
        conditional=_conditional(same, columns, max(2, bins // 2)),
        top_pick_win_rate=top,
        breakdowns=breakdowns,
        resamples=resamples,
    )


def calibration_figure(evaluation: Evaluation) -> Any:
    """A matplotlib figure: overall calibration, and conditional on model vs market."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4.5))
    panels: list[tuple[str, dict[str, pl.DataFrame]]] = [
        ("all runners", evaluation.calibration),
        *(
            (side.replace("_", " "), {NAMES[k]: t for k, t in c["tables"].items()})
            for side, c in evaluation.conditional.items()
        ),
    ]
    for ax, (title, tables) in zip(axes, panels, strict=True):
        top = 0.01
        for label, table in tables.items():
            if table.is_empty():
                continue
            ax.plot(table["predicted"], table["observed"], marker="o", ms=4, label=label)
            top = max(top, *table["predicted"].to_list(), *table["observed"].to_list())
        ax.plot([0, top], [0, top], color="#999", ls="--", lw=1)
        ax.set_title(title)
        ax.set_xlabel("predicted win probability (bin mean)")
        ax.set_ylabel("observed win frequency")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
