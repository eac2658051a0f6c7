"""A small synthetic JRA world for tests: contract frames built from a seeded generator.

Horses have a persistent ability and jockeys a skill; each race's finishing order is drawn from
a Plackett–Luce model with strength `ability_scale * ability + jockey skill`, so the true win
probability is the softmax of strengths over the starters and past form is informative. Frames
match `keiba.common.schema` exactly, so they load into a `DuckDBWarehouse` as they are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import sqlglot
from sqlglot.errors import ErrorLevel

from keiba.common.schema import CONTRACT_TABLES, table
from keiba.common.storage import DuckDBWarehouse, LoadResult

JST = dt.timezone(dt.timedelta(hours=9))
_TYPES = {
    "string": pl.String,
    "int": pl.Int64,
    "float": pl.Float64,
    "bool": pl.Boolean,
    "date": pl.Date,
    "timestamp": pl.Datetime("us", "UTC"),
}
_CLASSES = ("新馬", "未勝利", "1勝", "2勝", "3勝", "OP")
_GOINGS = ("良", "稍重", "重", "不良")
_SEXES = ("牡", "牝", "セ")


def frame(name: str, rows: list[dict[str, object]]) -> pl.DataFrame:
    """A contract-table frame with exactly the schema's columns and dtypes."""
    t = table(name)
    schema = {c.name: _TYPES[c.type.value] for c in t.columns}
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def make_world(
    *,
    seed: int = 0,
    n_days: int = 30,
    venues_per_day: int = 2,
    races_per_venue: int = 6,
    n_horses: int = 250,
    n_jockeys: int = 25,
    n_trainers: int = 15,
    ability_scale: float = 1.0,
    scratch_rate: float = 0.03,
    start: dt.date = dt.date(2021, 1, 9),
) -> dict[str, pl.DataFrame]:
    """Races on `n_days` weekly race days; returns races, runners, payouts, odds frames."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(0.0, 1.0, n_horses)
    skill = rng.normal(0.0, 0.3, n_jockeys)
    sexes = rng.integers(0, 3, n_horses)
    birth = rng.integers(2016, 2019, n_horses)
    trainer_of = rng.integers(0, n_trainers, n_horses)
    body = rng.integers(420, 520, n_horses)
    races: list[dict[str, object]] = []
    runners: list[dict[str, object]] = []
    payouts: list[dict[str, object]] = []
    odds: list[dict[str, object]] = []
    for d in range(n_days):
        day = start + dt.timedelta(days=7 * d)
        free = rng.permutation(n_horses)
        used = 0
        for v in range(venues_per_day):
            venue = 5 + v
            for race_no in range(1, races_per_venue + 1):
                size = int(rng.integers(8, 15))
                horses = free[used : used + size]
                used += size
                race_id = f"{day:%Y%m%d}{venue:02d}01{(d % 8) + 1:02d}{race_no:02d}"
                post = dt.datetime.combine(day, dt.time(10, 0), JST) + dt.timedelta(
                    minutes=30 * (race_no - 1)
                )
                surface = "turf" if rng.random() < 0.5 else "dirt"
                distance = int(rng.choice([1200, 1600, 2000]))
                races.append(
                    {
                        "race_id": race_id,
                        "netkeiba_race_id": f"{day:%Y}{venue:02d}01{(d % 8) + 1:02d}{race_no:02d}",
                        "race_date": day,
                        "venue_code": venue,
                        "meeting": 1,
                        "meeting_day": (d % 8) + 1,
                        "race_no": race_no,
                        "post_time": post.astimezone(dt.UTC),
                        "race_name": f"R{race_no}",
                        "grade": None,
                        "race_class": _CLASSES[int(rng.integers(0, len(_CLASSES)))],
                        "surface": surface,
                        "distance_m": distance,
                        "direction": "右",
                        "going": _GOINGS[int(rng.integers(0, 4))],
                        "weather": "晴",
                        "field_size": size,
                        "source": "test",
                        "ingested_at": None,
                    }
                )
                jockeys = rng.permutation(n_jockeys)[:size]
                scratched = rng.random(size) < scratch_rate
                strength = ability_scale * ability[horses] + skill[jockeys]
                noisy = strength + rng.gumbel(size=size)
                noisy[scratched] = -np.inf
                order = np.argsort(-noisy, kind="stable")
                pos = np.empty(size, dtype=np.int64)
                pos[order] = np.arange(1, size + 1)
                live = ~scratched
                early = np.empty(size, dtype=np.int64)
                early[np.argsort(-strength, kind="stable")] = np.arange(1, size + 1)
                p_true = np.zeros(size)
                e = np.exp(strength[live] - strength[live].max())
                p_true[live] = e / e.sum()
                base = distance / 16.5
                for i, h in enumerate(horses):
                    no = i + 1
                    finished = bool(live[i])
                    win_odds = round(float(max(1.1, 0.8 / max(p_true[i], 1e-3))), 1)
                    runners.append(
                        {
                            "race_id": race_id,
                            "horse_no": no,
                            "frame_no": min(8, (i // 2) + 1),
                            "horse_id": f"{2000000000 + int(h)}",
                            "horse_name": f"Horse{int(h)}",
                            "sex": _SEXES[int(sexes[h])],
                            "age": max(2, min(15, day.year - int(birth[h]))),
                            "jockey_id": f"{10000 + int(jockeys[i])}",
                            "jockey_name": f"J{int(jockeys[i])}",
                            "trainer_id": f"{20000 + int(trainer_of[h])}",
                            "trainer_name": f"T{int(trainer_of[h])}",
                            "weight_carried_kg": float(rng.choice([54.0, 55.0, 56.0, 57.0])),
                            "body_weight_kg": int(body[h] + rng.integers(-6, 7)),
                            "body_weight_diff_kg": int(rng.integers(-6, 7)),
                            "status": "finished" if finished else "scratched",
                            "finish_pos": int(pos[i]) if finished else None,
                            "demoted": False,
                            "finish_time_s": round(base - 0.3 * float(noisy[i]), 1)
                            if finished
                            else None,
                            "margin": None,
                            # early position by strength: no random draw, other values unchanged
                            "passing": f"{int(early[i])}-{int(pos[i])}" if finished else None,
                            "last_3f_s": round(35.0 - 0.2 * float(noisy[i]), 1)
                            if finished
                            else None,
                            "win_odds_final": win_odds if finished else None,
                            "popularity": None,
                        }
                    )
                    if finished:
                        odds.append(
                            {
                                "race_id": race_id,
                                "bet_type": "win",
                                "combination": str(no),
                                "odds": win_odds,
                                "odds_high": None,
                                "pool_yen": None,
                                "as_of": post.astimezone(dt.UTC),
                                "stage": "final",
                            }
                        )
                winner = int(order[0]) + 1
                payouts.append(
                    {
                        "race_id": race_id,
                        "bet_type": "win",
                        "combination": str(winner),
                        "payout_yen": max(100, int(round(0.8 / p_true[winner - 1], 1) * 100)),
                        "popularity": None,
                    }
                )
    return {
        "races": frame("races", races),
        "runners": frame("runners", runners),
        "payouts": frame("payouts", payouts),
        "odds": frame("odds", odds),
    }


def warehouse_of(frames: dict[str, pl.DataFrame]) -> DuckDBWarehouse:
    """An in-memory warehouse holding `frames` (contract tables)."""
    warehouse = DuckDBWarehouse(None)
    warehouse.load({t.name: frames[t.name] for t in CONTRACT_TABLES if t.name in frames})
    return warehouse


def race_ids_on(frames: dict[str, pl.DataFrame], day: dt.date) -> list[str]:
    return frames["races"].filter(pl.col("race_date") == day)["race_id"].to_list()


class RecordingWarehouse:
    """Wraps a warehouse and records every SQL statement it is asked to run."""

    def __init__(self, inner: DuckDBWarehouse) -> None:
        self.inner = inner
        self.statements: list[str] = []

    def ensure_schema(self) -> None:
        self.inner.ensure_schema()

    def load(self, frames: Mapping[str, pl.DataFrame]) -> LoadResult:
        return self.inner.load(frames)

    def query(
        self, sql: str, params: Sequence[Any] | None = None, *, deterministic: bool = False
    ) -> pl.DataFrame:
        self.statements.append(sql)
        return self.inner.query(sql, params, deterministic=deterministic)

    def write_table(
        self,
        name: str,
        frame: pl.DataFrame,
        *,
        replace: bool = True,
        replace_by: str | tuple[str, ...] | None = None,
    ) -> None:
        self.inner.write_table(name, frame, replace=replace, replace_by=replace_by)

    def has_table(self, name: str) -> bool:
        return self.inner.has_table(name)

    def close(self) -> None:
        self.inner.close()


def assert_transpiles_to_bigquery(statements: list[str]) -> None:
    """Every statement parses as DuckDB SQL and generates BigQuery SQL without loss."""
    assert statements
    for sql in statements:
        out = sqlglot.transpile(
            sql, read="duckdb", write="bigquery", unsupported_level=ErrorLevel.RAISE
        )
        assert len(out) == 1
        assert out[0]
