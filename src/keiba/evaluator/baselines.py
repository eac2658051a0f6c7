"""The backtest's baselines: strategies replayed beside the engine on the same races.

Each is a `keiba.engine.Shadow` with an in-memory account: the favourite (lowest win odds at
decision time) and the model's top pick (highest `p_model`) for a flat stake, and Themis fed the
market's own probabilities, which shows what the policy does with no edge at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keiba.common.bet_types import BetType
from keiba.common.config import ThemisConfig
from keiba.engine import Account, ReplayRace, ShadowBet
from keiba.themis import Bankroll, decide

__all__ = ["Favourite", "ThemisOnMarket", "TopPick", "baselines"]


def _flat(race: ReplayRace, account: Account, horse: int, stake: int, p: float) -> list[ShadowBet]:
    """A flat win stake on `horse`, while the account can pay it."""
    if account.cash < stake:
        return []
    return [ShadowBet(BetType.WIN, str(horse), stake, p, race.win_odds[horse])]


@dataclass(frozen=True)
class Favourite:
    stake: int
    name: str = "favourite"

    def bets(self, race: ReplayRace, account: Account) -> Sequence[ShadowBet]:
        horse = min(race.inputs.horses, key=lambda h: (race.win_odds[h], h))
        return _flat(race, account, horse, self.stake, race.p_market[horse])


@dataclass(frozen=True)
class TopPick:
    stake: int
    name: str = "top_pick"

    def bets(self, race: ReplayRace, account: Account) -> Sequence[ShadowBet]:
        horse = max(race.inputs.horses, key=lambda h: (race.p_model[h], -h))
        return _flat(race, account, horse, self.stake, race.p_model[horse])


@dataclass(frozen=True)
class ThemisOnMarket:
    policy: ThemisConfig
    name: str = "themis_market"

    def bets(self, race: ReplayRace, account: Account) -> Sequence[ShadowBet]:
        bankroll = Bankroll(
            max(account.cash, 0), account.staked_today, account.tickets_today, account.day_start
        )
        offers = {b: dict(q) for b, q in race.inputs.offers.items()}
        frames = dict(race.inputs.frames) if BetType.BRACKET_QUINELLA in offers else None
        decision = decide(dict(race.p_market), offers, bankroll, self.policy, frames=frames)
        return [
            ShadowBet(b.bet_type, b.combination, int(b.stake), b.probability, b.odds)
            for b in decision.bets
        ]


def baselines(policy: ThemisConfig, flat_stake: int) -> list[Favourite | TopPick | ThemisOnMarket]:
    """The three baselines, in the order the reports list them."""
    return [Favourite(flat_stake), TopPick(flat_stake), ThemisOnMarket(policy)]
