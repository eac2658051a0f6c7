"""Where keiba keeps things: the facts `keiba info` prints, gathered without writing anything."""

from __future__ import annotations

import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from keiba.common.config import KeibaConfig, resolve_home
from keiba.common.errors import ConfigError
from keiba.common.storage.datasets import warehouse_location
from keiba.common.storage.ledger_db import shown

__all__ = ["gather_info", "keiba_version", "version_and_home"]


def keiba_version() -> str:
    """The installed version of keiba."""
    try:
        return version("keiba")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def version_and_home(home: Path | None) -> tuple[str, str]:
    """The version, and the home directory `--home` or the environment select (or why it
    cannot be one: a home that is a file is reported, not raised)."""
    try:
        return keiba_version(), str(resolve_home(home))
    except ConfigError as e:
        return keiba_version(), str(e)


def _config_file(config: KeibaConfig) -> str:
    explicit = os.environ.get("KEIBA_CONFIG")
    if explicit:
        return explicit
    default = config.home / "keiba.yaml"
    return str(default) if default.exists() else f"none ({default} does not exist)"


def gather_info(config: KeibaConfig, config_path: str | None = None) -> dict[str, Any]:
    """Version, home, configuration file, and where each store lives."""
    local_mlflow = (config.home / "mlflow" / "mlflow.db").resolve()
    return {
        "version": keiba_version(),
        "home": str(config.home),
        "home_exists": config.home.is_dir(),
        "config_file": config_path or _config_file(config),
        "dataset": config.storage.dataset,
        "warehouse": warehouse_location(config, config.storage.dataset),
        "ledger": shown(config.ledger_url),
        "object_store": config.object_store_url,
        "mlflow_tracking": config.model.tracking_uri or f"sqlite:///{local_mlflow}",
        "reports": str(config.reports_dir),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(terse=True),
    }
