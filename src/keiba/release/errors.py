"""The errors of releases: a release that cannot be promoted, found, rolled back or run."""

from __future__ import annotations

from keiba.common.errors import KeibaError

__all__ = ["PromotionRefused", "ReleaseError"]


class ReleaseError(KeibaError):
    """A release cannot be promoted, found or rolled back; the message says why."""


class PromotionRefused(ReleaseError):
    """A promotion (or a canary's start) refused by its gates or the freeze: one line per reason
    in `lines`."""

    def __init__(self, lines: list[str], what: str = "promotion") -> None:
        super().__init__(f"{what} refused: " + "; ".join(lines))
        self.lines = list(lines)
