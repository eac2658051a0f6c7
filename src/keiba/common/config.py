"""Configuration: one typed, frozen section per subsystem, from a YAML file and `KEIBA_*` variables.

Precedence, highest first: explicit overrides passed in code, `KEIBA_<SECTION>__<KEY>`
environment variables, the YAML file, the defaults below. The YAML file is `--config PATH`,
else `$KEIBA_CONFIG`, else `<home>/keiba.yaml` if it exists. The home is the data directory:
`--home`, else `$KEIBA_HOME`, else the user's data directory (`$XDG_DATA_HOME/keiba`, usually
`~/.local/share/keiba`, on Linux); every relative path in the configuration is resolved
against it.

A key that no section knows, in the file or in the environment, is an error that names the key
and where it came from: a typo in a stake limit must never be silently ignored.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import platformdirs
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from keiba.common.bet_types import BetType
from keiba.common.errors import ConfigError
from keiba.common.schema import dataset_name_problem

__all__ = [
    "AuditConfig",
    "BacktestConfig",
    "CollectorConfig",
    "DemoConfig",
    "DrawdownTierConfig",
    "ExecutionConfig",
    "FailoverConfig",
    "KeibaConfig",
    "LoggingConfig",
    "ModelConfig",
    "MonitorConfig",
    "OddsDriftConfig",
    "RaceDayConfig",
    "ReleaseConfig",
    "SecretsConfig",
    "StorageConfig",
    "TasksConfig",
    "ThemisConfig",
    "load_config",
    "resolve_home",
]

ENV_PREFIX = "KEIBA_"
_RESERVED_ENV = {"KEIBA_HOME", "KEIBA_CONFIG", "KEIBA_MLFLOW_AUDIENCE"}
# The `env` secret store's variables (keiba.common.secrets), not settings.
_STORE_VARIABLES = "KEIBA_SECRET_"
DEFAULT_HOME = platformdirs.user_data_path("keiba", appauthor=False)
_YAML_FILE: ContextVar[Path | None] = ContextVar("keiba_yaml_file", default=None)


class Section(BaseModel):
    """Base of every section: frozen, and unknown keys are rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StorageConfig(Section):
    """Where data lives. Relative paths are under the home directory.

    The warehouse holds named datasets, one DuckDB file each (`<warehouse_dir>/<name>.duckdb`),
    or one BigQuery dataset each (`warehouse = "bigquery"`); `dataset` selects the one commands
    read and load. `object_store_url` is a directory, or
    `gs://BUCKET/PREFIX` for Cloud Storage (Application Default Credentials: on Google Cloud,
    the service account the job runs as).
    """

    warehouse: Literal["duckdb", "bigquery"] = "duckdb"
    dataset: str = "default"
    warehouse_dir: Path = Path("warehouse")
    # BigQuery (`warehouse = "bigquery"`): dataset NAME is `<bigquery_dataset_prefix>NAME` in
    # `bigquery_project`; `bigquery_endpoint` points the client at an emulator (no credentials).
    bigquery_project: str | None = None
    bigquery_location: str = "asia-northeast1"
    bigquery_dataset_prefix: str = Field(default="keiba_", pattern=r"[A-Za-z_][A-Za-z0-9_]{0,63}")
    bigquery_endpoint: str | None = None
    object_store_url: str = "objects"
    ledger_url: str = "sqlite:///ledger/ledger.sqlite"

    @field_validator("dataset")
    @classmethod
    def _dataset_name(cls, name: str) -> str:
        problem = dataset_name_problem(name)
        if problem:
            raise ValueError(problem)
        return name

    @model_validator(mode="after")
    def _bigquery_project(self) -> StorageConfig:
        if self.warehouse == "bigquery" and not self.bigquery_project:
            raise ValueError("warehouse = 'bigquery' needs bigquery_project")
        return self

    @field_validator("object_store_url")
    @classmethod
    def _object_store(cls, url: str) -> str:
        scheme, found, rest = url.partition("://")
        if found and scheme not in ("file", "gs", "gcs", "memory"):
            raise ValueError(f"{url!r}: use a directory, file://PATH or gs://BUCKET/PREFIX")
        if found and scheme in ("gs", "gcs") and not rest.strip("/"):
            raise ValueError(f"{url!r} names no bucket: use gs://BUCKET/PREFIX")
        return url


class AuditConfig(Section):
    """Checkpoints of the ledger's audit chain: written once, where the ledger's owner cannot
    rewrite them (a folder, relative to the home, or an object-store URL; docs/bankroll.md)."""

    checkpoint_url: str = "audit-checkpoints"
    checkpoint_every: Literal["settlement", "write", "off"] = "settlement"


class LoggingConfig(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class ModelConfig(Section):
    """The fundamental LightGBM model (win probabilities: a per-race softmax over runners)."""

    num_boost_round: int = Field(default=300, ge=1, le=20_000)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    num_leaves: int = Field(default=31, ge=2, le=4096)
    min_data_in_leaf: int = Field(default=50, ge=1)
    feature_fraction: float = Field(default=0.8, gt=0, le=1)
    lambda_l2: float = Field(default=1.0, ge=0)
    early_stopping_rounds: int = Field(default=30, ge=1)
    order_places: int = Field(default=3, ge=1, le=18)
    """Places of the finishing order the objective reads: k > 1, a discounted Plackett–Luce
    loss over the first k finishers (the winner ∝ exp(s), the 2nd ∝ exp(`order_gamma`·s)
    among the rest, later places ∝ exp(`order_delta`·s)); 1, the winner alone (a per-race
    softmax). Early stopping always scores the winner (docs/model.md)."""
    order_gamma: float = Field(default=0.86, gt=0, le=3)
    """Discount of the 2nd place; `keiba model fit-exotics` on JRA 2018 gave 0.863 ± 0.018."""
    order_delta: float = Field(default=0.72, gt=0, le=3)
    """Discount of the 3rd and later places; the same fit gave 0.719 ± 0.016."""
    offset: Literal["market"] | None = None
    """`market`: the booster starts from each runner's log market probability (its race's win
    odds, de-vigged) and the trees learn only what the market leaves over; the model is then
    always predicted with the market of the moment added (docs/model.md). None: the trees
    alone."""
    seed: int = 0
    # Threads LightGBM trains with: speed only, the trees are the same for any count (docs/model.md)
    num_threads: int = Field(default=1, ge=1, le=1024)
    # MLflow tracking: None = a local store under home (sqlite:///<home>/mlflow/mlflow.db,
    # artefacts in <home>/mlflow/artifacts); a URL (http://…) for a tracking server.
    tracking_uri: str | None = None
    experiment: str = Field(default="keiba", min_length=1)


class ThemisConfig(Section):
    """The decision policy of Themis (docs/themis.md): which bets, how they are sized, the limits.

    Fractions are of the bankroll (the day's cap: of the bankroll at the start of the day);
    `*_yen` caps are absolute and optional. Every rule is reported in the decision when it binds.
    """

    ev_threshold: float = Field(default=1.10, ge=1.0)
    ev_screen: bool = True
    """Off: no quote is rejected for its EV; the sizer alone decides (full Kelly over every
    offered ticket with `kelly_fraction: 1`)."""
    kelly_fraction: float = Field(default=0.25, gt=0, le=1)
    max_ticket_fraction: float = Field(default=0.02, gt=0, le=1)
    max_race_fraction: float = Field(default=0.05, gt=0, le=1)
    min_stake_yen: int = Field(default=100, ge=100)
    unit_yen: int = Field(default=100, ge=100)
    min_probability: float = Field(default=0.0, ge=0, lt=1)
    bet_types: tuple[BetType, ...] = tuple(BetType)
    sizing: Literal["independent", "per_pool", "joint"] = "joint"
    exotic_gamma: float = Field(default=0.86, gt=0, le=3)
    """Discounted Harville, 2nd place; `keiba model fit-exotics` on JRA 2018 gave 0.863 ± 0.018."""
    exotic_delta: float = Field(default=0.72, gt=0, le=3)
    """Discounted Harville, 3rd place; `keiba model fit-exotics` on JRA 2018 gave 0.719 ± 0.016."""
    max_day_fraction: float = Field(default=0.25, gt=0, le=1)
    max_ticket_yen: int | None = Field(default=None, ge=100)
    max_race_yen: int | None = Field(default=None, ge=100)
    max_day_yen: int | None = Field(default=None, ge=100)
    max_tickets_per_day: int = Field(default=9_000, ge=1)
    bankroll_floor_yen: int = Field(default=0, ge=0)
    torigami_guard: bool = False
    stake_multiplier: float = Field(default=1.0, ge=0, le=1)
    own_impact: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> ThemisConfig:
        if self.unit_yen % 100:
            raise ValueError(f"unit_yen must be a multiple of 100, was {self.unit_yen}")
        if self.min_stake_yen % self.unit_yen:
            raise ValueError(
                f"min_stake_yen ({self.min_stake_yen}) must be a multiple of unit_yen "
                f"({self.unit_yen})"
            )
        if self.max_ticket_fraction > self.max_race_fraction:
            raise ValueError(
                f"max_ticket_fraction ({self.max_ticket_fraction}) exceeds "
                f"max_race_fraction ({self.max_race_fraction})"
            )
        if self.max_race_fraction > self.max_day_fraction:
            raise ValueError(
                f"max_race_fraction ({self.max_race_fraction}) exceeds "
                f"max_day_fraction ({self.max_day_fraction})"
            )
        for name in ("max_ticket_yen", "max_race_yen", "max_day_yen"):
            cap = getattr(self, name)
            if cap is not None and cap < self.min_stake_yen:
                raise ValueError(f"{name} ({cap}) is below min_stake_yen ({self.min_stake_yen})")
        if len(set(self.bet_types)) != len(self.bet_types):
            raise ValueError(f"bet_types repeats a bet type: {[b.value for b in self.bet_types]}")
        return self


class DemoConfig(Section):
    """The main job: which data, how it is split, and the starting bankroll.

    `sample` is the shipped 2018 JRA season; `simulated` generates a world of `years` seasons
    from `seed`; `warehouse` uses whatever has been imported.
    """

    source: Literal["sample", "simulated", "warehouse"] = "sample"
    years: int = Field(default=3, ge=2, le=30)
    seed: int = 2024
    start_year: int = Field(default=2015, ge=1990, le=2100)
    test_fraction: float = Field(default=0.25, gt=0, lt=1)
    bankroll_yen: int = Field(default=1_000_000, ge=0)


class CollectorConfig(Section):
    """The netkeiba collector: where it fetches from, how politely, and how it retries.

    Tests point the base URLs at a loopback server. `requests_per_second` caps the request
    rate (at most one a second by default); 5xx answers, timeouts and dropped connections are
    retried `max_retries` times with exponential backoff; 403 and 429 stop the collector.
    """

    race_base_url: str = "https://race.netkeiba.com"
    db_base_url: str = "https://db.netkeiba.com"
    result_source: Literal["race", "db"] = "race"
    requests_per_second: float = Field(default=1.0, gt=0, le=100.0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    read_timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=10)
    backoff_initial_s: float = Field(default=2.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    user_agent: str = "keiba-collector/0.1 (research; polite: 1 request/s)"


class DrawdownTierConfig(Section):
    """One drawdown tier: from `drawdown` below the peak, stake at most `stake_multiplier`."""

    name: str = Field(min_length=1, max_length=32)
    drawdown: float = Field(gt=0, lt=1)
    stake_multiplier: float = Field(ge=0, le=1)
    stop_buying: bool = False


class MonitorConfig(Section):
    """Monitoring (docs/monitor.md): drawdown tiers, tolerance bands, staleness, alerts.

    Tiers are ordered by `drawdown`; deeper tiers never allow a larger multiplier, and a
    stopping tier stakes nothing. `band_z` is the half-width of the luck band in standard
    deviations of the bets' own probabilities; bands are judged from `min_bets` settled bets.
    """

    drawdown_tiers: tuple[DrawdownTierConfig, ...] = (
        DrawdownTierConfig(name="warn", drawdown=0.20, stake_multiplier=0.5),
        DrawdownTierConfig(name="stop", drawdown=0.30, stake_multiplier=0.0, stop_buying=True),
    )
    band_z: float = Field(default=1.96, gt=0, le=10)
    min_bets: int = Field(default=30, ge=1)
    max_odds_age_s: float = Field(default=300.0, gt=0)
    max_result_age_s: float = Field(default=3_600.0, gt=0)
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,255}$")
    """The name of a secret (`secrets.provider`) holding the webhook's URL, instead of
    `webhook_url`: a webhook URL usually carries its own token."""
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=120)
    webhook_max_retries: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> MonitorConfig:
        tiers = self.drawdown_tiers
        for shallow, deep in pairwise(tiers):
            if deep.drawdown <= shallow.drawdown:
                raise ValueError(
                    f"drawdown_tiers must be in increasing drawdown: {shallow.name!r} "
                    f"({shallow.drawdown}) then {deep.name!r} ({deep.drawdown})"
                )
            if deep.stake_multiplier > shallow.stake_multiplier:
                raise ValueError(
                    f"tier {deep.name!r} allows a larger stake_multiplier than {shallow.name!r}"
                )
            if shallow.stop_buying and not deep.stop_buying:
                raise ValueError(f"tier {deep.name!r} resumes buying below a stopping tier")
        for tier in tiers:
            if tier.stop_buying and tier.stake_multiplier != 0:
                raise ValueError(f"stopping tier {tier.name!r} must have stake_multiplier 0")
        if len({t.name for t in tiers}) != len(tiers):
            raise ValueError("drawdown tier names must be unique")
        if self.webhook_url is not None and not self.webhook_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError(f"webhook_url must be http(s), was {self.webhook_url!r}")
        if self.webhook_url is not None and self.webhook_secret is not None:
            raise ValueError("set webhook_url or webhook_secret, not both")
        return self


class OddsDriftConfig(Section):
    """How a backtest turns final odds into the odds seen at decision time.

    Only where no odds snapshot from before the decision exists. `none` decides at the final
    odds (prices nobody could bet at: flatters); `lognormal` multiplies each runner's implied
    probability 1/odds by exp(σZ − σ²/2), keeps the race's overround, and rounds the odds down
    to JRA's 0.1 steps. Seeded per race, so a race's prices do not depend on the period run.
    """

    model: Literal["none", "lognormal"] = "lognormal"
    sigma: float = Field(default=0.10, ge=0, le=1)
    seed: int = 0


class BacktestConfig(Section):
    """The backtester (`keiba backtest run`, docs/backtest.md): bankroll, schedule, timing, odds.

    The model is retrained before every test month on all race days before it: the last
    `combine_share` of those days fit the market stage, the rest the model. Decisions are made
    `decision_lead_minutes` before post time and settled `settle_delay_minutes` after it.
    """

    bankroll_yen: int = Field(default=1_000_000, ge=100)
    min_history_days: int = Field(default=16, ge=8)
    combine_share: float = Field(default=0.25, gt=0, lt=1)
    decision_lead_minutes: int = Field(default=5, ge=0, le=24 * 60)
    settle_delay_minutes: int = Field(default=15, ge=0, le=24 * 60)
    pools: tuple[BetType, ...] = (BetType.WIN,)
    baseline_stake_yen: int = Field(default=100, ge=100, multiple_of=100)
    monitor: bool = True
    odds_drift: OddsDriftConfig = OddsDriftConfig()


class RaceDayConfig(Section):
    """The race-day timeline (docs/scheduler.md): when each step of a race is due.

    Sales close `close_lead_s` before post. Scoring is due `decision_lead_s` before the close and
    must have begun its purchase by `submit_deadline_s` before the close. `poll_bands` are
    (minutes before post, interval in minutes): from that many minutes before post, odds are
    polled at that interval, the last band running on until `poll_stop_after_post_min` after
    post. Card and odds start `watch_from_min` before post; body weights `weights_lead_min`.
    Settlement is tried `settle_first_min` after post, then every `settle_retry_s`, until
    `settle_give_up_min` after post. A 403/429 from the collector pauses every step for
    `blocked_backoff_s`, doubling on each further block up to `blocked_backoff_max_s`. Odds
    older than `max_odds_age_s` at decision are not bet on; a source whose clock (HTTP `Date`)
    is more than `max_clock_skew_s` from ours is alerted.
    """

    close_lead_s: int = Field(default=120, gt=0, le=3_600)
    decision_lead_s: int = Field(default=360, gt=0, le=3_600)
    submit_deadline_s: int = Field(default=150, gt=0, le=3_600)
    poll_bands: tuple[tuple[int, int], ...] = ((180, 15), (60, 10), (30, 5), (10, 2), (0, 1))
    poll_stop_after_post_min: int = Field(default=10, ge=0, le=120)
    watch_from_min: int = Field(default=240, gt=0, le=24 * 60)
    weights_lead_min: int = Field(default=60, gt=0, le=24 * 60)
    settle_first_min: int = Field(default=10, ge=0, le=24 * 60)
    settle_retry_s: int = Field(default=120, gt=0, le=3_600)
    settle_give_up_min: int = Field(default=60, gt=0, le=24 * 60)
    max_odds_age_s: int = Field(default=300, gt=0, le=3_600)
    max_clock_skew_s: int = Field(default=30, gt=0, le=3_600)
    """The engine refuses to decide on odds older than this at decision time."""
    blocked_backoff_s: float = Field(default=300.0, gt=0)
    blocked_backoff_max_s: float = Field(default=1_800.0, gt=0)

    @field_validator("poll_bands")
    @classmethod
    def _bands(cls, bands: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        if not bands:
            raise ValueError("poll_bands needs at least one (minutes before post, interval) band")
        for (upper, _), (lower, _) in pairwise(bands):
            if lower >= upper:
                raise ValueError(
                    f"poll_bands must go from far to near post: {upper} then {lower} minutes"
                )
        if bands[-1][0] != 0:
            raise ValueError(f"the last poll band must start at 0 minutes, was {bands[-1][0]}")
        for start, interval in bands:
            if interval <= 0:
                raise ValueError(f"poll band from {start} min has interval {interval}; must be > 0")
        return bands

    @model_validator(mode="after")
    def _ordered(self) -> RaceDayConfig:
        if self.submit_deadline_s >= self.decision_lead_s:
            raise ValueError(
                f"submit_deadline_s ({self.submit_deadline_s}) must be less than decision_lead_s "
                f"({self.decision_lead_s}): the purchase deadline comes after scoring begins"
            )
        decide_min = (self.close_lead_s + self.decision_lead_s) / 60
        if self.weights_lead_min <= decide_min:
            raise ValueError(
                f"weights_lead_min ({self.weights_lead_min}) must be more than the decision's "
                f"{decide_min:g} minutes before post"
            )
        if self.watch_from_min < self.weights_lead_min:
            raise ValueError(
                f"watch_from_min ({self.watch_from_min}) must be at least weights_lead_min "
                f"({self.weights_lead_min})"
            )
        if self.settle_give_up_min < self.settle_first_min:
            raise ValueError(
                f"settle_give_up_min ({self.settle_give_up_min}) is before settle_first_min "
                f"({self.settle_first_min})"
            )
        if self.blocked_backoff_max_s < self.blocked_backoff_s:
            raise ValueError(
                f"blocked_backoff_max_s ({self.blocked_backoff_max_s}) is below "
                f"blocked_backoff_s ({self.blocked_backoff_s})"
            )
        return self


class FailoverConfig(Section):
    """A second channel for an intent proven absent on the first: another IPAT account (its
    own `secrets_file`, mode 600) or a person (`manual`, writing under `manual_dir`)."""

    broker: Literal["ipat", "manual"]
    name: str = Field(default="alt", pattern=r"^[a-z0-9]{1,8}$")
    secrets_file: Path | None = None
    max_day_yen: int | None = Field(default=None, ge=100, multiple_of=100)
    manual_dir: Path = Path("manual-failover")

    @model_validator(mode="after")
    def _consistent(self) -> FailoverConfig:
        if self.broker == "ipat" and self.secrets_file is None:
            raise ValueError("an IPAT failover account needs its own secrets_file")
        return self


class ExecutionConfig(Section):
    """How tickets are bought (docs/execution.md): on paper, through IPAT's web site, by hand.

    `ipat` buys with real money only with `live: true` and a day cap `max_day_yen`. The four
    IPAT credentials come from the environment (`secrets: env`, IPAT_INETID, IPAT_SUBSCRIBER,
    IPAT_PIN, IPAT_PARS), from `secrets_file` (mode 600), or from the secret
    `ipat-credentials` of the `secrets` section's store (`secrets: store`), never from this
    file. `manual`
    writes the tickets for a person under `manual_dir`, where the purchase history they
    download is read back. A purchase proven absent is bought again only while its race's
    close is more than `rebuy_margin_s` away, at most `max_rebuys` times, through `failover`
    when one is set (else the same channel).
    """

    broker: Literal["paper", "ipat", "manual"] = "paper"
    live: bool = False
    max_day_yen: int | None = Field(default=None, ge=100, multiple_of=100)
    ipat_url: str = "https://www.ipat.jra.go.jp"
    secrets: Literal["env", "file", "store"] = "env"
    secrets_file: Path | None = None
    chromium: str | None = None
    page_timeout_s: float = Field(default=30.0, gt=0, le=600)
    manual_dir: Path = Path("manual")
    rebuy_margin_s: float = Field(default=180.0, ge=0)
    max_rebuys: int = Field(default=2, ge=0, le=9)
    failover: FailoverConfig | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ExecutionConfig:
        if self.live and self.max_day_yen is None:
            raise ValueError("live buying needs a day cap: set max_day_yen")
        if self.secrets == "file" and self.secrets_file is None:
            raise ValueError("secrets: file needs secrets_file")
        return self


class SecretsConfig(Section):
    """Where named secrets (API tokens, webhook URLs, IPAT credentials) are read from.

    `env`: `KEIBA_SECRET_<NAME>` variables; `file`: one file per secret in `directory`
    (mode 600); `secret-manager`: Google Secret Manager in `project`, the latest version.
    `endpoint` replaces Google's API address (`http://` only on loopback: a local twin).
    """

    provider: Literal["env", "file", "secret-manager"] = "env"
    directory: Path = Path("secrets")
    project: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    endpoint: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SecretsConfig:
        if self.provider == "secret-manager" and self.project is None:
            raise ValueError("provider secret-manager needs the Google Cloud project: set project")
        if self.endpoint is not None and not self.endpoint.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, was {self.endpoint!r}")
        return self


_QUEUE = r"^projects/[^/]+/locations/[^/]+/queues/[A-Za-z0-9-]+$"


class TasksConfig(Section):
    """The race day on Cloud Tasks (docs/deploy-gcp.md): per race a named decide task on
    `queue` and a named settle task on `settle_queue` (both `projects/P/locations/L/queues/Q`;
    without `settle_queue`, on `queue`, whose retries must then last until results are
    official), each a POST to the service at `target_url` with an OIDC token minted for
    `invoker_email` (audience `audience`, default the target's origin). `endpoint` replaces
    Google's API address (`http://` only on loopback: a local twin).
    """

    queue: str | None = Field(default=None, pattern=_QUEUE)
    settle_queue: str | None = Field(default=None, pattern=_QUEUE)
    target_url: str | None = None
    invoker_email: str | None = None
    audience: str | None = None
    endpoint: str | None = None


class ReleaseConfig(Section):
    """Releases (docs/releases.md): the gates a candidate passes before promotion, the race-day
    freeze and the automatic rollback.

    The walk-forward backtest covers the dataset's last `backtest_days` days and must return at
    least `min_return_rate` on at least `min_bets` bets; the Monte Carlo of its bets
    (`mc_seasons`, seeded by `mc_seed`) must keep P(max drawdown > `drawdown_level`) at most
    `max_p_drawdown`; the EV threshold and the Kelly fraction move by at most `max_ev_step` and
    `max_kelly_step` from the release in force. Promotions are refused from `freeze_before_min`
    before a race day's first post until `freeze_after_min` after its last. Reaching the monitor's
    tier `rollback_tier` within `rollback_window_days` of a promotion restores the release before.
    """

    backtest_days: int = Field(default=91, ge=7)
    min_return_rate: float = Field(default=0.85, ge=0)
    min_bets: int = Field(default=30, ge=1)
    mc_seasons: int = Field(default=1_000, ge=100)
    mc_seed: int = 0
    drawdown_level: float = Field(default=0.3, gt=0, lt=1)
    max_p_drawdown: float = Field(default=0.10, ge=0, le=1)
    max_ev_step: float = Field(default=0.05, ge=0)
    max_kelly_step: float = Field(default=0.05, ge=0)
    freeze_before_min: int = Field(default=60, ge=0, le=24 * 60)
    freeze_after_min: int = Field(default=30, ge=0, le=24 * 60)
    rollback_tier: str = "warn"
    rollback_window_days: int = Field(default=14, ge=0)


class KeibaConfig(BaseSettings):
    """All sections. Build it with `load_config`, which also resolves the home directory."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    home: Path = DEFAULT_HOME
    storage: StorageConfig = StorageConfig()
    audit: AuditConfig = AuditConfig()
    logging: LoggingConfig = LoggingConfig()
    model: ModelConfig = ModelConfig()
    themis: ThemisConfig = ThemisConfig()
    demo: DemoConfig = DemoConfig()
    collector: CollectorConfig = CollectorConfig()
    monitor: MonitorConfig = MonitorConfig()
    backtest: BacktestConfig = BacktestConfig()
    race_day: RaceDayConfig = RaceDayConfig()
    execution: ExecutionConfig = ExecutionConfig()
    secrets: SecretsConfig = SecretsConfig()
    release: ReleaseConfig = ReleaseConfig()
    tasks: TasksConfig = TasksConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        yaml_file = _YAML_FILE.get()
        if yaml_file is None:
            return (init_settings, env_settings)
        return (init_settings, env_settings, YamlConfigSettingsSource(settings_cls, yaml_file))

    def path(self, relative: Path | str) -> Path:
        """A path under home (absolute paths are kept as they are)."""
        p = Path(relative)
        return p if p.is_absolute() else self.home / p

    @property
    def warehouse_dir(self) -> Path:
        """The directory of the datasets' files."""
        return self.path(self.storage.warehouse_dir)

    def dataset_path(self, name: str) -> Path:
        """The DuckDB file of dataset `name`."""
        return self.warehouse_dir / f"{name}.duckdb"

    @property
    def duckdb_path(self) -> Path:
        """The file of the selected dataset (`storage.dataset`)."""
        return self.dataset_path(self.storage.dataset)

    def with_dataset(self, name: str) -> KeibaConfig:
        """The same configuration with dataset `name` selected."""
        problem = dataset_name_problem(name)
        if problem:
            raise ConfigError(problem)
        storage = self.storage.model_copy(update={"dataset": name})
        return self.model_copy(update={"storage": storage})

    @property
    def object_store_url(self) -> str:
        url = self.storage.object_store_url
        return url if "://" in url else str(self.path(url))

    @property
    def checkpoint_url(self) -> str:
        url = self.audit.checkpoint_url
        return url if "://" in url else str(self.path(url))

    @property
    def ledger_url(self) -> str:
        url = self.storage.ledger_url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith("sqlite:////"):
            return prefix + str(self.path(url[len(prefix) :]).resolve())
        return url

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"


def resolve_home(home: Path | str | None = None) -> Path:
    """`home` if given, else `$KEIBA_HOME`, else the user's data directory; never a file."""
    env = os.environ.get("KEIBA_HOME")
    if home is not None:
        resolved, given = Path(home).expanduser().resolve(), "--home"
    elif env:
        resolved, given = Path(env).expanduser().resolve(), "KEIBA_HOME"
    else:
        resolved, given = DEFAULT_HOME.resolve(), "the default home"
    if resolved.exists() and not resolved.is_dir():
        raise ConfigError(f"the home {resolved} ({given}) is a file, not a directory")
    return resolved


def _section_keys() -> dict[str, set[str]]:
    return {
        name: set(field.annotation.model_fields)
        for name, field in KeibaConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
    }


def _check_keys(data: dict[str, Any], where: str) -> None:
    sections = _section_keys()
    for key, value in data.items():
        if key == "home":
            continue
        if key not in sections:
            known = ", ".join(sorted(sections))
            raise ConfigError(f"unknown configuration key {key!r} in {where} (sections: {known})")
        if not isinstance(value, dict):
            raise ConfigError(f"{key!r} in {where} must be a mapping of settings")
        for sub in value:
            if sub not in sections[key]:
                known = ", ".join(sorted(sections[key]))
                raise ConfigError(
                    f"unknown configuration key '{key}.{sub}' in {where} (known: {known})"
                )


def _check_environment(environ: dict[str, str]) -> None:
    sections = _section_keys()
    for name in environ:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in _RESERVED_ENV:
            continue
        if upper.startswith(_STORE_VARIABLES) and not upper.startswith(_STORE_VARIABLES + "_"):
            continue
        section, _, key = upper[len(ENV_PREFIX) :].lower().partition("__")
        if section not in sections or key not in sections[section]:
            raise ConfigError(
                f"unknown configuration variable {name} in the environment "
                f"(expected {ENV_PREFIX}<SECTION>__<KEY>, e.g. KEIBA_THEMIS__EV_THRESHOLD)"
            )


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read configuration file {path}: {e.strerror}") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must contain a mapping of sections, was {type(data).__name__}")
    return data


def _blame(
    loc: tuple[int | str, ...],
    overrides: dict[str, Any],
    overrides_from: str,
    yaml_data: dict[str, Any],
    path: Path | None,
) -> str:
    """Which source gave the invalid setting at `loc` (the highest-precedence one that has it)."""
    keys = [str(p) for p in loc[:2]]

    def holds(data: dict[str, Any]) -> bool:
        node: Any = data
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return False
            node = node[key]
        return True

    if holds(overrides):
        return overrides_from
    variable = ENV_PREFIX + "__".join(keys).upper()
    if any(name.upper() == variable for name in os.environ):
        return f"the environment variable {variable}"
    if path is not None and holds(yaml_data):
        return str(path)
    return "the defaults"


def load_config(
    config_path: Path | str | None = None,
    home: Path | str | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    overrides_from: str = "overrides",
) -> KeibaConfig:
    """Load and validate the configuration; every problem is a `ConfigError` saying where.

    `overrides_from` names where `overrides` came from in messages (e.g. command-line options).
    """
    resolved_home = resolve_home(home)
    path: Path | None = None
    if config_path is not None:
        path = Path(config_path)
    elif os.environ.get("KEIBA_CONFIG"):
        path = Path(os.environ["KEIBA_CONFIG"])
    elif (resolved_home / "keiba.yaml").exists():
        path = resolved_home / "keiba.yaml"
    yaml_data: dict[str, Any] = {}
    if path is not None:
        yaml_data = _read_yaml(path)
        _check_keys(yaml_data, str(path))
    _check_environment(dict(os.environ))
    if overrides:
        _check_keys(overrides, overrides_from)
    token = _YAML_FILE.set(path)
    try:
        return KeibaConfig(home=resolved_home, **(overrides or {}))
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']} "
            f"(from {_blame(err['loc'], overrides or {}, overrides_from, yaml_data, path)})"
            for err in e.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from e
    finally:
        _YAML_FILE.reset(token)
