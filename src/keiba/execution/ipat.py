"""The IPAT web broker: buys tickets through the IPAT purchase pages in headless Chromium.

`IpatBroker.submit` drives the pages with Playwright, one race at a time: log in with the four
credentials (from an injected `SecretsProvider`, read at login and never kept, logged or put in
an error), check the session positively (the menu's 通常投票 and 購入限度額 are visible), pick
the racecourse by its exact name and the race by its exact number ("1R" is not "11R"; a
disabled button is a closed race), check that the page's race is the ticket's race (date,
racecourse, number), fill the list, check its line count and total, type the total again, press
購入する, accept the dialog and read the 受付番号. Every ticket's receipt is
`date-受付番号-通番`.

What the answer means:
- accepted: the receipt page listed the lines sent;
- refused, with the reason: anything that went wrong before 購入する was pressed (nothing was
  sent), or the venue's own refusal after it (sales closed, 購入限度額 short, total wrong);
  the list is cleared after any failure;
- unknown (`PurchaseUnknown`, a `BrokerError`): no clear answer after 購入する (a timeout, a
  5xx, a login or maintenance page, a receipt that does not list the lines). The purchase is
  never retried; the tickets stay reserved until `history` (投票内容照会's CSV) says.

Buying on anything but a loopback address (a twin) needs `live=True` and a day cap
(`day_cap_yen`); a race whose list would pass the cap is refused before anything is sent. The
day's spending starts from the day's purchase history (a restart does not reset it), plus what
was sent since, unknown purchases included.
The broker was verified against `keiba.simulator.ipat_twin`, not against the live site.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType, parse_combination
from keiba.common.clock import JST, Clock
from keiba.common.config import ExecutionConfig
from keiba.common.errors import ConfigError, InvalidRaceIdError
from keiba.common.ids import RaceKey
from keiba.common.logging import get_logger
from keiba.common.secrets import SecretStore
from keiba.execution.broker import BrokerError, PurchaseUnknown, Submission
from keiba.execution.history import (
    HistoryFormatError,
    HistoryRow,
    find_tickets,
    ipat_receipt,
    parse_history_csv,
)
from keiba.execution.ipat_secrets import EnvSecrets, FileSecrets, SecretsProvider, StoreSecrets

__all__ = ["BET_NAMES", "IpatBroker", "find_chromium"]

BET_NAMES = {bet: bet.japanese.replace("三", "３") for bet in BetType}
"""The pools as IPAT's purchase pages name them (３連複, ３連単 with a full-width 3)."""
"""keiba's bet types as IPAT's 通常投票 names them (full-width digits)."""
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_ACCEPTED = "お客様の投票を受け付けました。"
_REFUSALS = (
    ("締め切", "sales closed"),
    ("購入限度額", "insufficient deposit (購入限度額)"),
    ("合計金額が一致しません", "the total did not match"),
    ("投票リストがありません", "the venue had no list to buy"),
)
_log = get_logger(__name__)


class _Refused(Exception):
    """Nothing was bought: the reason is safe to give as a refusal."""


class _Unknown(Exception):
    """The purchase was sent and no clear answer came back."""


def find_chromium(given: str | None = None) -> str:
    """`given` (a path or a command), else the first of CHROMIUM_NAMES on PATH."""
    for candidate in ([given] if given else []) + list(CHROMIUM_NAMES):
        found = shutil.which(candidate)
        if found:
            return found
    raise ConfigError(
        f"no Chromium found ({given or ', '.join(CHROMIUM_NAMES)}); set execution.chromium"
    )


_BROWSERS: dict[str, tuple[Any, Any, int]] = {}
"""Chromium path → (Playwright, browser, brokers using it). Playwright's sync API runs once per
thread, so the brokers of one process (the primary account and the failover's) share one
browser, each in a context of its own."""


def _browser(chromium: str) -> Any:
    if chromium not in _BROWSERS:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--headless=new"]
        )
        _BROWSERS[chromium] = (playwright, browser, 0)
    playwright, browser, users = _BROWSERS[chromium]
    _BROWSERS[chromium] = (playwright, browser, users + 1)
    return browser


def _release_browser(chromium: str) -> None:
    playwright, browser, users = _BROWSERS[chromium]
    if users > 1:
        _BROWSERS[chromium] = (playwright, browser, users - 1)
        return
    del _BROWSERS[chromium]
    browser.close()
    playwright.stop()


class IpatBroker:
    """Buys through IPAT's web pages with Playwright (sync API) in headless Chromium."""

    def __init__(
        self,
        url: str,
        secrets: SecretsProvider,
        clock: Clock,
        *,
        live: bool = False,
        day_cap_yen: int | None = None,
        timeout_s: float = 30.0,
        check_timeout_s: float = 5.0,
        chromium: str | None = None,
        browser: Any = None,
    ) -> None:
        host = urlsplit(url).hostname or ""
        if host not in _LOOPBACK and not live:
            raise ConfigError(
                f"buying at {url} spends real money: set execution.live = true "
                "and execution.max_day_yen"
            )
        if live and day_cap_yen is None:
            raise ConfigError("live buying needs a day cap: set execution.max_day_yen")
        self.url = url.rstrip("/")
        self._secrets = secrets
        self._clock = clock
        self._cap = day_cap_yen
        self._timeout_ms = timeout_s * 1000
        self._check_ms = check_timeout_s * 1000
        self._chromium = chromium
        self._browser = browser
        self._own: str | None = None
        self._context: Any = None
        self._page: Any = None
        self._spent: dict[dt.date, int] = {}

    @classmethod
    def from_config(
        cls, config: ExecutionConfig, clock: Clock, home: Path, store: SecretStore | None = None
    ) -> IpatBroker:
        """The broker `execution` describes (relative paths are under `home`; `store` serves
        `secrets: store`)."""
        secrets: SecretsProvider = EnvSecrets()
        if config.secrets == "file" and config.secrets_file is not None:
            path = config.secrets_file
            secrets = FileSecrets(path if path.is_absolute() else home / path)
        elif config.secrets == "store":
            if store is None:
                raise ConfigError("execution.secrets: store needs a secret store")
            secrets = StoreSecrets(store)
        return cls(
            config.ipat_url,
            secrets,
            clock,
            live=config.live,
            day_cap_yen=config.max_day_yen,
            timeout_s=config.page_timeout_s,
            chromium=config.chromium,
        )

    def __repr__(self) -> str:
        return f"IpatBroker({self.url!r})"

    def __enter__(self) -> IpatBroker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the page, and the browser if this broker started it."""
        if self._context is not None:
            self._context.close()
            self._context = self._page = None
        if self._own is not None:
            _release_browser(self._own)
            self._own = self._browser = None

    def spent_yen(self, day: dt.date) -> int:
        """Stakes sent on `day` (JST) that were accepted or may have been."""
        return self._spent.get(day, 0)

    # -- submit ---------------------------------------------------------------------------

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        answers: dict[str, Submission] = {}
        groups: dict[str, list[Ticket]] = {}
        for ticket in tickets:
            groups.setdefault(ticket.race_id, []).append(ticket)
        races = list(groups.items())
        for index, (race_id, group) in enumerate(races):
            try:
                answers.update(self._race(race_id, group))
            except _Unknown as e:
                not_sent = [t.ticket_id for _, rest in races[index + 1 :] for t in rest]
                _log.error("ipat_purchase_unknown", race_id=race_id, reason=str(e))
                raise PurchaseUnknown(
                    f"race {race_id}: the purchase was sent and its answer is unknown ({e}); "
                    "the tickets stay reserved until the purchase history says",
                    answers=list(answers.values()),
                    unknown=[t.ticket_id for t in group],
                    not_sent=not_sent,
                ) from None
        return [answers[t.ticket_id] for t in tickets]

    def _race(self, race_id: str, group: list[Ticket]) -> dict[str, Submission]:
        total = sum(t.stake for t in group)
        try:
            key = self._precheck(race_id, group, total)
            page = self._session()
            receipt_no = self._buy(page, key, group, total)
        except _Refused as e:
            _log.warning("ipat_purchase_refused", race_id=race_id, reason=str(e))
            self._clear_list()
            return {t.ticket_id: Submission(t.ticket_id, False, None, str(e)) for t in group}
        except _Unknown:
            self._add_spent(total)
            self._clear_list()
            raise
        self._add_spent(total)
        _log.info("ipat_purchase_accepted", race_id=race_id, receipt_no=receipt_no, yen=total)
        return {
            t.ticket_id: Submission(
                t.ticket_id, True, ipat_receipt(key.race_date, receipt_no, serial)
            )
            for serial, t in enumerate(group, 1)
        }

    def _precheck(self, race_id: str, group: list[Ticket], total: int) -> RaceKey:
        try:
            key = RaceKey.parse(race_id)
            for t in group:
                parse_combination(BetType(t.bet_type), t.combination)
        except (InvalidRaceIdError, ValueError) as e:
            raise _Refused(f"not a ticket IPAT can buy: {e}") from None
        if any(t.stake <= 0 or t.stake % 100 for t in group):
            raise _Refused("stakes must be whole 100-yen units")
        if self._cap is not None:
            spent = self._day_spent()
            if spent + total > self._cap:
                raise _Refused(f"over the day's cap: {spent} + {total} yen > {self._cap} yen")
        return key

    def _day_spent(self) -> int:
        """What today's purchase history holds, then what this broker sent since (so that a
        restart does not reset the day's cap)."""
        today = self._clock.now().astimezone(JST).date()
        if today not in self._spent:
            try:
                rows = self.history(today)
            except BrokerError as e:
                raise _Refused(f"cannot check the day's cap: {e}") from None
            self._spent[today] = sum(row.stake for row in rows)
        return self._spent[today]

    def _add_spent(self, total: int) -> None:
        today = self._clock.now().astimezone(JST).date()
        self._spent[today] = self.spent_yen(today) + total

    # -- the pages --------------------------------------------------------------------------

    def _open_page(self) -> Any:
        if self._page is not None:
            return self._page
        if self._browser is None:
            self._own = find_chromium(self._chromium)
            self._browser = _browser(self._own)
        self._context = self._browser.new_context(locale="ja-JP")
        self._context.set_default_timeout(self._timeout_ms)
        self._context.set_default_navigation_timeout(self._timeout_ms)
        self._page = self._context.new_page()
        return self._page

    def _go(self, page: Any, action: Callable[[], None], what: str) -> None:
        """Do `action` (a click that loads a page) and check the page that came back."""
        with page.expect_navigation() as navigation:
            action()
        response = navigation.value
        if response is not None and response.status >= 500:
            raise _Refused(f"{what}: the venue answered {response.status}")
        if page.locator("#maintenance").count():
            raise _Refused(f"{what}: the venue is in maintenance")

    def _visible(self, page: Any, selector: str) -> bool:
        try:
            page.locator(selector).first.wait_for(state="visible", timeout=self._check_ms)
        except Exception:
            return False
        return True

    def _logged_in(self, page: Any) -> bool:
        """The positive check: the menu shows 通常投票 and the 購入限度額."""
        try:
            response = page.goto(f"{self.url}/menu")
        except Exception:
            return False
        if response is None or response.status >= 500:
            return False
        if page.locator("input[name=inetid]").count():  # the login page, even hidden: no session
            return False
        return self._visible(page, "a:text-is('通常投票')") and self._visible(page, "#limit")

    def _session(self) -> Any:
        failure = ""
        try:
            page = self._open_page()
            if page.url != "about:blank" and self._logged_in(page):
                return page
            self._login(page)
        except (_Refused, ConfigError) as e:
            failure = f"cannot log in: {e}"
        except Exception as e:  # its message may quote what was typed: only its type is kept
            failure = f"cannot log in ({type(e).__name__})"
        if failure:
            raise _Refused(failure)
        if not self._logged_in(page):
            raise _Refused("no session after logging in (the menu did not show)")
        return page

    def _login(self, page: Any) -> None:
        """Fill the two login pages; nothing of the credentials leaves this function."""
        credentials = self._secrets.ipat_credentials()
        response = page.goto(f"{self.url}/")
        if response is None or response.status >= 500:
            raise _Refused("the login page did not load")
        if page.locator("#maintenance").count():
            raise _Refused("the venue is in maintenance")
        page.fill("input[name=inetid]", credentials.inetid)
        self._go(page, lambda: page.click("a[title=ログイン]"), "login")
        self._venue_error(page, "the venue refused the INET-ID")
        page.fill("input[name=i]", credentials.subscriber)
        page.fill("input[name=p]", credentials.pin)
        page.fill("input[name=r]", credentials.pars)
        self._go(page, lambda: page.click("a[title=ネット投票メニューへ]"), "login")
        self._venue_error(page, "the venue refused the subscriber numbers")
        if page.get_by_role("button", name="OK", exact=True).count():
            self._go(page, lambda: page.get_by_role("button", name="OK").click(), "お知らせ")
        _log.info("ipat_login", url=self.url)

    def _venue_error(self, page: Any, what: str) -> None:
        errors = page.locator(".error")
        if errors.count():
            raise _Refused(f"{what}: {errors.first.inner_text().strip()}")

    def _buy(self, page: Any, key: RaceKey, group: list[Ticket], total: int) -> str:
        self._open_race(page, key, total)
        for count, ticket in enumerate(group, 1):
            self._add(page, ticket, count)
        self._go(page, lambda: page.click("#to-cart"), "the list")
        self._check_list(page, len(group), total)
        page.fill("input[name=total]", str(total))
        page.once("dialog", lambda dialog: dialog.accept())
        return self._press_buy(page, group)

    def _open_race(self, page: Any, key: RaceKey, total: int) -> None:
        limit = _yen(page.locator("#limit").inner_text())
        if limit < total:
            raise _Refused(f"insufficient deposit (購入限度額 {limit} yen, list {total} yen)")
        self._go(page, lambda: page.click("a:text-is('通常投票')"), "通常投票")
        venue = page.get_by_role("button", name=key.venue.japanese, exact=True)
        if not venue.count():
            raise _Refused(f"no {key.venue.japanese} races on sale")
        self._go(page, venue.click, "the racecourse")
        shown = page.locator("#venue-name")
        if not shown.count() or shown.inner_text().strip() != key.venue.japanese:
            raise _Refused(f"the racecourse {key.venue.japanese} was not selected")
        button = self._race_button(page, key.race_no)
        if button.is_disabled():
            raise _Refused("sales closed (the race's button is disabled)")
        self._go(page, button.click, "the race")
        self._venue_error(page, "the race did not open")
        header = page.locator("#race-info")
        seen = header.inner_text().strip() if header.count() else "no race"
        if _race_of(seen) != (key.race_date, key.venue.japanese, key.race_no):
            raise _Refused(f"race mismatch: the page shows {seen!r}")
        if page.locator("#cart-count").inner_text().strip() != "0":
            raise _Refused("the list was not empty before buying")

    def _race_button(self, page: Any, race_no: int) -> Any:
        pattern = re.compile(rf"^\s*{race_no}R\s*\(")
        buttons = page.locator("button.race")
        for i in range(buttons.count()):
            if pattern.match(buttons.nth(i).inner_text()):
                return buttons.nth(i)
        raise _Refused(f"race {race_no}R is not on sale")

    def _add(self, page: Any, ticket: Ticket, count: int) -> None:
        bet_type = BetType(ticket.bet_type)
        numbers = parse_combination(bet_type, ticket.combination)
        page.select_option("select[name=bet_type]", label=BET_NAMES[bet_type])
        page.select_option("select[name=method]", label="通常")
        for i in (1, 2, 3):
            page.fill(f"input[name=horse{i}]", str(numbers[i - 1]) if i <= len(numbers) else "")
        page.fill("input[name=units]", str(ticket.stake // 100))
        self._go(page, lambda: page.click("#set"), "adding to the list")
        self._venue_error(page, "the venue refused a line")
        counter = page.locator("#cart-count")
        if not counter.count():
            raise _Refused("the session ended while filling the list")
        if counter.inner_text().strip() != str(count):
            raise _Refused(f"the list holds {counter.inner_text().strip()} lines, not {count}")

    def _check_list(self, page: Any, lines: int, total: int) -> None:
        if not page.locator("#cart-total").count():
            raise _Refused("the session ended before the list was confirmed")
        shown_lines = page.locator("#cart tr.line").count()
        shown_total = _yen(page.locator("#cart-total").inner_text())
        if (shown_lines, shown_total) != (lines, total):
            raise _Refused(
                f"the list shows {shown_lines} lines for {shown_total} yen, "
                f"not {lines} for {total} yen"
            )

    def _press_buy(self, page: Any, group: list[Ticket]) -> str:
        """購入する: from here on, any doubt is an unknown purchase, never a refusal."""
        try:
            with page.expect_navigation() as navigation:
                page.click("#buy")
            response = navigation.value
            status = response.status if response is not None else 0
        except Exception as e:
            raise _Unknown(f"no answer to 購入する ({type(e).__name__})") from None
        if status >= 500 or status == 0:
            raise _Unknown(f"the venue answered {status} to 購入する")
        try:
            return self._read_receipt(page, group)
        except (_Refused, _Unknown):
            raise
        except Exception as e:
            raise _Unknown(
                f"the answer to 購入する could not be read ({type(e).__name__})"
            ) from None

    def _read_receipt(self, page: Any, group: list[Ticket]) -> str:
        accepted = page.locator("#accepted")
        if accepted.count() and accepted.inner_text().strip() == _ACCEPTED:
            receipt_no = str(page.locator("#receipt-no").inner_text()).strip()
            rows = page.locator("#receipt-lines tr.line")
            stakes = [
                _yen(rows.nth(i).locator("td").nth(4).inner_text()) for i in range(rows.count())
            ]
            if not receipt_no or stakes != [t.stake for t in group]:
                raise _Unknown(f"the receipt {receipt_no!r} does not list the lines sent")
            return receipt_no
        errors = page.locator(".error")
        if errors.count():
            text = errors.first.inner_text().strip()
            for marker, reason in _REFUSALS:
                if marker in text:
                    raise _Refused(f"{reason}: {text}")
            raise _Unknown(f"the venue answered: {text}")
        raise _Unknown("no receipt after 購入する (a login or maintenance page)")

    def _clear_list(self) -> None:
        """Empty the venue's list after a failure, if the session still lives."""
        page = self._page
        if page is None:
            return
        try:
            page.goto(f"{self.url}/cart", timeout=self._check_ms)
            if page.locator("#clear").count() and page.locator("#cart tr.line").count():
                with page.expect_navigation(timeout=self._check_ms):
                    page.click("#clear")
        except Exception:
            _log.warning("ipat_clear_failed", url=self.url)

    # -- history ------------------------------------------------------------------------------

    def history(self, day: dt.date) -> list[HistoryRow]:
        """投票内容照会's CSV for `day`, parsed; `BrokerError` when it cannot be had."""
        try:
            page = self._session()
        except _Refused as e:
            raise BrokerError(f"the purchase history of {day} is unavailable: {e}") from None
        try:
            response = page.request.get(f"{self.url}/inquiry/csv?date={day:%Y%m%d}")
            status, body = response.status, response.body()
        except Exception as e:
            raise BrokerError(
                f"the purchase history of {day} is unavailable ({type(e).__name__})"
            ) from None
        if status != 200:
            raise BrokerError(f"the purchase history of {day} is unavailable (HTTP {status})")
        try:
            rows = parse_history_csv(body, f"投票内容照会 {day}")
        except HistoryFormatError as e:
            raise BrokerError(f"the purchase history cannot be read: {e}") from None
        return [row for row in rows if row.day == day]

    def venue_has(self, tickets: Sequence[Ticket], day: dt.date) -> dict[str, str | None]:
        """For each ticket id, its receipt if the venue has it on `day`, else None."""
        found = find_tickets(tickets, self.history(day))
        return {ticket_id: row.receipt if row else None for ticket_id, row in found.items()}


def _yen(text: str) -> int:
    digits = re.sub(r"[^0-9]", "", text)
    return int(digits) if digits else 0


def _race_of(header: str) -> tuple[dt.date, str, int] | None:
    """(date, racecourse, race number) of a race header like "2018年11月25日（日） 東京 11R"."""
    found = re.match(r"\s*(\d{4})年(\d{1,2})月(\d{1,2})日\S*\s+(\S+)\s+(\d{1,2})R\s*$", header)
    if found is None:
        return None
    year, month, day, venue, number = found.groups()
    return dt.date(int(year), int(month), int(day)), venue, int(number)
