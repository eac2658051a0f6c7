"""A world is a pure function of its configuration."""

from __future__ import annotations

from keiba.simulator import WorldConfig, generate_world


def test_the_same_seed_gives_the_same_world_frame_by_frame() -> None:
    config = WorldConfig(seed=3, max_race_days=3, include_exotic_odds=True)
    first, second = generate_world(config), generate_world(config)
    for name, frame in first.frames().items():
        assert frame.equals(second.frames()[name]), name


def test_different_seeds_give_different_worlds() -> None:
    one = generate_world(WorldConfig(seed=1, max_race_days=2, burn_in_years=0))
    two = generate_world(WorldConfig(seed=2, max_race_days=2, burn_in_years=0))
    assert not one.runners.equals(two.runners)
    assert not one.true_probabilities.equals(two.true_probabilities)
    assert not one.payouts.equals(two.payouts)


def test_progress_counts_race_days_up_to_the_total() -> None:
    calls: list[tuple[int, int]] = []
    world = generate_world(
        WorldConfig(seed=5, max_race_days=3, burn_in_years=0),
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert world.races["race_date"].n_unique() == 3
