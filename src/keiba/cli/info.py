"""`keiba info`: the facts a user needs to find their data, gathered without writing anything."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from keiba.common.config import KeibaConfig
from keiba.common.storage.ledger_db import shown

__all__ = ["gather_info"]


def _config_file(config: KeibaConfig) -> str:
    explicit = os.environ.get("KEIBA_CONFIG")
    if explicit:
        return explicit
    default = config.home / "keiba.yaml"
    return str(default) if default.exists() else f"none ({default} does not exist)"


def gather_info(
    config: KeibaConfig, version: str, config_path: str | None = None
) -> dict[str, Any]:
    """Version, home, configuration file, and where each store lives."""
    local_mlflow = (config.home / "mlflow" / "mlflow.db").resolve()
    return {
        "version": version,
        "home": str(config.home),
        "home_exists": config.home.is_dir(),
        "config_file": config_path or _config_file(config),
        "dataset": config.storage.dataset,
        "warehouse": str(config.duckdb_path),
        "ledger": shown(config.ledger_url),
        "object_store": config.object_store_url,
        "mlflow_tracking": config.model.tracking_uri or f"sqlite:///{local_mlflow}",
        "reports": str(config.reports_dir),
        "python": f"{platform.python_implementation()} {sys.version.split()[0]}",
        "platform": platform.platform(terse=True),
    }
