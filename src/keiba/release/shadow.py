"""Shadow: a candidate release decides every race beside the release in force and buys nothing.

`ReleaseShadow` decides with the candidate's Themis policy, on the candidate model's inputs and
the bankroll the engine sees; it has no broker and no ledger, so nothing it decides is bought.
On a race day each decision is one row (`row`) naming both releases, the candidate's tickets and
stake, appended to the day's shadow log beside the journal; the race day's outcome table puts
the two side by side. In a replay (a backtest) it is one of the engine's shadow strategies
(`bets`), with an in-memory account of its own, deciding on the replayed race's probabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keiba.common.bet_types import BetType
from keiba.engine import Account, RaceInputs, ReplayRace, ShadowBet
from keiba.release.book import Release
from keiba.themis import Bankroll, Decision, decide

__all__ = ["ReleaseShadow"]


@dataclass(frozen=True)
class ReleaseShadow:
    """A candidate release deciding beside the release in force."""

    release: Release

    @property
    def name(self) -> str:
        return f"shadow {self.release.release_id}"

    def decide(self, inputs: RaceInputs, bankroll: Bankroll) -> Decision:
        """What the candidate would buy of the race: nothing is bought."""
        offers = {b: dict(q) for b, q in inputs.offers.items()}
        return decide(
            dict(inputs.probabilities),
            offers,
            bankroll,
            self.release.themis(),
            frames=dict(inputs.frames) if BetType.BRACKET_QUINELLA in offers else None,
            scratched=inputs.scratched,
        )

    def bets(self, race: ReplayRace, account: Account) -> Sequence[ShadowBet]:
        """The replay's shadow strategy: the candidate's policy on the race's inputs."""
        bankroll = Bankroll(
            max(account.cash, 0), account.staked_today, account.tickets_today, account.day_start
        )
        return [
            ShadowBet(b.bet_type, b.combination, int(b.stake), b.probability, b.odds)
            for b in self.decide(race.inputs, bankroll).bets
        ]

    def row(self, race_id: str, in_force: str, decision: Decision | str) -> dict[str, Any]:
        """The log row of one race: the candidate's tickets, or why it could not decide."""
        row: dict[str, Any] = {
            "race_id": race_id,
            "release_id": self.release.release_id,
            "in_force": in_force,
        }
        if isinstance(decision, str):
            return {**row, "status": "skipped", "reason": decision, "tickets": [], "staked_yen": 0}
        tickets = [
            {"bet_type": b.bet_type.value, "combination": b.combination, "stake_yen": int(b.stake)}
            for b in decision.bets
        ]
        status = "decided" if tickets else "passed"
        staked = sum(int(b.stake) for b in decision.bets)
        return {**row, "status": status, "reason": "", "tickets": tickets, "staked_yen": staked}
