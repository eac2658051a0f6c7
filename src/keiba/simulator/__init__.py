"""A simulated JRA world: races, runners, payouts and odds in the data contract, with the truth.

`generate_world(WorldConfig(years=10, seed=1))` simulates ten seasons of JRA racing — calendar,
horse population, races drawn from known true win probabilities, and parimutuel pools bet by a
biased, noisy public — and returns the contract tables plus `true_probabilities`.
`market_statistics(world)` measures the market facts the simulation is tuned to reproduce.

Conventions worth knowing when using a simulated world:

- `true_probabilities.p_true` is exactly each starter's chance of crossing the line first
  (scratched and excluded runners have none; dead heats are added after the order is drawn).
- `runners.win_odds_final` is the payout per 100 yen if that runner wins alone, divided by
  100. It is never below 1.1: where the parimutuel formula would pay less than 110 yen, the
  simulated JRA pays 110 (the real one would show 1.0 and pay 100). With a dead heat for
  first the win pool is shared, so each winner's payout is below its final odds × 100.
- Odds are one snapshot at post time (`stage` "final"); win odds carry the money on the
  runner in `pool_yen`, place odds the published low–high range.
"""

from keiba.simulator.config import SimulatedWorld, WorldConfig
from keiba.simulator.stats import market_statistics
from keiba.simulator.world import generate_world

__all__ = ["SimulatedWorld", "WorldConfig", "generate_world", "market_statistics"]
