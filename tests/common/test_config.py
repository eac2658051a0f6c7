from pathlib import Path

import pytest

from keiba.common.config import load_config
from keiba.common.errors import ConfigError


def test_defaults_derive_every_path_from_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KEIBA_CONFIG", raising=False)
    config = load_config(home=tmp_path)
    assert config.home == tmp_path.resolve()
    assert config.duckdb_path == tmp_path / "warehouse" / "default.duckdb"
    assert config.object_store_url == str(tmp_path / "objects")
    assert config.ledger_url == f"sqlite:///{tmp_path / 'ledger' / 'ledger.sqlite'}"


def test_keiba_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEIBA_HOME", str(tmp_path))
    assert load_config().home == tmp_path.resolve()


def test_yaml_then_environment_then_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text(
        "themis:\n  ev_threshold: 1.2\n  kelly_fraction: 0.5\nmodel:\n  num_leaves: 15\n"
    )
    assert load_config(home=tmp_path).themis.ev_threshold == 1.2  # found under home
    monkeypatch.setenv("KEIBA_THEMIS__EV_THRESHOLD", "1.3")
    config = load_config(path, tmp_path)
    assert config.themis.ev_threshold == 1.3
    assert config.themis.kelly_fraction == 0.5
    assert config.model.num_leaves == 15
    config = load_config(path, tmp_path, {"themis": {"ev_threshold": 1.5}})
    assert config.themis.ev_threshold == 1.5


def test_sections_are_frozen(tmp_path: Path) -> None:
    config = load_config(home=tmp_path)
    with pytest.raises(ValueError, match="frozen"):
        config.themis.ev_threshold = 2.0  # type: ignore[misc]


def test_unknown_key_in_file_names_key_and_file(tmp_path: Path) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text("themis:\n  ev_treshold: 1.2\n")
    with pytest.raises(ConfigError, match=r"'themis\.ev_treshold' in .*keiba\.yaml"):
        load_config(path, tmp_path)


def test_unknown_section_names_it(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("themsi:\n  ev_threshold: 1.2\n")
    with pytest.raises(ConfigError, match=r"'themsi' in .*c\.yaml"):
        load_config(path, tmp_path)


def test_unknown_environment_variable_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEIBA_THEMIS__EV", "3")
    with pytest.raises(ConfigError, match="KEIBA_THEMIS__EV"):
        load_config(home=tmp_path)


def test_invalid_value_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text("themis:\n  unit_yen: 150\n")
    with pytest.raises(ConfigError, match="unit_yen must be a multiple of 100"):
        load_config(path, tmp_path)


def test_malformed_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "keiba.yaml"
    path.write_text("themis: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path, tmp_path)


def test_the_selected_dataset_is_a_file_of_its_own(tmp_path: Path) -> None:
    config = load_config(home=tmp_path, overrides={"storage": {"dataset": "jra-2019_a"}})
    assert config.duckdb_path == tmp_path / "warehouse" / "jra-2019_a.duckdb"
    other = config.with_dataset("demo-simulated")
    assert other.duckdb_path == tmp_path / "warehouse" / "demo-simulated.duckdb"
    assert config.storage.dataset == "jra-2019_a"  # the original is unchanged
    moved = load_config(home=tmp_path, overrides={"storage": {"warehouse_dir": "/data/w"}})
    assert moved.duckdb_path == Path("/data/w/default.duckdb")


@pytest.mark.parametrize("name", ["Upper", "-lead", "with space", "dot.ted", "a" * 65, ""])
def test_a_bad_dataset_name_is_refused_with_the_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="not a dataset name: use 1 to 64 lower-case"):
        load_config(home=tmp_path, overrides={"storage": {"dataset": name}})
    with pytest.raises(ConfigError, match="not a dataset name"):
        load_config(home=tmp_path).with_dataset(name)
