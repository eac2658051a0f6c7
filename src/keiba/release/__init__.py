"""Releases: the model version and Themis policy a dataset's race days run, promoted through gates.

A release pairs a stored model version with a Themis policy for one dataset (`book`). It is put
in force by a promotion and taken out by a rollback, both audited in the ledger database's hash
chain; a live race day runs only the release in force. Before promotion a candidate passes its
gates (`gates`), outside the race-day freeze (`freeze`); after promotion the guard rolls it back
when the account's drawdown reaches a tier within a window (`guard`). A candidate may run in
shadow beside the release in force, deciding every race and buying nothing (`shadow`), or as a
canary, deciding and buying a deterministic share of the races under its own stake caps
(`canary`).
"""

from keiba.release.book import (
    CANARY,
    CANARY_STOP,
    NO_RELEASE,
    PROMOTE,
    RELEASE_ACCOUNT,
    ROLLBACK,
    SHADOW,
    SHADOW_STOP,
    Release,
    ReleaseBook,
    ReleaseEvent,
)
from keiba.release.canary import CanaryRun, CanarySettings, selects
from keiba.release.errors import PromotionRefused, ReleaseError
from keiba.release.freeze import freeze_reason
from keiba.release.gates import GATES, GateFigures, GateResult, failed, judge
from keiba.release.guard import AUTOMATIC, ReleaseGuard
from keiba.release.shadow import ReleaseShadow

__all__ = [
    "AUTOMATIC",
    "CANARY",
    "CANARY_STOP",
    "GATES",
    "NO_RELEASE",
    "PROMOTE",
    "RELEASE_ACCOUNT",
    "ROLLBACK",
    "SHADOW",
    "SHADOW_STOP",
    "CanaryRun",
    "CanarySettings",
    "GateFigures",
    "GateResult",
    "PromotionRefused",
    "Release",
    "ReleaseBook",
    "ReleaseError",
    "ReleaseEvent",
    "ReleaseGuard",
    "ReleaseShadow",
    "failed",
    "freeze_reason",
    "judge",
    "selects",
]
