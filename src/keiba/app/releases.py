"""Releases from configuration: what `keiba release …` does once its options are parsed.

A candidate is a stored model version of the selected dataset with the configured Themis
policy. `promote` measures its gates (`measure`: a backtest replaying that stored model through
the engine over the dataset's last `release.backtest_days` after its training period, a Monte
Carlo of that backtest's own bets at the policy's Kelly fraction, the model's held-out ΔR²),
judges them against the release in force (`keiba.release.gates`), refuses in the race-day
freeze, and records the promotion in the configured ledger's audit chain. `--force` with a
reason promotes past failed gates and the freeze; what was forced is recorded. `shadow` sets a
candidate to run beside the release in force on race days, buying nothing; `canary` sets one to
decide and buy a share of the races under its own stake caps, refused in the freeze as a
promotion is, unless forced.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keiba.app.replay import run_backtest
from keiba.common.clock import JST, Clock, SystemClock
from keiba.common.config import KeibaConfig, ThemisConfig
from keiba.common.errors import KeibaError
from keiba.common.storage import FsspecObjectStore, Warehouse, create_ledger_engine
from keiba.common.storage.datasets import open_dataset
from keiba.common.storage.object_store import ObjectStore
from keiba.evaluator.backtest_frames import BacktestRun
from keiba.evaluator.backtest_monte_carlo import run_monte_carlo
from keiba.evaluator.evaluation import evaluate_frame
from keiba.evaluator.monte_carlo import DRAWDOWN_LEVELS, MonteCarloParams
from keiba.feature_engineering import ENTRIES_TABLE
from keiba.model_training.pipeline import (
    StoredModel,
    check_model_dataset,
    default_test_period,
    evaluate_version,
    load_stored_model,
)
from keiba.release import (
    NO_RELEASE,
    CanarySettings,
    GateFigures,
    PromotionRefused,
    Release,
    ReleaseBook,
    ReleaseError,
    ReleaseEvent,
    failed,
    freeze_reason,
    judge,
)
from keiba.scheduler.journal import Journal, journal_path

__all__ = [
    "Measure",
    "canary",
    "list_releases",
    "measure",
    "promote",
    "race_day_posts",
    "rollback",
    "shadow",
    "show_release",
]

Measure = Callable[[KeibaConfig, StoredModel, ThemisConfig], GateFigures]


@contextmanager
def release_book(config: KeibaConfig, clock: Clock) -> Iterator[ReleaseBook]:
    """The release book of the configured ledger database."""
    engine = create_ledger_engine(config.ledger_url)
    try:
        yield ReleaseBook(engine, clock)
    finally:
        engine.dispose()


def _backtest_figures(
    config: KeibaConfig, stored: StoredModel, policy: ThemisConfig, clock: Clock
) -> dict[str, Any]:
    """The candidate's stored model replayed through the backtest's engine on the dataset's last
    `release.backtest_days` days, the days it trained on clipped; why not, when none is left."""
    with open_dataset(config, read_only=True) as warehouse:
        last = warehouse.query("SELECT max(race_date) AS d FROM races")["d"][0]
    if last is None:
        raise KeibaError(f"dataset {config.storage.dataset!r} holds no races to backtest")
    first = last - dt.timedelta(days=config.release.backtest_days - 1)
    figures: dict[str, Any] = {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "model_version": stored.model.version,
        "bets": 0,
        "return_rate": None,
    }
    candidate = config.model_copy(update={"themis": policy})
    run_dir = config.home / "releases" / config.storage.dataset / f"{clock.now():%Y%m%dT%H%M%S}"
    try:
        result = run_backtest(candidate, clock, first, last, run_dir=run_dir, stored=stored)
    except KeibaError as e:
        return {**figures, "why": str(e)}
    themis = (result.result.get("metrics") or {}).get("themis") or {}
    rate = themis.get("return_rate")
    replayed = result.result.get("replayed") or {}
    return {
        **figures,
        "from": replayed.get("from", figures["from"]),
        "requested_from": first.isoformat(),
        "clipped_days": replayed.get("clipped_days", 0),
        "replayed": replayed.get("note"),
        "bets": int(themis.get("bets") or 0),
        "return_rate": rate.get("value") if isinstance(rate, dict) else rate,
        "profit_yen": int(themis.get("profit_yen") or 0),
        "max_drawdown": (themis.get("max_drawdown") or {}).get("fraction"),
        "run": str(result.directory),
    }


def _monte_carlo_figures(
    config: KeibaConfig, run_dir: Path, policy: ThemisConfig
) -> dict[str, Any]:
    level = config.release.drawdown_level
    if level not in DRAWDOWN_LEVELS:
        raise KeibaError(f"release.drawdown_level must be one of {DRAWDOWN_LEVELS}, was {level}")
    base = MonteCarloParams(
        unit_yen=policy.unit_yen, min_stake_yen=policy.min_stake_yen, ev_min=policy.ev_threshold
    )
    bundle = run_monte_carlo(
        BacktestRun.load(run_dir),
        seasons=config.release.mc_seasons,
        seed=config.release.mc_seed,
        kelly_fraction=policy.kelly_fraction,
        base=base,
    )
    rows = [s for s in bundle.result.scenarios if s.fraction == policy.kelly_fraction]
    return {
        "p_drawdown": rows[0].p_drawdown[str(level)] if bundle.empirical and rows else None,
        "simulated": bundle.source,
        "level": level,
        "kelly_fraction": policy.kelly_fraction,
        "seasons": config.release.mc_seasons,
        "seed": config.release.mc_seed,
    }


def _delta_r2_figures(config: KeibaConfig, stored: StoredModel) -> dict[str, Any]:
    """The model's ΔR² on the days after its combination period; why not, when it has none."""
    with open_dataset(config, read_only=True) as warehouse:
        try:
            start, end = default_test_period(warehouse, stored)
        except KeibaError as e:
            return {"delta": None, "low": None, "high": None, "why": str(e)}
        scored = evaluate_version(
            config, warehouse, stored, start, end, evaluate=evaluate_frame, track=False
        )
    combined = scored["delta_r2_vs_market"]["p_combined"]
    return {
        "delta": combined["delta"],
        "low": combined["low"],
        "high": combined["high"],
        "from": start.isoformat(),
        "to": end.isoformat(),
    }


def measure(
    config: KeibaConfig, stored: StoredModel, policy: ThemisConfig, clock: Clock | None = None
) -> GateFigures:
    """The gates' figures of a candidate: its stored model replayed, never retrained."""
    backtest = _backtest_figures(config, stored, policy, clock or SystemClock())
    run = backtest.get("run")
    return GateFigures(
        backtest=backtest,
        monte_carlo=_monte_carlo_figures(config, Path(run), policy) if run else None,
        delta_r2=_delta_r2_figures(config, stored),
    )


def race_day_posts(config: KeibaConfig, warehouse: Warehouse, day: dt.date) -> list[dt.datetime]:
    """The post times known for `day`: the cards and races collected, and the day's plan."""
    posts: list[dt.datetime] = []
    for table in ("races", ENTRIES_TABLE):
        if warehouse.has_table(table):
            found = warehouse.query(
                f"SELECT DISTINCT post_time FROM {table} "
                "WHERE race_date = ? AND post_time IS NOT NULL",
                [day],
            )
            posts += [_aware(p) for p in found["post_time"]]
    path = journal_path(config.home, day)
    if path.exists():
        journal = Journal(path)
        try:
            plan = journal.plan()
            posts += [r.post_time for r in plan.races] if plan else []
        finally:
            journal.close()
    return posts


def _aware(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _stored(config: KeibaConfig, store: ObjectStore, version: str | None) -> StoredModel:
    stored = load_stored_model(store, version)
    with open_dataset(config, read_only=True) as warehouse:
        check_model_dataset(stored, warehouse)
    return stored


def _frozen(config: KeibaConfig, clock: Clock, what: str = "promotions") -> str | None:
    now = clock.now()
    day = now.astimezone(JST).date()
    with open_dataset(config, read_only=True) as warehouse:
        posts = race_day_posts(config, warehouse, day)
    return freeze_reason(now, posts, config.release, what)


def promote(
    config: KeibaConfig,
    *,
    clock: Clock | None = None,
    model: str | None,
    reason: str,
    by: str | None = None,
    force: bool = False,
    measure_gates: Measure = measure,
) -> dict[str, Any]:
    """Promote the stored model `model` (default: the latest) with the configured policy on the
    selected dataset, past its gates and the freeze (or `force`d, with the reason). In the
    freeze, unforced, nothing is measured."""
    if not reason.strip():
        raise ReleaseError("a promotion needs a reason (--reason TEXT)")
    clock = clock or SystemClock()
    dataset = config.storage.dataset
    stored = _stored(config, FsspecObjectStore(config.object_store_url), model)
    frozen = _frozen(config, clock)
    if frozen and not force:
        raise PromotionRefused([frozen])
    with release_book(config, clock) as book:
        current = book.in_force(dataset)
        in_force = current.release if current else None
        candidate = Release.of(dataset, stored.model.version, config.themis)
        if in_force is not None and in_force.release_id == candidate.release_id:
            raise ReleaseError(f"release {candidate.release_id} is already in force on {dataset!r}")
        figures = measure_gates(config, stored, config.themis)
        results = judge(figures, config.themis, in_force, config.release)
        refusals = [frozen] if frozen else []
        refusals += [r.line for r in failed(results)]
        if refusals and not force:
            raise PromotionRefused(refusals)
        gates = {"figures": figures.to_dict(), "results": [r.to_dict() for r in results]}
        release = Release.of(dataset, stored.model.version, config.themis, gates)
        event = book.promote(
            release, by=by or getpass.getuser(), reason=reason, forced=tuple(refusals)
        )
    return {**_event_row(event), "release": release.to_dict()}


def rollback(
    config: KeibaConfig, *, reason: str, by: str | None = None, clock: Clock | None = None
) -> dict[str, Any]:
    """Restore the release in force before the current one on the selected dataset."""
    if not reason.strip():
        raise ReleaseError("a rollback needs a reason (--reason TEXT)")
    with release_book(config, clock or SystemClock()) as book:
        restored = book.rollback(config.storage.dataset, by=by or getpass.getuser(), reason=reason)
    return _event_row(restored)


def shadow(
    config: KeibaConfig,
    *,
    model: str | None,
    reason: str,
    stop: bool = False,
    by: str | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Run the stored model `model` (default: the latest) with the configured policy in shadow
    on the selected dataset's race days (it decides every race and buys nothing), or `stop`."""
    if not reason.strip():
        raise ReleaseError("a shadow needs a reason (--reason TEXT)")
    dataset, who = config.storage.dataset, by or getpass.getuser()
    with release_book(config, clock or SystemClock()) as book:
        if stop:
            stopped = book.stop_shadow(dataset, by=who, reason=reason)
            return {"dataset": dataset, "stopped": stopped.release_id}
        stored = _stored(config, FsspecObjectStore(config.object_store_url), model)
        candidate = Release.of(dataset, stored.model.version, config.themis, {"shadow": True})
        book.start_shadow(candidate, by=who, reason=reason)
    return {"dataset": dataset, "shadow": candidate.to_dict()}


def canary(
    config: KeibaConfig,
    *,
    model: str | None,
    reason: str,
    settings: CanarySettings | None = None,
    stop: bool = False,
    force: bool = False,
    by: str | None = None,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Run the stored model `model` (default: the latest) with the configured policy as a canary
    on the selected dataset (`settings`: its share of races and stake caps), or `stop` it. A
    start in the race-day freeze is refused unless `force`d; what was forced is recorded."""
    if not reason.strip():
        raise ReleaseError("a canary needs a reason (--reason TEXT)")
    clock = clock or SystemClock()
    dataset, who = config.storage.dataset, by or getpass.getuser()
    if stop:
        with release_book(config, clock) as book:
            return _event_row(book.stop_canary(dataset, by=who, reason=reason))
    if settings is None:
        raise ReleaseError("a canary needs its share and its stake caps")
    stored = _stored(config, FsspecObjectStore(config.object_store_url), model)
    frozen = _frozen(config, clock, "canary starts")
    if frozen and not force:
        raise PromotionRefused([frozen], what="canary")
    candidate = Release.of(dataset, stored.model.version, config.themis, {"canary": True})
    forced = (frozen,) if frozen else ()
    with release_book(config, clock) as book:
        event = book.start_canary(candidate, settings, by=who, reason=reason, forced=forced)
    return {**_event_row(event), "release": candidate.to_dict()}


def _event_row(event: ReleaseEvent) -> dict[str, Any]:
    return event.to_dict()


def list_releases(config: KeibaConfig, clock: Clock | None = None) -> dict[str, Any]:
    """The selected dataset's promotions and rollbacks, and the release in force."""
    dataset = config.storage.dataset
    with release_book(config, clock or SystemClock()) as book:
        events = book.events(dataset)
        current = book.in_force(dataset)
        candidate = book.shadow(dataset)
        running = book.canary(dataset)
    return {
        "dataset": dataset,
        "in_force": current.release.release_id if current else None,
        "shadow": candidate.release_id if candidate else None,
        "canary": {"release_id": running.release.release_id, **running.settings.to_dict()}
        if running
        else None,
        "events": [e.to_dict() for e in events],
    }


def show_release(
    config: KeibaConfig, release_id: str | None, clock: Clock | None = None
) -> dict[str, Any]:
    """One release (default: the one in force) with its policy and gates' figures."""
    dataset = config.storage.dataset
    with release_book(config, clock or SystemClock()) as book:
        if release_id is None:
            current = book.in_force(dataset)
            if current is None:
                raise ReleaseError(NO_RELEASE.format(dataset=dataset))
            return current.release.to_dict()
        return book.find(dataset, release_id).to_dict()
