"""The IPAT tests' world: races on sale, an account, credentials, tickets, and the fixtures'
makings (one headless Chromium per module, a served twin with a broker driving it).

The browser is the system's Chromium (`chromium`, `chromium-browser`, `google-chrome` or
$KEIBA_CHROMIUM; `scripts/ensure-chromium.sh` installs it, `make test` runs that). Without
one the browser tests are skipped, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from keiba.bankroll import Ticket
from keiba.common.clock import JST, FixedClock
from keiba.execution.ipat import CHROMIUM_NAMES, IpatBroker
from keiba.execution.ipat_secrets import IpatCredentials
from keiba.simulator.ipat_twin import IpatAccount, IpatFaults, IpatRace, IpatTwin, serving_ipat

DAY = dt.date(2018, 11, 25)
TOKYO_1 = "2018112505050801"
TOKYO_11 = "2018112505050811"
KYOTO_11 = "2018112508050811"
RACES = (
    IpatRace(TOKYO_1, dt.datetime(2018, 11, 25, 10, 5, tzinfo=JST)),
    IpatRace(TOKYO_11, dt.datetime(2018, 11, 25, 15, 40, tzinfo=JST)),
    IpatRace(KYOTO_11, dt.datetime(2018, 11, 25, 15, 35, tzinfo=JST)),
)
MORNING = dt.datetime(2018, 11, 25, 9, 30, tzinfo=JST)
INETID, SUBSCRIBER, PIN, PARS = "ZQ7XK2M9", "73918264", "5821", "9037"
SECRETS = (INETID, SUBSCRIBER, PIN, PARS)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def launch_browser() -> Iterator[Any]:
    given = os.environ.get("KEIBA_CHROMIUM")
    found = next(
        (p for p in ([given] if given else []) + list(CHROMIUM_NAMES) if shutil.which(p)), None
    )
    if found is None:
        message = "no Chromium found; run scripts/ensure-chromium.sh or `make test`"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=shutil.which(found), args=["--no-sandbox", "--headless=new"]
        )
        try:
            yield launched
        finally:
            launched.close()


class Secrets:
    """A provider that hands over fixed credentials (and counts how often it was asked)."""

    def __init__(self, pin: str = PIN) -> None:
        self.pin = pin
        self.asked = 0

    def ipat_credentials(self) -> IpatCredentials:
        self.asked += 1
        return IpatCredentials(INETID, SUBSCRIBER, self.pin, PARS)


def account(deposit_yen: int = 10_000) -> IpatAccount:
    return IpatAccount(INETID, SUBSCRIBER, PIN, PARS, deposit_yen)


@dataclass
class Venue:
    """A served twin and a broker driving it in the module's browser."""

    twin: IpatTwin
    broker: IpatBroker
    clock: FixedClock
    secrets: Secrets
    browser: Any

    @property
    def faults(self) -> IpatFaults:
        return self.twin.faults


def serve_venue(browser: Any, options: dict[str, Any]) -> Iterator[Venue]:
    clock = FixedClock(options.get("at", MORNING))
    twin = IpatTwin(RACES, account(options.get("deposit", 10_000)), clock, IpatFaults())
    secrets = Secrets(options.get("pin", PIN))
    with serving_ipat(twin) as url:
        broker = IpatBroker(
            url,
            secrets,
            clock,
            day_cap_yen=options.get("cap"),
            timeout_s=options.get("timeout_s", 10.0),
            check_timeout_s=3.0,
            browser=browser,
        )
        try:
            yield Venue(twin, broker, clock, secrets, browser)
        finally:
            broker.close()


def ticket(race: str, bet_type: str, combination: str, stake: int, n: int = 1) -> Ticket:
    return Ticket(f"{race}-{bet_type}-{combination}-{n}", race, bet_type, combination, stake, "t")
