"""Generating a simulated world: race days in order, then the market, then the tables.

1. Create the population (horses of every crop the world will see, jockeys, trainers).
2. Race every date of the calendar in order (`Season`), starting `burn_in_years` before
   `start_year` so that classes and careers settle; only dates from `start_year` are recorded.
3. Price every recorded race in one batched pass (`market.price_races`): money, odds, payouts.
4. Add how each race was run (times, margins, last 3F, passing).
5. Assemble the contract tables (`tables`).

Each stage draws from its own stream of one `SeedSequence(seed)`, so a world is a pure
function of its configuration.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from keiba.simulator.calendar import race_calendar
from keiba.simulator.config import SimulatedWorld, WorldConfig
from keiba.simulator.learnable import CardView
from keiba.simulator.market import MarketInput, MarketParameters, price_races
from keiba.simulator.population import create_horses, create_jockeys, create_trainers
from keiba.simulator.program import ProgramPlanner
from keiba.simulator.race_model import EXCLUDED, SCRATCHED
from keiba.simulator.running import RunInput, running_details
from keiba.simulator.season import Season
from keiba.simulator.tables import build_tables

__all__ = ["generate_world"]

_MAIDEN_DEADLINE = (9, 15)


def generate_world(
    config: WorldConfig,
    progress: Callable[[int, int], None] | None = None,
    observer: Callable[[CardView], None] | None = None,
) -> SimulatedWorld:
    """Simulate `config.years` JRA seasons; `progress(done, total)` counts race days, and
    `observer` sees each recorded day as the record shows it, after its races."""
    streams = [
        np.random.Generator(np.random.PCG64(s))
        for s in np.random.SeedSequence(config.seed).spawn(5)
    ]
    population_rng, program_rng, race_rng, market_rng, running_rng = streams
    first_year = config.start_year - config.burn_in_years
    seasons = config.burn_in_years + config.years
    calendar = race_calendar(first_year, seasons)
    recorded_total = sum(1 for date, _ in calendar if date.year >= config.start_year)
    if config.max_race_days is not None:
        recorded_total = min(recorded_total, config.max_race_days)

    trainers = create_trainers(population_rng, config.trainers)
    jockeys = create_jockeys(population_rng, config.jockeys, first_year, seasons)
    horses = create_horses(population_rng, first_year, seasons, config.crop_size, trainers)
    planner = ProgramPlanner(program_rng)
    planner.plan_year(calendar)
    season = Season(config, horses, jockeys, trainers, planner, race_rng, observer)

    year = first_year - 1
    month = 0
    maidens_retired = False
    done = 0
    for date, days in calendar:
        record = date.year >= config.start_year
        if record and done >= recorded_total:
            break
        if date.year != year:
            year = date.year
            maidens_retired = False
            if year > first_year:
                horses.new_year(population_rng, year)
                jockeys.new_year(population_rng, year)
            horses.activate_crop(year)
        if date.month != month:
            month = date.month
            horses.retire_idle(date.toordinal())
        if not maidens_retired and (date.month, date.day) >= _MAIDEN_DEADLINE:
            horses.retire_maidens(population_rng, year)
            maidens_retired = True
        season.race_date(date, days, record)
        if record:
            done += 1
            if progress is not None:
                progress(done, recorded_total)

    records = season.records
    status = records.runner("status")
    race = records.runner("race")
    starts = (status != SCRATCHED) & (status != EXCLUDED)
    starters = np.bincount(race[starts], minlength=len(records.races))
    market = price_races(
        MarketInput(
            starters=starters,
            offsets=np.cumsum(starters) - starters,
            p_true=records.runner("p_true")[starts],
            horse_no=records.runner("horse_no")[starts],
            frame=records.runner("frame")[starts],
            finish_pos=records.runner("finish_pos")[starts],
            win_pool_yen=np.array([pool for _, _, pool in records.races]),
        ),
        MarketParameters(
            beta=config.market_beta,
            noise=config.market_noise,
            lottery_share=config.lottery_share,
            place_power=config.place_power,
            exotic_power=config.exotic_flb_power,
            combination_noise=config.combination_noise,
            include_exotic_odds=config.include_exotic_odds,
        ),
        market_rng,
    )
    specs = [spec for spec, _, _ in records.races]
    running = running_details(
        RunInput(
            race_surface=np.array([s.course.surface for s in specs], dtype=np.int64),
            race_distance=np.array([s.course.distance_m for s in specs], dtype=np.int64),
            race_going=np.array([s.going for s in specs], dtype=np.int64),
            race_level=np.array([s.category.level for s in specs], dtype=np.int64),
            race_corners=np.array([s.course.corners for s in specs], dtype=np.int64),
            runner_race=race,
            status=status,
            run_order=records.runner("run_order"),
            tied=records.runner("tied").astype(np.int64),
            style=records.runner("style"),
        ),
        running_rng,
    )
    return build_tables(records, starts, market, running, horses, jockeys, trainers)
