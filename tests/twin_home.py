"""The netkeiba twin's day of a small simulated world, prepared once per test process.

`prepare_twin` imports the world's history into the twin's dataset and trains a model on it: the
world, the features, the model and a fresh MLflow store take seconds. Many test modules play that
same day (the same world, the same model settings). Each copies the home prepared here into a
home of its own and calls `prepare_twin` there under its own configuration, as it did before:
`prepare_twin` is idempotent (a resumed day relies on it), so it finds the history and the model
in place and returns the day, the run folder and the model store of the copy. The original is
never written to.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from keiba.app.twin_day import TwinPrepared, prepare_twin
from keiba.common.config import KeibaConfig, ModelConfig, load_config
from keiba.simulator import WorldConfig

WORLD = WorldConfig(seed=3, max_race_days=12)
MODEL = {"num_boost_round": 30, "learning_rate": 0.1, "num_leaves": 7, "order_places": 1}
"""The model settings the tests that play the twin's day train with: small and quick, and the
winner's softmax alone (`order_places` 1), which on this small world finds bets above the EV
threshold for the tests of buying; the default, the first three places, buys nothing here."""


@dataclass(frozen=True)
class TwinHome:
    """A home in which `prepare_twin` ran for `world` with `model`'s settings."""

    home: Path
    world: WorldConfig
    model: ModelConfig

    def prepare(self, config: KeibaConfig, world: WorldConfig) -> TwinPrepared:
        """`prepare_twin(config, world=world)` in `config.home`, from a copy of this home.

        Refuses a world or model settings other than the ones this home was prepared with: its
        history and model would not be the ones `prepare_twin` makes for them."""
        if world != self.world:
            raise ValueError(f"the twin home was prepared for {self.world}, not {world}")
        if config.model != self.model:
            raise ValueError(f"the twin home's model has settings {self.model}, not {config.model}")
        shutil.copytree(self.home, config.home, dirs_exist_ok=True)
        return prepare_twin(config, world=world)


def twin_home(home: Path) -> TwinHome:
    """Prepare the twin's day of `WORLD` with `MODEL` in `home`."""
    config = load_config(None, home, {"model": MODEL})
    prepare_twin(config, world=WORLD)
    return TwinHome(home, WORLD, config.model)
