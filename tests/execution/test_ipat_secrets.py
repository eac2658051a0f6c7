"""The IPAT credentials: from the environment, a private file or a secret store, never shown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

import secret_manager_twin
from keiba.common.config import load_config
from keiba.common.errors import ConfigError
from keiba.common.secret_manager import SecretManagerStore
from keiba.common.secrets import EnvSecretStore
from keiba.execution.ipat_secrets import EnvSecrets, FileSecrets, IpatCredentials, StoreSecrets

VALUES = {"inetid": "QX4R7T2W", "subscriber": "80417362", "pin": "7319", "pars": "2864"}


def test_the_credentials_print_as_hidden() -> None:
    credentials = IpatCredentials(**VALUES)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials])):
        assert not any(v in text for v in VALUES.values())


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("subscriber", "8041736", "加入者番号 must be 8 digits"),
        ("pin", "73a9", "暗証番号 must be 4"),
    ],
)
def test_a_malformed_credential_is_named_not_shown(field: str, value: str, what: str) -> None:
    with pytest.raises(ConfigError, match=what) as raised:
        IpatCredentials(**{**VALUES, field: value})
    assert value not in str(raised.value)


def test_from_the_environment() -> None:
    environ = {
        "IPAT_INETID": "QX4R7T2W",
        "IPAT_SUBSCRIBER": "80417362",
        "IPAT_PIN": "7319",
        "IPAT_PARS": "2864",
    }
    assert EnvSecrets(environ).ipat_credentials() == IpatCredentials(**VALUES)
    with pytest.raises(ConfigError, match="IPAT_PIN, IPAT_PARS"):
        EnvSecrets({"IPAT_INETID": "x", "IPAT_SUBSCRIBER": "y"}).ipat_credentials()


def test_from_a_file_only_its_owner_can_read(tmp_path: Path) -> None:
    path = tmp_path / "ipat.secrets"
    path.write_text("# IPAT\n" + "".join(f"{k} = {v}\n" for k, v in VALUES.items()))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        FileSecrets(path).ipat_credentials()
    path.chmod(0o600)
    assert FileSecrets(path).ipat_credentials() == IpatCredentials(**VALUES)
    path.write_text("inetid: QX4R7T2W\n")
    with pytest.raises(ConfigError, match="line 1") as raised:
        FileSecrets(path).ipat_credentials()
    assert "QX4R7T2W" not in str(raised.value)


def test_live_buying_in_the_configuration_needs_a_day_cap(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_day_yen"):
        load_config(home=tmp_path, overrides={"execution": {"broker": "ipat", "live": True}})
    config = load_config(
        home=tmp_path,
        overrides={"execution": {"broker": "ipat", "live": True, "max_day_yen": 20_000}},
    )
    assert config.execution.live and config.execution.max_day_yen == 20_000


def test_the_configuration_chooses_the_broker(tmp_path: Path) -> None:
    from keiba.common.clock import FixedClock
    from keiba.execution import PaperBroker
    from keiba.execution.brokers import broker_from_config
    from keiba.execution.ipat import IpatBroker
    from keiba.execution.manual import ManualBroker

    clock = FixedClock(dt.datetime(2018, 11, 25, tzinfo=dt.UTC))

    def chosen(**execution: object) -> object:
        config = load_config(home=tmp_path, overrides={"execution": execution})
        return broker_from_config(config, clock)

    assert isinstance(chosen(), PaperBroker)
    manual = chosen(broker="manual")
    assert isinstance(manual, ManualBroker) and manual.directory == tmp_path / "manual"
    with pytest.raises(ConfigError, match=r"execution\.live"):
        chosen(broker="ipat")
    live = chosen(broker="ipat", live=True, max_day_yen=20_000)
    assert isinstance(live, IpatBroker) and live.url == "https://www.ipat.jra.go.jp"


def test_from_a_secret_in_secret_manager(tmp_path: Path) -> None:
    from keiba.common.clock import FixedClock
    from keiba.execution.brokers import broker_from_config
    from keiba.execution.ipat import IpatBroker

    twin = secret_manager_twin.SecretManagerTwin()
    twin.add("keiba-test-project", "ipat-credentials", _lines(VALUES).encode())
    with secret_manager_twin.running(twin) as endpoint:
        store = SecretManagerStore("keiba-test-project", endpoint=endpoint)
        assert StoreSecrets(store).ipat_credentials() == IpatCredentials(**VALUES)
        config = load_config(
            home=tmp_path,
            overrides={
                "execution": {
                    "broker": "ipat",
                    "secrets": "store",
                    "ipat_url": "http://127.0.0.1:9",
                },
                "secrets": {
                    "provider": "secret-manager",
                    "project": "keiba-test-project",
                    "endpoint": endpoint,
                },
            },
        )
        broker = broker_from_config(config, FixedClock(dt.datetime(2018, 11, 25, tzinfo=dt.UTC)))
        assert isinstance(broker, IpatBroker)
        assert broker._secrets.ipat_credentials() == IpatCredentials(**VALUES)
        twin.add("keiba-test-project", "ipat-credentials", b"inetid = QX4R7T2W\npin = 7319\n")
        with pytest.raises(ConfigError, match="the secret ipat-credentials: missing") as raised:
            StoreSecrets(store).ipat_credentials()
    assert "QX4R7T2W" not in str(raised.value) and "7319" not in str(raised.value)
    assert "QX4R7T2W" not in repr(StoreSecrets(store))


def test_from_a_secret_in_the_environment_store() -> None:
    store = EnvSecretStore({"KEIBA_SECRET_IPAT_CREDENTIALS": _lines(VALUES)})
    assert StoreSecrets(store).ipat_credentials() == IpatCredentials(**VALUES)
    with pytest.raises(ConfigError, match="KEIBA_SECRET_IPAT_CREDENTIALS"):
        StoreSecrets(EnvSecretStore({})).ipat_credentials()


def _lines(values: dict[str, str]) -> str:
    return "".join(f"{k} = {v}\n" for k, v in values.items())


def test_the_configuration_chooses_the_failover_channel(tmp_path: Path) -> None:
    from keiba.common.clock import FixedClock
    from keiba.execution.brokers import failover_from_config, rebuy_policy
    from keiba.execution.ipat import IpatBroker
    from keiba.execution.manual import ManualBroker

    clock = FixedClock(dt.datetime(2018, 11, 25, tzinfo=dt.UTC))
    primary = {"broker": "ipat", "live": True, "max_day_yen": 20_000, "rebuy_margin_s": 240}

    def channels(**failover: object) -> list[Any]:
        execution = {**primary, "failover": failover} if failover else primary
        config = load_config(home=tmp_path, overrides={"execution": execution})
        assert rebuy_policy(config).margin == dt.timedelta(minutes=4)
        return failover_from_config(config, clock)

    assert channels() == []
    [manual] = channels(broker="manual", name="hand")
    assert manual.name == "hand" and isinstance(manual.broker, ManualBroker)
    assert manual.broker.directory == tmp_path / "manual-failover"
    with pytest.raises(ConfigError, match="secrets_file"):
        channels(broker="ipat")
    [alt] = channels(broker="ipat", secrets_file="alt.secrets")
    assert alt.name == "alt" and isinstance(alt.broker, IpatBroker)
    assert repr(alt.broker._secrets) == f"FileSecrets({str(tmp_path / 'alt.secrets')!r})"
    with pytest.raises(ConfigError, match="name"):
        channels(broker="manual", name="Not Valid")
