"""`keiba data learnable-floor`'s work: a simulated world's floors on the demo's test races."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from keiba.app.floors import learnable_floor
from keiba.common.config import load_config


@pytest.mark.slow
def test_the_floors_are_scored_on_the_demos_test_period_or_from_a_day(tmp_path: Path) -> None:
    config = load_config(None, tmp_path, {"demo": {"start_year": 2015, "test_fraction": 0.25}})
    stages: set[str] = set()
    result = learnable_floor(config, 1, 3, None, lambda stage, *_: stages.add(stage))
    assert stages == {"race days"}
    assert result["world"] == {"years": 1, "seed": 3, "start_year": 2015}
    first, last = (dt.date.fromisoformat(d) for d in result["test_period"])
    assert dt.date(2015, 9, 1) < first < last <= dt.date(2015, 12, 31)
    overall = result["groups"]["all races"]
    loss = overall["log_loss"]
    assert loss["true probabilities"] < loss["knowable from the past"]
    assert loss["learnable from results and past odds"] < loss["learnable from results alone"]
    assert result["model"] is None and "model" not in loss
    later = learnable_floor(config, 1, 3, dt.date(2015, 12, 1), lambda *_: None)
    assert later["test_period"] == ["2015-12-01", result["test_period"][1]]
    assert later["groups"]["all races"]["races"] < overall["races"]
