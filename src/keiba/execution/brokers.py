"""The broker the configuration chooses (`execution.broker`): paper, IPAT, or a person."""

from __future__ import annotations

from keiba.common.clock import Clock
from keiba.common.config import KeibaConfig
from keiba.common.secrets import secret_store_from_config
from keiba.execution.broker import Broker, PaperBroker
from keiba.execution.ipat import IpatBroker
from keiba.execution.manual import ManualBroker

__all__ = ["broker_from_config"]


def broker_from_config(config: KeibaConfig, clock: Clock) -> Broker:
    """`execution.broker` built from its settings; relative paths are under the home."""
    execution = config.execution
    if execution.broker == "ipat":
        store = secret_store_from_config(config)
        return IpatBroker.from_config(execution, clock, config.home, store)
    if execution.broker == "manual":
        return ManualBroker(config.path(execution.manual_dir), clock)
    return PaperBroker()
