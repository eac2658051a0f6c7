"""The race_day section: defaults from the race-day facts, YAML and environment, validation."""

from pathlib import Path

import pytest

from keiba.common.config import RaceDayConfig, load_config
from keiba.common.errors import ConfigError


def test_defaults_are_the_race_day_facts() -> None:
    c = RaceDayConfig()
    assert (c.close_lead_s, c.decision_lead_s, c.submit_deadline_s) == (120, 360, 150)
    assert c.poll_bands == ((180, 15), (60, 10), (30, 5), (10, 2), (0, 1))
    assert (c.poll_stop_after_post_min, c.weights_lead_min) == (10, 60)


def test_bands_from_yaml_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text("race_day:\n  poll_bands: [[120, 20], [0, 3]]\n  decision_lead_s: 420\n")
    config = load_config(path, tmp_path)
    assert config.race_day.poll_bands == ((120, 20), (0, 3))
    assert config.race_day.decision_lead_s == 420
    monkeypatch.setenv("KEIBA_RACE_DAY__POLL_BANDS", "[[30, 5], [0, 1]]")
    assert load_config(path, tmp_path).race_day.poll_bands == ((30, 5), (0, 1))


def test_unknown_race_day_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text("race_day:\n  close_lead: 120\n")
    with pytest.raises(ConfigError, match=r"'race_day\.close_lead' in .*keiba\.yaml"):
        load_config(path, tmp_path)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"poll_bands": []}, "at least one"),
        ({"poll_bands": [[10, 2], [60, 10], [0, 1]]}, "from far to near post: 10 then 60"),
        ({"poll_bands": [[60, 10], [60, 5], [0, 1]]}, "from far to near post: 60 then 60"),
        ({"poll_bands": [[60, 10], [10, 2]]}, "last poll band must start at 0 minutes, was 10"),
        ({"poll_bands": [[60, 0], [0, 1]]}, "from 60 min has interval 0"),
        ({"submit_deadline_s": 360}, r"submit_deadline_s \(360\) must be less than"),
        ({"decision_lead_s": 100}, r"submit_deadline_s \(150\) must be less than"),
        ({"close_lead_s": 0}, "close_lead_s"),
        ({"weights_lead_min": 8}, r"weights_lead_min \(8\) must be more than the decision's 8"),
        ({"watch_from_min": 30}, r"watch_from_min \(30\) must be at least weights_lead_min"),
        ({"settle_first_min": 90}, r"settle_give_up_min \(60\) is before settle_first_min"),
        ({"blocked_backoff_max_s": 10}, r"blocked_backoff_max_s \(10.0\) is below"),
    ],
)
def test_inconsistent_settings_are_refused_with_a_reason(
    tmp_path: Path, settings: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(home=tmp_path, overrides={"race_day": settings})
