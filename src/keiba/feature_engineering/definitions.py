"""The point-in-time feature set, defined once as SQL run by the warehouse engine.

The query is a chain of named CTE stages (`STAGES`) followed by a final SELECT of the named
features (`FEATURES`). To extend the set, add a stage (if new history is needed) and features
that read it, each in a group (`FEATURE_GROUPS`: form, speed, market, pace, moves, weight,
profile, draw, race, jockey, trainer, field), and bump `FEATURE_VERSION`. One group, `rating`,
is a sequential pass over the starts that SQL cannot express: `keiba.feature_engineering.
ratings` computes it in Python from the rows of `starts_sql`, and the builds join it on.

A race is known by its result (`runners`) or, before it is run, by its card (`entries`, the
latest card: its runners less the scratched and excluded). Both give a starter the same
features: its own pre-race facts come from the one or the other, and its history from results
alone. `feature_sql` can also compute a few races alone (the race day's), with the same values.

Point in time. A race R is decided at its `as_of` instant (post time; 00:00 JST on the race
date when the post time is unknown). Every feature of R uses only:

* R's own pre-race facts (horse and frame numbers, weight carried, body weight and its diff,
  age, sex, distance, surface, class, the number of starters), and
* results of races dated *strictly before* R's date. Results of earlier races on the same day
  are not used: they are not reliably official (or loaded) by the time the later races of the
  day are decided, and using them would make features depend on ingestion timing.

R's own finish positions, times, last 3F, passing order, odds, popularity and payouts are
never read, nor those of any race on R's date or later. The market's view of R is a separate
input (the combination stage's). The final win odds of races dated strictly before R *are*
read, as part of their results: how a horse, jockey or trainer finished against what the
market expected of them then (won − the market's probability, market rank − finish), and how
highly the market rated a horse (its probability × starters). Popularity and payouts are never
read.

Measures of a start that need its whole day (the track variant: how much faster than their
course standards the day's winners at the venue and surface ran, which corrects that day's
speed figures) are part of that day's results, so only races of later days read them.

History is aggregated per (horse, date), (jockey, date), ... first, so windows that exclude
the current row (`... AND 1 PRECEDING`) exclude exactly the current date. Counts of past
starts or rides are 0 for a debutant or a new jockey; every rate, mean, figure or difference
that needs history is NULL (explicit missing), never 0.

The SQL is written in DuckDB's dialect and kept transpilable to BigQuery with sqlglot: no
FILTER clauses, no DuckDB-only functions, ascending window orders on non-null keys say
NULLS FIRST (BigQuery's default) so no null-ordering translation is needed. Sums whose
result must not depend on the order of the rows are taken over exact decimals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from keiba.feature_engineering.ratings import RATING_COLUMNS

__all__ = [
    "FEATURES",
    "FEATURE_COLUMNS",
    "FEATURE_GROUPS",
    "FEATURE_VERSION",
    "SQL_FEATURE_COLUMNS",
    "STAGES",
    "STARTED_SQL",
    "Feature",
    "Stage",
    "columns_without",
    "feature_sql",
    "history_digest_sql",
    "history_sql",
    "starts_sql",
]

FEATURE_VERSION = "v3"

STARTED_SQL = "status NOT IN ('scratched', 'excluded')"
"""A declared runner that started (scratched and excluded runners never ran)."""


@dataclass(frozen=True)
class Stage:
    """One CTE of the feature query: `name AS (sql)`."""

    name: str
    sql: str


@dataclass(frozen=True)
class Feature:
    """One model input: a SQL expression and a description.

    `group` names the kind of evidence it carries (`FEATURE_GROUPS`), the unit a walk-forward
    leaves out to measure what the kind adds. `relative=False` features are expressions over
    the joined history in the `base` stage (aliases `s` for the runner's start, `h`/`hs` horse
    history, `j`/`js` jockey, `t` trainer). `relative=True` features are computed in the
    final SELECT over `base` columns with window functions partitioned by race.
    """

    name: str
    sql: str
    description: str
    group: str = ""
    relative: bool = False


_CLASS_LEVEL = """CASE ra.race_class
      WHEN '新馬' THEN 0 WHEN '未勝利' THEN 1 WHEN '1勝' THEN 2 WHEN '2勝' THEN 3 WHEN '3勝' THEN 4
      ELSE CASE ra.grade WHEN 'G1' THEN 8 WHEN 'G2' THEN 7 WHEN 'G3' THEN 6 WHEN 'L' THEN 5.5
        ELSE 5 END
    END"""

_PRIOR_ALL = "ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"


def _standard_stages(name: str, keys: str) -> tuple[Stage, Stage]:
    """Mean winning time per `keys`, from races on dates strictly before each date."""
    day = Stage(
        f"{name}_day",
        f"""SELECT {keys}, day_no,
      SUM(win_time) AS t, COUNT(win_time) AS n
    FROM race_win GROUP BY {keys}, day_no""",
    )
    prior = Stage(
        name,
        f"""SELECT {keys}, day_no,
      SUM(t) OVER w AS t_prior, SUM(n) OVER w AS n_prior
    FROM {name}_day
    WINDOW w AS (PARTITION BY {keys} ORDER BY day_no NULLS FIRST {_PRIOR_ALL})""",
    )
    return day, prior


def _people_stages(
    name: str, keys: str, keep: str = "", windows: tuple[int, ...] = (365,)
) -> tuple[Stage, Stage]:
    """Rides (with a known result), wins, top-3s and the sum of (won − market probability)
    over starts the market priced, per `keys` (of the rows `keep`, an SQL condition, allows),
    over each of the previous `windows` days (columns suffixed `_D`, none for 365)."""
    not_null = " AND ".join(
        [*(f"{k} IS NOT NULL" for k in keys.split(", ")), *([keep] if keep else [])]
    )
    day = Stage(
        f"{name}_day",
        f"""SELECT {keys}, day_no,
      SUM(known) AS n, SUM(won) AS wins, SUM(top3) AS top3s,
      SUM({_exact("mkt_excess")}) AS excess, COUNT(mkt_excess) AS priced
    FROM results WHERE {not_null} GROUP BY {keys}, day_no""",
    )
    sums = []
    for days in windows:
        suffix = "" if days == 365 else f"_{days}"
        sums += [f"SUM({c}) OVER w{days} AS {c}{suffix}" for c in ("n", "wins", "top3s")]
        if days == 365:
            sums += [f"SUM({c}) OVER w365 AS {c}" for c in ("excess", "priced")]
    over = ",\n      ".join(
        f"w{d} AS (PARTITION BY {keys} ORDER BY day_no NULLS FIRST "
        f"RANGE BETWEEN {d} PRECEDING AND 1 PRECEDING)"
        for d in windows
    )
    prior = Stage(
        name,
        f"""SELECT {keys}, day_no,
      {", ".join(sums)}
    FROM {name}_day
    WINDOW {over}""",
    )
    return day, prior


def _class_level(alias: str) -> str:
    return _CLASS_LEVEL.replace("ra.", f"{alias}.")


_RUNNER_STARTS = f"""SELECT r.race_id, r.horse_no, ra.race_date,
      COALESCE(ra.post_time, CAST(ra.race_date AS TIMESTAMPTZ) - INTERVAL 9 HOUR) AS as_of,
      ra.venue_code, ra.surface, ra.distance_m, COALESCE(ra.going, '?') AS going,
      {_class_level("ra")} AS class_level,
      COALESCE(r.horse_id, 'name:' || r.horse_name) AS horse_key,
      COALESCE(r.jockey_id, 'name:' || r.jockey_name) AS jockey_key,
      COALESCE(r.trainer_id, 'name:' || r.trainer_name) AS trainer_key,
      r.frame_no, r.sex, r.age, r.weight_carried_kg, r.body_weight_kg, r.body_weight_diff_kg,
      r.status, r.finish_pos, r.finish_time_s, r.last_3f_s, r.passing,
      r.win_odds_final AS win_odds
    FROM runners r JOIN races ra ON ra.race_id = r.race_id
    WHERE r.{STARTED_SQL}"""

# A card's race has not been run: its going is unknown and its starters have no outcome.
_CARD_STARTS = f"""SELECT c.race_id, c.horse_no, c.race_date,
      COALESCE(c.post_time, CAST(c.race_date AS TIMESTAMPTZ) - INTERVAL 9 HOUR) AS as_of,
      c.venue_code, c.surface, c.distance_m, '?' AS going,
      {_class_level("c")} AS class_level,
      COALESCE(c.horse_id, 'name:' || c.horse_name) AS horse_key,
      COALESCE(c.jockey_id, 'name:' || c.jockey_name) AS jockey_key,
      COALESCE(c.trainer_id, 'name:' || c.trainer_name) AS trainer_key,
      c.frame_no, c.sex, c.age, c.weight_carried_kg, c.body_weight_kg, c.body_weight_diff_kg,
      c.status, CAST(NULL AS BIGINT) AS finish_pos, CAST(NULL AS DOUBLE) AS finish_time_s,
      CAST(NULL AS DOUBLE) AS last_3f_s, CAST(NULL AS VARCHAR) AS passing,
      CAST(NULL AS DOUBLE) AS win_odds
    FROM card c
    WHERE c.{STARTED_SQL}"""


def _card_stage(bounded: bool) -> Stage:
    """The latest card (at or before the build's `as_of` when `bounded`) of each race that has
    no `runners` rows yet: a race with a result is described by its result."""
    until = " WHERE as_of <= ?" if bounded else ""
    return Stage(
        "card",
        f"""SELECT e.* FROM entries e
    JOIN (SELECT race_id, MAX(as_of) AS card_as_of FROM entries{until} GROUP BY race_id) l
      ON l.race_id = e.race_id AND l.card_as_of = e.as_of
    WHERE NOT EXISTS (SELECT 1 FROM runners r WHERE r.race_id = e.race_id)""",
    )


def _started_stages(cards: bool, bounded: bool) -> tuple[Stage, ...]:
    """`started`: every starter (declared and not withdrawn), from results and, with `cards`,
    from the cards of races not yet run."""
    started = _RUNNER_STARTS + (f"\n    UNION ALL\n    {_CARD_STARTS}" if cards else "")
    return (*((_card_stage(bounded),) if cards else ()), Stage("started", started))


def _starts_stages(cards: bool, bounded: bool, where: str = "") -> tuple[Stage, ...]:
    """`starts`: the starters (those `where`, an SQL condition, allows) with their race's
    number of starters."""
    only = f"\n    WHERE {where}" if where else ""
    return (
        *_started_stages(cards, bounded),
        Stage(
            "starts",
            f"""SELECT *, DATE_DIFF('day', DATE '1970-01-01', race_date) AS day_no,
      COUNT(*) OVER (PARTITION BY race_id) AS starters
    FROM started{only}""",
        ),
    )


def _exact(value: str) -> str:
    """`value` as an exact decimal: sums of these do not depend on the order of the rows (which
    differs between a build of the whole table and a build of a few races)."""
    return f"CAST({value} AS DECIMAL(18, 9))"


_OUTCOMES = f"""CASE WHEN s.status IN ('did_not_finish', 'disqualified') THEN 1.0
        WHEN s.finish_pos IS NOT NULL THEN CAST(s.finish_pos AS DOUBLE) / s.starters
      END AS finish_pct,
      CASE WHEN s.status IN ('did_not_finish', 'disqualified') OR s.finish_pos IS NOT NULL
        THEN 1 ELSE 0 END AS known,
      CASE WHEN s.status = 'finished' AND s.finish_pos = 1 THEN 1 ELSE 0 END AS won,
      CASE WHEN s.status = 'finished' AND s.finish_pos <= 3 THEN 1 ELSE 0 END AS top3,
      CASE WHEN s.last_3f_s IS NOT NULL AND s.status = 'finished' THEN
        CAST(RANK() OVER (PARTITION BY s.race_id, s.last_3f_s IS NULL, s.status
          ORDER BY s.last_3f_s NULLS FIRST) AS DOUBLE)
        / COUNT(CASE WHEN s.status = 'finished' THEN s.last_3f_s END)
          OVER (PARTITION BY s.race_id)
      END AS l3f_pct,
      CASE WHEN s.status = 'finished' THEN s.last_3f_s - CAST(AVG(CASE WHEN s.status = 'finished'
        THEN {_exact("s.last_3f_s")} END) OVER (PARTITION BY s.race_id) AS DOUBLE) END AS l3f_diff,
      TRY_CAST(REGEXP_EXTRACT(s.passing, '^[0-9]+') AS DOUBLE) / s.starters AS early_pct,
      CASE WHEN s.status = 'finished' THEN
        (CASE WHEN g.n_prior >= 3 THEN g.t_prior / g.n_prior
          WHEN c.n_prior >= 3 THEN c.t_prior / c.n_prior END - s.finish_time_s)
        * 100.0 / s.distance_m
      END AS speed_fig,
      CASE WHEN s.status = 'finished' AND c.n_prior >= 3 THEN
        (c.t_prior / c.n_prior - s.finish_time_s) * 100.0 / s.distance_m
      END AS course_fig,
      CASE WHEN s.win_odds > 1 THEN CAST(1.0 / s.win_odds AS DOUBLE) / CAST(SUM(
        CASE WHEN s.win_odds > 1 THEN {_exact("1.0 / s.win_odds")} END
      ) OVER (PARTITION BY s.race_id) AS DOUBLE) END AS p_mkt,
      CASE WHEN s.win_odds > 1 THEN CAST(RANK() OVER (PARTITION BY s.race_id,
        s.win_odds > 1 ORDER BY s.win_odds NULLS FIRST) AS DOUBLE) / s.starters
      END AS mkt_rank_pct"""


def _results_stages(name: str = "results") -> tuple[Stage, ...]:
    """Race standards, and `name`: every start with its outcome measures (finish percentile,
    last-3F rank and difference, early position, speed figures against the standards of
    earlier days, the day's track variant, the market's probability and rank of the start)."""
    return (
        Stage(
            "race_win",
            """SELECT race_id, day_no, venue_code, surface, distance_m, going,
      MIN(CASE WHEN status = 'finished' AND finish_pos = 1 THEN finish_time_s END) AS win_time
    FROM starts GROUP BY race_id, day_no, venue_code, surface, distance_m, going""",
        ),
        *_standard_stages("std_going", "venue_code, surface, distance_m, going"),
        *_standard_stages("std_course", "venue_code, surface, distance_m"),
        Stage(
            f"{name}_raw",
            f"""SELECT s.*,
      {_OUTCOMES}
    FROM starts s
    LEFT JOIN std_going g ON g.venue_code = s.venue_code AND g.surface = s.surface
      AND g.distance_m = s.distance_m AND g.going = s.going AND g.day_no = s.day_no
    LEFT JOIN std_course c ON c.venue_code = s.venue_code AND c.surface = s.surface
      AND c.distance_m = s.distance_m AND c.day_no = s.day_no""",
        ),
        # the track variant: how much faster than their course standards the day's winners
        # at the venue and surface ran (it corrects the day's figures, read by later races)
        Stage(
            f"{name}_variant",
            f"""SELECT venue_code, surface, day_no, AVG({_exact("course_fig")}) AS variant
    FROM {name}_raw WHERE won = 1 GROUP BY venue_code, surface, day_no""",
        ),
        Stage(
            name,
            f"""SELECT r.*, r.course_fig - v.variant AS speedv_fig,
      CASE WHEN r.known = 1 AND r.p_mkt IS NOT NULL THEN r.won - r.p_mkt END AS mkt_excess,
      r.mkt_rank_pct - r.finish_pct AS beat_mkt,
      r.p_mkt * r.starters AS mkt_rating,
      r.early_pct - r.finish_pct AS gain,
      CASE WHEN r.finish_pct IS NOT NULL THEN 0.5 * (r.starters + 1) / r.starters
        - r.finish_pct END AS draw_excess
    FROM {name}_raw r
    LEFT JOIN {name}_variant v ON v.venue_code = r.venue_code AND v.surface = r.surface
      AND v.day_no = r.day_no""",
        ),
    )


def _history_stages(targeted: bool) -> tuple[Stage, ...]:
    """The per-horse, per-jockey and per-trainer histories over `results`, and each course's
    frames'; `targeted` keeps only the horses, jockeys, trainers and courses of the target races
    (same values, less work)."""
    keys = ("horse_key", "jockey_key", "trainer_key")
    keep = {k: f"{k} IN (SELECT {k} FROM targets)" if targeted else "" for k in keys}
    where = {k: f" WHERE {v}" if v else "" for k, v in keep.items()}
    course = (
        "\n    JOIN (SELECT DISTINCT venue_code, surface, distance_m FROM targets) k"
        " USING (venue_code, surface, distance_m)"
        if targeted
        else ""
    )
    return (
        Stage(
            "horse_day",
            f"""SELECT horse_key, day_no,
      COUNT(*) AS n_starts, SUM(known) AS n_known, SUM(won) AS n_won, SUM(top3) AS n_top3,
      AVG(finish_pct) AS finish_pct, AVG(l3f_pct) AS l3f_pct, MAX(speed_fig) AS speed_fig,
      MAX(speedv_fig) AS speedv_fig, AVG(l3f_diff) AS l3f_diff, AVG(early_pct) AS early_pct,
      AVG(gain) AS gain, SUM({_exact("mkt_excess")}) AS excess, COUNT(mkt_excess) AS priced,
      AVG(beat_mkt) AS beat_mkt, AVG(mkt_rating) AS mkt_rating,
      AVG(distance_m) AS distance_m, AVG(class_level) AS class_level,
      MAX(CASE WHEN top3 = 1 THEN class_level END) AS placed_class_level,
      AVG(weight_carried_kg) AS weight_carried_kg, MIN(jockey_key) AS jockey_key
    FROM results{where["horse_key"]} GROUP BY horse_key, day_no""",
        ),
        Stage(
            "horse_hist",
            f"""SELECT horse_key, day_no,
      SUM(n_starts) OVER w_all AS starts, SUM(n_known) OVER w_all AS known,
      SUM(n_won) OVER w_all AS wins, SUM(n_top3) OVER w_all AS top3s,
      AVG(finish_pct) OVER w3 AS finish_pct_mean3, AVG(finish_pct) OVER w5 AS finish_pct_mean5,
      AVG(l3f_pct) OVER w3 AS l3f_pct_mean3,
      AVG(speed_fig) OVER w3 AS speed_mean3, MAX(speed_fig) OVER w5 AS speed_best5,
      LAG(finish_pct) OVER w AS finish_pct_last, LAG(speed_fig) OVER w AS speed_last,
      LAG(speedv_fig) OVER w AS speedv_last, AVG(speedv_fig) OVER w3 AS speedv_mean3,
      MAX(speedv_fig) OVER w5 AS speedv_best5,
      AVG(l3f_diff) OVER w3 AS l3f_diff_mean3, AVG(early_pct) OVER w3 AS early_pct_mean3,
      AVG(gain) OVER w3 AS gain_mean3,
      SUM(excess) OVER w_all AS excess, SUM(priced) OVER w_all AS priced,
      SUM(excess) OVER w5 AS excess5, SUM(priced) OVER w5 AS priced5,
      AVG(beat_mkt) OVER w5 AS beat_mkt_mean5, AVG(mkt_rating) OVER w3 AS mkt_rating_mean3,
      LAG(mkt_rating) OVER w AS mkt_rating_last,
      SUM(n_starts) OVER w90 AS starts_90d,
      AVG(class_level) OVER w_all AS class_level_mean,
      MAX(placed_class_level) OVER w_all AS placed_class_best,
      LAG(day_no) OVER w AS prev_day_no, LAG(day_no, 2) OVER w AS prev2_day_no,
      LAG(distance_m) OVER w AS prev_distance_m,
      LAG(class_level) OVER w AS prev_class_level,
      LAG(weight_carried_kg) OVER w AS prev_weight_carried_kg,
      LAG(jockey_key) OVER w AS prev_jockey_key
    FROM horse_day
    WINDOW w AS (PARTITION BY horse_key ORDER BY day_no NULLS FIRST),
      w_all AS (PARTITION BY horse_key ORDER BY day_no NULLS FIRST {_PRIOR_ALL}),
      w3 AS (PARTITION BY horse_key ORDER BY day_no NULLS FIRST
        ROWS BETWEEN 3 PRECEDING AND 1 PRECEDING),
      w5 AS (PARTITION BY horse_key ORDER BY day_no NULLS FIRST
        ROWS BETWEEN 5 PRECEDING AND 1 PRECEDING),
      w90 AS (PARTITION BY horse_key ORDER BY day_no NULLS FIRST
        RANGE BETWEEN 90 PRECEDING AND 1 PRECEDING)""",
        ),
        Stage(
            "horse_surface_day",
            f"""SELECT horse_key, surface, day_no,
      COUNT(*) AS n_starts, SUM(known) AS n_known, SUM(top3) AS n_top3
    FROM results{where["horse_key"]} GROUP BY horse_key, surface, day_no""",
        ),
        Stage(
            "horse_surface_hist",
            f"""SELECT horse_key, surface, day_no,
      SUM(n_starts) OVER w AS starts, SUM(n_known) OVER w AS known, SUM(n_top3) OVER w AS top3s
    FROM horse_surface_day
    WINDOW w AS (PARTITION BY horse_key, surface ORDER BY day_no NULLS FIRST {_PRIOR_ALL})""",
        ),
        *_people_stages("jockey_hist", "jockey_key", keep["jockey_key"], (30, 90, 365)),
        *_people_stages("jockey_surface_hist", "jockey_key, surface", keep["jockey_key"]),
        *_people_stages("trainer_hist", "trainer_key", keep["trainer_key"], (90, 365)),
        *_people_stages("pair_hist", "jockey_key, trainer_key", keep["jockey_key"]),
        Stage(
            "draw_day",
            f"""SELECT {_DRAW_KEYS}, day_no,
      SUM({_exact("draw_excess")}) AS excess, COUNT(draw_excess) AS n
    FROM results{course}
    WHERE frame_no IS NOT NULL GROUP BY {_DRAW_KEYS}, day_no""",
        ),
        Stage(
            "draw_hist",
            f"""SELECT {_DRAW_KEYS}, day_no,
      SUM(excess) OVER w AS excess, SUM(n) OVER w AS n
    FROM draw_day
    WINDOW w AS (PARTITION BY {_DRAW_KEYS} ORDER BY day_no NULLS FIRST
      RANGE BETWEEN 1095 PRECEDING AND 1 PRECEDING)""",
        ),
    )


_DRAW_KEYS = "venue_code, surface, distance_m, frame_no"


def _rate(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / NULLIF({denominator}, 0)"


def _count(key: str, value: str) -> str:
    """A count of past events: 0 when there are none, NULL only when the person is unknown."""
    return f"CASE WHEN s.{key} IS NULL THEN NULL ELSE COALESCE({value}, 0) END"


def _in(group: str, *features: Feature) -> tuple[Feature, ...]:
    return tuple(replace(f, group=group) for f in features)


_BASE_FEATURES: tuple[Feature, ...] = (
    *_in(
        "form",
        Feature("horse_starts", _count("horse_key", "h.starts"), "past starts (0 for a debut)"),
        Feature("horse_finish_pct_last", "h.finish_pct_last", "finish position / starters, last"),
        Feature("horse_finish_pct_mean3", "h.finish_pct_mean3", "mean finish percentile, last 3"),
        Feature("horse_finish_pct_mean5", "h.finish_pct_mean5", "mean finish percentile, last 5"),
        Feature("horse_win_rate", _rate("h.wins", "h.known"), "wins / past starts with a result"),
        Feature("horse_top3_rate", _rate("h.top3s", "h.known"), "top-3 finishes / past starts"),
        Feature(
            "horse_surface_starts", _count("horse_key", "hs.starts"), "past starts, this surface"
        ),
        Feature(
            "horse_surface_top3_rate", _rate("hs.top3s", "hs.known"), "top-3 rate, this surface"
        ),
    ),
    *_in(
        "speed",
        Feature("horse_speed_last", "h.speed_last", "speed figure of the last run"),
        Feature("horse_speed_mean3", "h.speed_mean3", "mean speed figure, last 3"),
        Feature("horse_speed_best5", "h.speed_best5", "best speed figure, last 5"),
        Feature("horse_speedv_last", "h.speedv_last", "variant-corrected speed figure, last run"),
        Feature("horse_speedv_mean3", "h.speedv_mean3", "mean variant-corrected figure, last 3"),
        Feature("horse_speedv_best5", "h.speedv_best5", "best variant-corrected figure, last 5"),
    ),
    *_in(
        "market",
        Feature(
            "horse_mkt_excess",
            _rate("h.excess", "h.priced"),
            "mean of (won − market probability) over past starts",
        ),
        Feature(
            "horse_mkt_excess5",
            _rate("h.excess5", "h.priced5"),
            "mean of (won − market probability) over the last 5 starts",
        ),
        Feature(
            "horse_beat_mkt_mean5",
            "h.beat_mkt_mean5",
            "mean of (market rank − finish position) / starters, last 5",
        ),
        Feature(
            "horse_mkt_rating_last",
            "h.mkt_rating_last",
            "market probability × starters, last run (1 = an average runner)",
        ),
        Feature("horse_mkt_rating_mean3", "h.mkt_rating_mean3", "mean market rating, last 3"),
        Feature(
            "jockey_mkt_excess_365d",
            _rate("j.excess", "j.priced"),
            "jockey's mean of (won − market probability), 365 d",
        ),
        Feature(
            "trainer_mkt_excess_365d",
            _rate("t.excess", "t.priced"),
            "trainer's mean of (won − market probability), 365 d",
        ),
    ),
    *_in(
        "pace",
        Feature("horse_l3f_pct_mean3", "h.l3f_pct_mean3", "mean last-3F rank percentile, last 3"),
        Feature(
            "horse_l3f_diff_mean3", "h.l3f_diff_mean3", "mean last 3F − its race's mean, last 3"
        ),
        Feature(
            "horse_early_pct_mean3",
            "h.early_pct_mean3",
            "mean first-corner position / starters, last 3",
        ),
        Feature(
            "horse_gain_mean3",
            "h.gain_mean3",
            "mean first-corner minus finish percentile (ground made up), last 3",
        ),
    ),
    *_in(
        "moves",
        Feature("horse_days_since_last", "s.day_no - h.prev_day_no", "days since the last run"),
        Feature("distance_change_m", "s.distance_m - h.prev_distance_m", "distance vs last run"),
        Feature("class_change", "s.class_level - h.prev_class_level", "class level vs last run"),
        Feature("horse_starts_90d", _count("horse_key", "h.starts_90d"), "starts, previous 90 d"),
        Feature(
            "horse_prev_gap_days",
            "h.prev_day_no - h.prev2_day_no",
            "days between the last two runs",
        ),
        Feature(
            "class_vs_mean", "s.class_level - h.class_level_mean", "class level vs its past mean"
        ),
        Feature(
            "class_vs_placed_best",
            "s.class_level - h.placed_class_best",
            "class level vs the highest class it finished top 3 in",
        ),
    ),
    *_in(
        "weight",
        Feature("weight_carried_kg", "s.weight_carried_kg", "weight carried (斤量)"),
        Feature(
            "weight_carried_change_kg",
            "s.weight_carried_kg - h.prev_weight_carried_kg",
            "weight carried vs last run",
        ),
        Feature("body_weight_kg", "s.body_weight_kg", "body weight (announced before post)"),
        Feature("body_weight_diff_kg", "s.body_weight_diff_kg", "body weight change (announced)"),
    ),
    *_in(
        "profile",
        Feature("age", "s.age", "age in years"),
        Feature(
            "sex_code",
            "CASE s.sex WHEN '牡' THEN 0 WHEN '牝' THEN 1 WHEN 'セ' THEN 2 END",
            "sex: 0 colt/horse, 1 filly/mare, 2 gelding",
        ),
    ),
    *_in(
        "draw",
        Feature("frame_no", "s.frame_no", "frame number (枠番)"),
        Feature("horse_number", "s.horse_no", "horse number (馬番) as a model input"),
        Feature(
            "draw_bias",
            "CASE WHEN d.n >= 30 THEN CAST(d.excess AS DOUBLE) / d.n END",
            "this frame at this course and distance: mean finish percentile better than the "
            "field's middle, previous 3 years (≥ 30 starts)",
        ),
    ),
    *_in(
        "race",
        Feature("field_size", "s.starters", "number of starters"),
        Feature("distance_m", "s.distance_m", "race distance"),
        Feature(
            "surface_code",
            "CASE s.surface WHEN 'turf' THEN 0 WHEN 'dirt' THEN 1 WHEN 'jump' THEN 2 END",
            "surface: 0 turf, 1 dirt, 2 jump",
        ),
        Feature("class_level", "s.class_level", "race class: 0 新馬 … 5 OP, 5.5 L, 6–8 G3–G1"),
    ),
    *_in(
        "jockey",
        Feature("jockey_rides_365d", _count("jockey_key", "j.n"), "jockey's rides, previous 365 d"),
        Feature("jockey_win_rate_365d", _rate("j.wins", "j.n"), "jockey's win rate, 365 d"),
        Feature("jockey_top3_rate_365d", _rate("j.top3s", "j.n"), "jockey's top-3 rate, 365 d"),
        Feature(
            "jockey_surface_rides_365d",
            _count("jockey_key", "js.n"),
            "jockey's rides on this surface, 365 d",
        ),
        Feature(
            "jockey_surface_win_rate_365d",
            _rate("js.wins", "js.n"),
            "jockey's win rate on this surface, 365 d",
        ),
        Feature("jockey_rides_30d", _count("jockey_key", "j.n_30"), "jockey's rides, 30 d"),
        Feature("jockey_win_rate_30d", _rate("j.wins_30", "j.n_30"), "jockey's win rate, 30 d"),
        Feature("jockey_win_rate_90d", _rate("j.wins_90", "j.n_90"), "jockey's win rate, 90 d"),
        Feature("jockey_top3_rate_90d", _rate("j.top3s_90", "j.n_90"), "jockey's top-3 rate, 90 d"),
        Feature(
            "jockey_changed",
            "CASE WHEN s.jockey_key IS NULL OR h.prev_jockey_key IS NULL THEN NULL"
            " WHEN s.jockey_key = h.prev_jockey_key THEN 0 ELSE 1 END",
            "1 if the jockey is not the one of the horse's last run",
        ),
    ),
    *_in(
        "trainer",
        Feature("trainer_runners_365d", _count("trainer_key", "t.n"), "trainer's runners, 365 d"),
        Feature("trainer_win_rate_365d", _rate("t.wins", "t.n"), "trainer's win rate, 365 d"),
        Feature("trainer_top3_rate_365d", _rate("t.top3s", "t.n"), "trainer's top-3 rate, 365 d"),
        Feature("trainer_win_rate_90d", _rate("t.wins_90", "t.n_90"), "trainer's win rate, 90 d"),
        Feature(
            "pair_rides_365d",
            "CASE WHEN s.jockey_key IS NULL OR s.trainer_key IS NULL THEN NULL"
            " ELSE COALESCE(p.n, 0) END",
            "rides of this jockey for this trainer, 365 d",
        ),
        Feature("pair_win_rate_365d", _rate("p.wins", "p.n"), "jockey × trainer win rate, 365 d"),
    ),
)


def _relative(column: str, higher_is_better: bool) -> tuple[Feature, Feature]:
    """Rank (1 = best, among runners with a value) and z-score of `column` within the race
    (in `column`'s group)."""
    group = next(f.group for f in _BASE_FEATURES if f.name == column)
    order = "DESC" if higher_is_better else "ASC NULLS FIRST"
    partition = f"PARTITION BY race_id, {column} IS NULL"
    rank = Feature(
        f"{column}_rank",
        f"CASE WHEN {column} IS NOT NULL THEN RANK() OVER ({partition} ORDER BY {column} {order})"
        " END",
        f"rank of {column} within the race (1 = best)",
        group,
        relative=True,
    )
    sd = f"STDDEV_POP({column}) OVER (PARTITION BY race_id)"
    z = Feature(
        f"{column}_z",
        f"CASE WHEN {column} IS NULL THEN NULL WHEN {sd} > 0 THEN "
        f"({column} - AVG({column}) OVER (PARTITION BY race_id)) / {sd} ELSE 0 END",
        f"z-score of {column} within the race",
        group,
        relative=True,
    )
    return rank, z


def _rivals_mean(column: str, name: str, group: str) -> Feature:
    """The mean of `column` over the runner's rivals in the race (those with a value); summed
    as exact decimals, so the order of the rows (which differs from a build of the whole
    table to a build of one race) cannot change the last digit."""
    race = "OVER (PARTITION BY race_id)"
    exact = f"CAST({column} AS DECIMAL(18, 9))"
    rivals = f"COUNT({column}) {race} - CASE WHEN {column} IS NULL THEN 0 ELSE 1 END"
    return Feature(
        name,
        f"CAST(SUM({exact}) {race} - COALESCE({exact}, 0) AS DOUBLE) / NULLIF({rivals}, 0)",
        f"mean {column} of the rivals in the race",
        group,
        relative=True,
    )


_RELATIVE_FEATURES: tuple[Feature, ...] = (
    *_relative("horse_speed_best5", higher_is_better=True),
    *_relative("horse_speed_mean3", higher_is_better=True),
    *_relative("horse_finish_pct_mean5", higher_is_better=False),
    *_relative("jockey_win_rate_365d", higher_is_better=True),
    *_relative("horse_speedv_best5", higher_is_better=True),
    *_relative("horse_mkt_rating_mean3", higher_is_better=True),
    *_relative("horse_early_pct_mean3", higher_is_better=False),
    *_relative("weight_carried_kg", higher_is_better=False),
    Feature(
        "field_front_runners",
        "COUNT(CASE WHEN horse_early_pct_mean3 <= 0.25 THEN 1 END) OVER (PARTITION BY race_id)",
        "runners in the race that were near the front early (mean first-corner pct ≤ 0.25)",
        "pace",
        relative=True,
    ),
    _rivals_mean("horse_speedv_best5", "field_rivals_speedv_best5", "field"),
    _rivals_mean("horse_mkt_rating_mean3", "field_rivals_mkt_rating", "field"),
    _rivals_mean("horse_finish_pct_mean5", "field_rivals_finish_pct_mean5", "field"),
)

FEATURES: tuple[Feature, ...] = (*_BASE_FEATURES, *_RELATIVE_FEATURES)
STAGES: tuple[Stage, ...] = (
    *_starts_stages(False, False),
    *_results_stages(),
    *_history_stages(False),
)
"""The history stages of a build over `runners` alone (see `feature_sql` for the variants)."""
DIGITS = 9
"""Decimal places every feature is rounded to (far below any meaningful difference)."""
SQL_FEATURE_COLUMNS: tuple[str, ...] = tuple(f.name for f in FEATURES)
"""The columns `feature_sql` computes, in order (all DOUBLE)."""
FEATURE_COLUMNS: tuple[str, ...] = (*SQL_FEATURE_COLUMNS, *RATING_COLUMNS)
"""The model inputs, in order (all DOUBLE): the SQL features, then the `rating` group's."""
FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    **{
        group: tuple(f.name for f in FEATURES if f.group == group)
        for group in dict.fromkeys(f.group for f in FEATURES)
    },
    "rating": RATING_COLUMNS,
}
"""Each group's feature columns, groups in the order of their first feature."""


def columns_without(groups: Sequence[str]) -> tuple[str, ...]:
    """`FEATURE_COLUMNS` less the columns of `groups` (ValueError for an unknown group)."""
    unknown = sorted(set(groups) - set(FEATURE_GROUPS))
    if unknown:
        raise ValueError(
            f"unknown feature group {', '.join(unknown)}; the groups are "
            + ", ".join(FEATURE_GROUPS)
        )
    dropped = {c for g in groups for c in FEATURE_GROUPS[g]}
    return tuple(c for c in FEATURE_COLUMNS if c not in dropped)


_BASE_JOINS = """FROM starts s
    LEFT JOIN horse_hist h ON h.horse_key = s.horse_key AND h.day_no = s.day_no
    LEFT JOIN horse_surface_hist hs ON hs.horse_key = s.horse_key AND hs.surface = s.surface
      AND hs.day_no = s.day_no
    LEFT JOIN jockey_hist j ON j.jockey_key = s.jockey_key AND j.day_no = s.day_no
    LEFT JOIN jockey_surface_hist js ON js.jockey_key = s.jockey_key
      AND js.surface = s.surface AND js.day_no = s.day_no
    LEFT JOIN trainer_hist t ON t.trainer_key = s.trainer_key AND t.day_no = s.day_no
    LEFT JOIN pair_hist p ON p.jockey_key = s.jockey_key AND p.trainer_key = s.trainer_key
      AND p.day_no = s.day_no
    LEFT JOIN draw_hist d ON d.venue_code = s.venue_code AND d.surface = s.surface
      AND d.distance_m = s.distance_m AND d.frame_no = s.frame_no AND d.day_no = s.day_no"""


def _base_stage(targeted: bool) -> Stage:
    # Rounded so that parallel float aggregation (whose summation order varies from run to
    # run) cannot change a feature, a rank or a model trained on them.
    columns = ",\n      ".join(
        f"ROUND(CAST({f.sql} AS DOUBLE), {DIGITS}) AS {f.name}" for f in _BASE_FEATURES
    )
    only = "\n    WHERE s.race_id IN (SELECT race_id FROM targets)" if targeted else ""
    return Stage(
        "base",
        f"SELECT s.race_id, s.horse_no, s.race_date, s.as_of,\n      {columns}\n    {_BASE_JOINS}"
        + only,
    )


_TARGETS = Stage(
    "targets",
    """SELECT race_id, horse_key, jockey_key, trainer_key, venue_code, surface, distance_m
    FROM starts WHERE race_id IN (SELECT unnest(?))""",
)
_ONLY_TARGETS = "race_id IN (SELECT unnest(?))"


def _with(stages: Sequence[Stage]) -> str:
    return "WITH " + ",\n".join(f"{stage.name} AS (\n    {stage.sql}\n)" for stage in stages)


def history_sql(*, cards: bool = False, until: bool = False) -> str:
    """The `results` stage of every start dated before a day (parameters: the instant of
    `feature_sql`, then the day): what the builds of that day's races share.

    A start's results row depends on its own race and on races of earlier days alone, and the
    features of a race on day D read only the rows of days before D, so `feature_sql(history=
    TABLE)` with these rows stored in TABLE gives D's races the values of a full build."""
    stages = (*_starts_stages(cards, cards and until, "race_date < ?"), *_results_stages())
    return f"{_with(stages)}\nSELECT * FROM results ORDER BY race_id, horse_no"


def starts_sql(*, cards: bool = False, until: bool = False, dates: str = "") -> str:
    """Every starter with what the `rating` group reads: race_id, horse_no, day_no, the horse,
    jockey and trainer keys, surface, distance_m, finish_pos (null without a result) and the
    final win odds (null without a result), by day, race and horse number. Parameters: with
    `cards` and `until`, the instant after which no card is read; with `dates` (a comparison:
    "<", "<=" or "="), a date: only starts whose date compares so to it."""
    if dates not in ("", "<", "<=", "="):
        raise ValueError(f"not a comparison of dates: {dates!r}")
    where = f"race_date {dates} ?" if dates else ""
    stages = _starts_stages(cards, cards and until, where)
    return (
        f"{_with(stages)}\n"
        "SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, day_no, horse_key, jockey_key,\n"
        "  trainer_key, surface, distance_m,\n"
        "  CASE WHEN status = 'finished' THEN finish_pos END AS finish_pos, win_odds\n"
        "FROM starts ORDER BY day_no, race_id, horse_no"
    )


def history_digest_sql(*, cards: bool = False, until: bool = False) -> str:
    """One row (`n`, `digest`): the number of starts dated before a day and a sum of their
    rows' hashes (parameters as `history_sql`). What `history_sql` reads is unchanged while
    these are."""
    return (
        f"{_with(_started_stages(cards, cards and until))}\n"
        "SELECT COUNT(*) AS n, CAST(SUM(CAST(hash(s) AS HUGEINT)) AS VARCHAR) AS digest\n"
        "FROM started s WHERE race_date < ?"
    )


def _shared_history_stages(history: str) -> tuple[Stage, ...]:
    """`results` from the stored rows of earlier days and the target races' own starts."""
    return (
        Stage(
            "targets",
            "SELECT race_id, horse_key, jockey_key, trainer_key, venue_code, surface, distance_m"
            " FROM starts",
        ),
        *_results_stages("results_today"),
        Stage(
            "results", f"SELECT * FROM {history}\n    UNION ALL\n    SELECT * FROM results_today"
        ),
    )


def feature_sql(
    *, cards: bool = False, until: bool = False, races: bool = False, history: str | None = None
) -> str:
    """The SELECT defining the `features` table (DuckDB dialect, transpilable to BigQuery).

    Columns: race_id, horse_no, race_date, feature_version, as_of, then `FEATURE_COLUMNS`;
    one row per starter, ordered by race_id and horse_no.

    `cards` also covers races known only by their card (table `entries`, no `runners` rows
    yet): their starters are the latest card's runners less the withdrawn ones, with the same
    definitions. Parameters, in this order: with `cards` and `until`, the instant after which
    no card is read; with `races`, a list of race ids, the only races computed (and only the
    history of their horses, jockeys and trainers, which gives the same values with less work).
    With `races`, `history` names a table holding `history_sql`'s rows for the target races'
    day (they must all be run on that day): earlier days are read from it, not recomputed.
    """
    if history is not None and not races:
        raise ValueError("a stored history serves a build of a few races only")
    if history is None:
        stages: tuple[Stage, ...] = (
            *_starts_stages(cards, cards and until),
            *((_TARGETS,) if races else ()),
            *_results_stages(),
        )
    else:
        stages = (
            *_starts_stages(cards, cards and until, _ONLY_TARGETS),
            *_shared_history_stages(history),
        )
    stages = (*stages, *_history_stages(races), _base_stage(races))
    columns = ",\n  ".join(
        f"ROUND(CAST({f.sql} AS DOUBLE), {DIGITS}) AS {f.name}" if f.relative else f.name
        for f in FEATURES
    )
    return (
        f"{_with(stages)}\n"
        f"SELECT race_id, CAST(horse_no AS BIGINT) AS horse_no, race_date,\n"
        f"  '{FEATURE_VERSION}' AS feature_version, as_of,\n  {columns}\n"
        f"FROM base\nORDER BY race_id, horse_no"
    )
