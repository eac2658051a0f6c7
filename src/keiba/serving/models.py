"""The API's request and response bodies: typed, and documented in its OpenAPI schema.

Money is integer yen; instants are ISO 8601 with their offset (UTC from the stores, JST where
the race day's views give them). Lists come in pages: `limit` items from `offset`, with the
total and the next page's offset (None after the last); the ledger's history pages by a
cursor instead (`before_seq`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Page(Body, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    total: int
    next_offset: int | None


class ErrorBody(Body):
    error: str


class Health(Body):
    status: str


class ReplayBanner(Body):
    dataset: str
    race_date: str


class WhoAmI(Body):
    name: str
    role: str
    replay: ReplayBanner | None = None
    """Set when the server serves a replayed day instead of the live one."""


class Ready(Body):
    status: str
    checks: dict[str, str]


class Runner(Body):
    horse_no: int
    horse_name: str | None = None
    jockey_name: str | None = None
    status: str | None = None


class Race(Body):
    race_id: str
    venue_code: int
    race_no: int
    post_time: dt.datetime
    race_name: str | None = None
    grade: str | None = None
    race_class: str | None = None
    surface: str | None = None
    distance_m: int | None = None
    field_size: int | None = None
    runners: list[Runner]


class Starter(Body):
    horse_no: int
    horse_name: str
    p_model: float
    p_market: float
    p_combined: float
    odds: float
    ev: float
    stake_yen: int
    reason: str | None = Field(description="Themis's reason code for not buying (None: bought)")


class Ticket(Body):
    bet_type: str
    combination: str
    stake_yen: int
    probability: float
    odds: float
    expected_return: float
    rule: str


class RaceView(Body):
    race_id: str
    venue: str
    race_no: int
    post_time: str
    race_name: str
    race_class: str
    grade: str | None
    decided: bool
    reason: str | None = Field(description="Why the race cannot be decided (None: decided)")
    odds_as_of: str | None
    odds_age_s: float | None
    staked_yen: int
    starters: list[Starter]
    tickets: list[Ticket]
    rejected: dict[str, int]
    odds_stale: bool
    post_passed: bool


class Bankroll(Body):
    balance_yen: int
    staked_today_yen: int
    tickets_today: int
    day_start_yen: int


class RaceDecision(Body):
    race_date: str
    at: str
    dataset: str
    model_version: str
    account: str
    bankroll: Bankroll
    race: RaceView
    notes: list[str]


class PlanStep(Body):
    kind: str
    due: dt.datetime
    deadline: dt.datetime
    state: str


class PlanRace(Body):
    race_id: str
    venue: str
    race_no: int
    post_time: dt.datetime
    outcome: str | None
    reason: str | None
    detail: dict[str, Any]
    step_counts: dict[str, int] = Field(description="The race's steps by state")
    steps: list[PlanStep]


class DayPlan(Body):
    race_date: dt.date
    planned: bool
    paused: bool
    paused_by: str | None
    pause_reason: str | None
    pause_at: dt.datetime | None
    races: list[PlanRace]


class Balance(Body):
    account: str
    cash_yen: int
    reserved_yen: int
    available_yen: int


class LedgerEntry(Body):
    seq: int
    kind: str
    cash_yen: int
    reserved_yen: int
    cash_after_yen: int
    reserved_after_yen: int
    race_id: str | None
    ticket_id: str | None
    decision_id: str | None
    cause: str | None
    created_at: dt.datetime


class LedgerPage(Body):
    items: list[LedgerEntry]
    limit: int
    next_before_seq: int | None = Field(description="The cursor of the next (older) page")


class LedgerTicket(Body):
    ticket_id: str
    race_id: str
    decision_id: str | None
    bet_type: str
    combination: str
    stake_yen: int
    rule: str | None
    state: str
    reserved_at: dt.datetime | None
    placed_at: dt.datetime | None
    receipt: str | None
    settled_at: dt.datetime | None
    payout_yen: int | None
    outcome: str | None


class MonitorState(Body):
    account: str
    balance_yen: int
    peak_yen: int
    drawdown: float
    tier: str | None
    tier_stake_multiplier: float
    tier_stops_buying: bool
    recorded_tier: str | None
    stopped: bool
    stopped_by: dict[str, Any] | None
    last_resume: dict[str, Any] | None
    monitor_records: int


class MonitorEvent(Body):
    model_config = ConfigDict(extra="allow")
    seq: int
    kind: str
    recorded_at: str | None


class ModelVersion(Body):
    version: str
    latest: bool
    dataset: dict[str, Any] | None
    periods: dict[str, Any] | None
    combination: dict[str, Any] | None
    mlflow_run_id: str | None


class ModelEvaluation(Body):
    run_id: str
    kind: str
    name: str
    started_at: dt.datetime
    metrics: dict[str, float]


class BacktestRun(Body):
    run_id: str
    period: Any
    has_report: bool


class Strategy(Body):
    model_config = ConfigDict(extra="allow")
    strategy: str
    label: str
    bets: int
    staked_yen: int
    returned_yen: int
    profit_yen: int


class BacktestReport(Body):
    run_id: str
    period: Any
    strategies: list[Strategy]
    caveats: list[Any]


class ManualTicket(Body):
    ticket_id: str
    race: str
    race_id: str
    pool: str
    selection: str
    stake_yen: int
    deadline_jst: str


class ManualTickets(Body):
    race_date: dt.date
    sha256: str
    tickets: list[ManualTicket]
    total_yen: int
    approved_by: str | None = None
    audit_seq: int | None = None


class Reason(BaseModel):
    """An operator action's reason, recorded in the audit chain."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=500)


class Approval(BaseModel):
    """Approving a manual ticket list: the SHA-256 of the list as it was read."""

    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ResumeResult(Body):
    account: str
    stopped: bool
    resume_record: dict[str, Any]
    drawdown: float
    tier: str | None
    tier_stops_buying: bool


class Decided(Body):
    """A race's decision: bought, passed, skipped or failed, and why."""

    race_id: str
    outcome: str
    reason: str


class Settled(Body):
    """A race's settlement: `settled` (the official result paid the race's tickets),
    `failed` (no official result by the deadline: the race's outcome is failed) or `nothing`
    (no settlement is planned for it), why, and what was paid."""

    race_id: str
    state: Literal["settled", "failed", "nothing"]
    reason: str
    tickets: int = Field(description="Tickets settled by the official result")
    paid_yen: int = Field(description="Paid to the account for them (refunds included)")


class RawPageEvent(Body):
    """What a Cloud Storage event did: the page loaded or quarantined, or the object ignored."""

    object: str
    outcome: str
    reason: str | None
    ingest: dict[str, Any] | None
