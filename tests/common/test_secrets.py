"""Named secrets: from the environment, a private file, or Secret Manager (its loopback twin)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import secret_manager_twin
from keiba.common.config import load_config
from keiba.common.errors import ConfigError
from keiba.common.secret_manager import SecretManagerStore
from keiba.common.secrets import (
    EnvSecretStore,
    FileSecretStore,
    SecretStore,
    env_name,
    secret_store_from_config,
)

PROJECT = "keiba-test-project"
HOOK = "https://hooks.example.com/services/T0/B0/xoxb-7d1f3a"


@pytest.fixture
def twin() -> secret_manager_twin.SecretManagerTwin:
    return secret_manager_twin.SecretManagerTwin()


@pytest.fixture
def endpoint(twin: secret_manager_twin.SecretManagerTwin) -> Iterator[str]:
    with secret_manager_twin.running(twin) as url:
        yield url


def _shows(store: SecretStore, text: str) -> bool:
    return text in repr(store) or text in str(store)


def test_the_environment_store_reads_keiba_secret_variables() -> None:
    assert env_name("alert-webhook-url") == "KEIBA_SECRET_ALERT_WEBHOOK_URL"
    store = EnvSecretStore({"KEIBA_SECRET_ALERT_WEBHOOK_URL": f" {HOOK}\n"})
    secret = store.get("alert-webhook-url")
    assert secret.get_secret_value() == HOOK
    assert HOOK not in repr(secret) and HOOK not in str(secret) and HOOK not in f"{secret}"
    with pytest.raises(ConfigError, match=r"secret api-token .* KEIBA_SECRET_API_TOKEN$"):
        store.get("api-token")
    with pytest.raises(ConfigError, match="not a secret name"):
        store.get("../etc/passwd")


def test_the_file_store_reads_owner_only_files(tmp_path: Path) -> None:
    path = tmp_path / "alert-webhook-url"
    path.write_text(HOOK + "\n")
    path.chmod(0o640)
    store = FileSecretStore(tmp_path)
    with pytest.raises(ConfigError, match="chmod 600") as raised:
        store.get("alert-webhook-url")
    assert HOOK not in str(raised.value)
    path.chmod(0o600)
    assert store.get("alert-webhook-url").get_secret_value() == HOOK
    with pytest.raises(ConfigError, match="cannot read the secret api-token"):
        store.get("api-token")


def test_secret_manager_reads_the_latest_version_through_the_real_client(
    twin: secret_manager_twin.SecretManagerTwin, endpoint: str
) -> None:
    twin.add(PROJECT, "alert-webhook-url", b"https://hooks.example.com/old")
    twin.add(PROJECT, "alert-webhook-url", HOOK.encode() + b"\n")
    store = SecretManagerStore(PROJECT, endpoint=endpoint)
    assert store.get("alert-webhook-url").get_secret_value() == HOOK
    assert twin.requests == [
        (f"/v1/projects/{PROJECT}/secrets/alert-webhook-url/versions/latest:access", None)
    ]
    assert not _shows(store, HOOK)
    twin.add(PROJECT, "api-token", b"s3cr3t-token")
    twin.unchecked.add((PROJECT, "api-token"))
    assert store.get("api-token").get_secret_value() == "s3cr3t-token"


def test_secret_manager_failures_name_the_secret_in_one_line(
    twin: secret_manager_twin.SecretManagerTwin, endpoint: str
) -> None:
    twin.add(PROJECT, "api-token", b"s3cr3t-token")
    twin.denied.add((PROJECT, "api-token"))
    twin.add(PROJECT, "ipat-credentials", b"inetid = QX4R7T2W")
    twin.corrupt.add((PROJECT, "ipat-credentials"))
    store = SecretManagerStore(PROJECT, endpoint=endpoint)
    cases = {
        "alert-webhook-url": "alert-webhook-url in Secret Manager .* does not exist",
        "api-token": "api-token in Secret Manager .* may not be read: grant",
        "ipat-credentials": "ipat-credentials .* CRC32C checksum does not match",
    }
    for name, message in cases.items():
        with pytest.raises(ConfigError, match=message) as raised:
            store.get(name)
        text = str(raised.value)
        assert "\n" not in text and "s3cr3t" not in text and "QX4R7T2W" not in text


def test_secret_manager_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(ConfigError, match="must be https"):
        SecretManagerStore(PROJECT, endpoint="http://secretmanager.example.com")


def test_the_configuration_chooses_the_store(
    tmp_path: Path, twin: secret_manager_twin.SecretManagerTwin, endpoint: str
) -> None:
    twin.add(PROJECT, "api-token", b"s3cr3t-token")
    chosen = load_config(
        home=tmp_path,
        overrides={
            "secrets": {"provider": "secret-manager", "project": PROJECT, "endpoint": endpoint}
        },
    )
    store = secret_store_from_config(chosen)
    assert store.get("api-token").get_secret_value() == "s3cr3t-token"
    files = load_config(home=tmp_path, overrides={"secrets": {"provider": "file"}})
    file_store = secret_store_from_config(files)
    assert isinstance(file_store, FileSecretStore)
    assert file_store.directory == tmp_path / "secrets"
    assert isinstance(secret_store_from_config(load_config(home=tmp_path)), EnvSecretStore)
    with pytest.raises(ConfigError, match="needs the Google Cloud project"):
        load_config(home=tmp_path, overrides={"secrets": {"provider": "secret-manager"}})


def test_secret_variables_are_not_taken_for_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEIBA_SECRET_API_TOKEN", "s3cr3t-token")
    monkeypatch.setenv("KEIBA_SECRETS__PROVIDER", "file")
    assert load_config(home=tmp_path).secrets.provider == "file"
    for typo in ("KEIBA_SECRETS__PROVDER", "KEIBA_SECRET__PROVIDER"):
        monkeypatch.setenv(typo, "file")
        with pytest.raises(ConfigError, match=typo):
            load_config(home=tmp_path)
        monkeypatch.delenv(typo)
