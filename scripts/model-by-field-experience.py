#!/usr/bin/env python3
"""A stored model's winner log-loss by how experienced the field is, next to the world's floors.

    KEIBA_HOME=HOME .venv/bin/python scripts/model-by-field-experience.py \
        --dataset demo-simulated --model fm-… --from 2022-07-03

Scores the model's probabilities (softmax of its scores over each race's starters, as
`keiba model evaluate` gives them) on the races dated from `--from` whose every starter has a
final win odds and whose winner is known, overall and in the groups `keiba data
learnable-floor` uses: races with a debutant (a starter with no earlier start in the dataset),
every starter with an earlier start, every starter with at least five. The true and knowable
probabilities of a simulated dataset are scored beside it, on the same races, as a check that
the races are those `keiba data learnable-floor` scores.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

import polars as pl

from keiba.common.config import load_config
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import FsspecObjectStore
from keiba.evaluator.floors import GROUPS
from keiba.evaluator.metrics import common_races, score
from keiba.feature_engineering.build import read_features
from keiba.model_training.artifacts import load_model
from keiba.model_training.model import predict_proba

_STARTERS = """
    SELECT r.race_id, CAST(r.horse_no AS BIGINT) AS horse_no, ra.race_date,
           CAST(coalesce(r.finish_pos = 1, FALSE) AS DOUBLE) AS first,
           r.win_odds_final, t.p_true, t.p_knowable,
           row_number() OVER (PARTITION BY r.horse_id ORDER BY ra.race_date, r.race_id) - 1
               AS starts_before
    FROM runners r JOIN races ra USING (race_id)
    LEFT JOIN true_probabilities t USING (race_id, horse_no)
    WHERE r.status NOT IN ('scratched', 'excluded')
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", required=True, help="the stored model's version")
    parser.add_argument("--from", dest="first", required=True, type=dt.date.fromisoformat)
    args = parser.parse_args()
    config = load_config().with_dataset(args.dataset)
    model = load_model(FsspecObjectStore(config.object_store_url), args.model)
    with open_dataset(config, must_exist=True, read_only=True) as warehouse:
        starters = warehouse.query(_STARTERS).filter(pl.col("race_date") >= args.first)
        features = read_features(warehouse, args.first, None, feature_version=model.feature_version)
    features = features.with_columns(pl.col("horse_no").cast(pl.Int64)).join(
        starters.select("race_id", "horse_no"), on=["race_id", "horse_no"], how="semi"
    )
    features = features.sort("race_id", "horse_no")
    frame = features.select("race_id", "horse_no").with_columns(
        pl.Series("p_model", predict_proba(model, features))
    )
    frame = starters.join(frame, on=["race_id", "horse_no"], how="left").with_columns(
        (pl.col("first") / pl.col("first").sum().over("race_id")).fill_nan(0.0).alias("won"),
        pl.col("starts_before").min().over("race_id").alias("fewest_starts"),
    )
    frame = common_races(frame, ["p_model", "win_odds_final", "p_true", "p_knowable"])
    frame = frame.filter((pl.col("won") > 0).any().over("race_id"))
    out = {}
    for group, condition in GROUPS.items():
        part = frame.filter(condition)
        scores = {c: score(part, c) for c in ("p_model", "p_true", "p_knowable")}
        out[group] = {"races": scores["p_model"].races} | {
            c: round(s.log_loss, 4) for c, s in scores.items()
        }
    print(json.dumps({"model": args.model, "from": args.first.isoformat(), "groups": out}))


if __name__ == "__main__":
    main()
