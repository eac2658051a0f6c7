"""The primary's and the failover's IPAT brokers in one process share one browser.

Playwright's sync API starts once per thread: two brokers each launching Chromium would
break the second. (No module browser here: the brokers launch their own.)"""

from __future__ import annotations

import os
import shutil

import pytest

from keiba.common.clock import FixedClock
from keiba.execution import ipat
from keiba.execution.ipat import CHROMIUM_NAMES, IpatBroker
from keiba.simulator.ipat_twin import IpatAccount, IpatTwin, serving_ipat

from .ipat_support import DAY, MORNING, RACES, SECRETS, TOKYO_11, _in_ci, ticket
from .test_faults import ALT, Provider


def chromium() -> str:
    given = os.environ.get("KEIBA_CHROMIUM")
    found = next((p for n in ([given] if given else CHROMIUM_NAMES) if (p := shutil.which(n))), "")
    if not found:
        message = "no Chromium found; run scripts/ensure-chromium.sh or `make test`"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return found


def test_two_accounts_brokers_in_one_process_share_one_browser() -> None:
    path = chromium()
    clock = FixedClock(MORNING)
    twins = [IpatTwin(RACES, IpatAccount(*s, 10_000), clock) for s in (SECRETS, ALT)]
    with serving_ipat(twins[0]) as url, serving_ipat(twins[1]) as alt_url:
        brokers = [
            IpatBroker(u, Provider(s), clock, timeout_s=5.0, chromium=path)
            for u, s in ((url, SECRETS), (alt_url, ALT))
        ]
        for broker in brokers:
            assert broker.history(DAY) == []
        for broker in brokers:
            assert broker.submit([ticket(TOKYO_11, "win", "3", 300)])[0].accepted
        assert len(ipat._BROWSERS) == 1
        for broker in brokers:
            broker.close()
        assert ipat._BROWSERS == {}
    assert [len(t.purchases) for t in twins] == [1, 1]
