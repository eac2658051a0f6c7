"""The brokers the configuration chooses: `execution.broker` (paper, IPAT, or a person) and the
failover channel `execution.failover` (another IPAT account with its own secrets file, or a
person), with the rebuy policy (`execution.rebuy_margin_s`, `execution.max_rebuys`)."""

from __future__ import annotations

import datetime as dt

from keiba.common.clock import Clock
from keiba.common.config import ExecutionConfig, KeibaConfig
from keiba.common.secrets import secret_store_from_config
from keiba.execution.broker import Broker, PaperBroker
from keiba.execution.channels import Channel
from keiba.execution.ipat import IpatBroker
from keiba.execution.manual import ManualBroker
from keiba.execution.rebuy import RebuyPolicy

__all__ = ["broker_from_config", "failover_from_config", "rebuy_policy"]


def broker_from_config(config: KeibaConfig, clock: Clock) -> Broker:
    """`execution.broker` built from its settings; relative paths are under the home."""
    execution = config.execution
    if execution.broker == "ipat":
        store = secret_store_from_config(config)
        return IpatBroker.from_config(execution, clock, config.home, store)
    if execution.broker == "manual":
        return ManualBroker(config.path(execution.manual_dir), clock)
    return PaperBroker()


def failover_from_config(config: KeibaConfig, clock: Clock) -> list[Channel]:
    """The failover channel `execution.failover` names, if any: an IPAT account (the primary's
    site, page timeout and live switch; its own secrets file and day cap) or a person."""
    failover = config.execution.failover
    if failover is None:
        return []
    if failover.broker == "manual":
        return [Channel(failover.name, ManualBroker(config.path(failover.manual_dir), clock))]
    account = ExecutionConfig.model_validate(
        {
            **config.execution.model_dump(exclude={"failover"}),
            "broker": "ipat",
            "secrets": "file",
            "secrets_file": failover.secrets_file,
            "max_day_yen": failover.max_day_yen or config.execution.max_day_yen,
        }
    )
    return [Channel(failover.name, IpatBroker.from_config(account, clock, config.home))]


def rebuy_policy(config: KeibaConfig) -> RebuyPolicy:
    execution = config.execution
    return RebuyPolicy(dt.timedelta(seconds=execution.rebuy_margin_s), execution.max_rebuys)
