"""A browserless broker for the IPAT twin: the purchase flow as plain HTTP form posts.

`IpatFormBroker` drives the twin's pages (`keiba.simulator.ipat_twin`) with httpx — log in,
pick the race, add each ticket, read the list's token and total, press 購入する, read the
受付番号 — and answers as `keiba.execution.ipat.IpatBroker` does: anything that goes wrong
before 購入する refuses the race's tickets with the reason; the venue's own refusal after it
refuses them too; any other outcome after it (no answer, a 5xx, a login or maintenance page, a
receipt that does not list the lines) is `PurchaseUnknown`. When the list's page sends the
purchase twice (a double click), so does this broker. `history(day)` downloads 投票内容照会's
CSV and parses it with `keiba.execution.history`.

It exists so that the execution benchmark can run thousands of purchases in minutes through the
twin's real request handling; it is not a broker for the real site (which needs the browser).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

from keiba.bankroll import Ticket
from keiba.common.bet_types import BetType, parse_combination
from keiba.common.errors import one_line
from keiba.common.ids import RaceKey
from keiba.execution.broker import BrokerError, PurchaseUnknown, Submission
from keiba.execution.history import HistoryRow, ipat_receipt, parse_history_csv
from keiba.execution.ipat import BET_NAMES
from keiba.execution.ipat_secrets import IpatCredentials

__all__ = ["IpatFormBroker"]

_ERROR = re.compile(r'<p class="error" role="alert">([^<]*)</p>')
_TOKEN = re.compile(r'name="token" value="([0-9a-f]+)"')
_RECEIPT = re.compile(r'<span id="receipt-no">(\d+)</span>')


class _Failed(Exception):
    """A step before 購入する went wrong: the race's tickets are refused with this reason."""


_LOST = (httpx.HTTPError, OSError)
"""No answer, a 5xx, a dropped connection: what the venue did is not known."""


class IpatFormBroker:
    """Buys on the twin at `url` with form posts; see the module docstring."""

    def __init__(self, url: str, credentials: IpatCredentials, *, timeout_s: float = 2.0):
        if urlsplit(url).hostname != "127.0.0.1":
            raise ValueError(f"the form broker buys only on a loopback twin, not {url}")
        self.url = url.rstrip("/")
        self._credentials = credentials
        self._double = False
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s, follow_redirects=True)

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"IpatFormBroker({self.url!r})"

    def submit(self, tickets: Sequence[Ticket]) -> list[Submission]:
        races = list(dict.fromkeys(t.race_id for t in tickets))
        answers: list[Submission] = []
        for i, race_id in enumerate(races):
            group = [t for t in tickets if t.race_id == race_id]
            try:
                answers.extend(self._race(race_id, group))
            except PurchaseUnknown as e:
                later = [t.ticket_id for t in tickets if t.race_id in races[i + 1 :]]
                raise PurchaseUnknown(
                    str(e), answers=answers, unknown=e.unknown, not_sent=later
                ) from e
        return answers

    def history(self, day: dt.date) -> list[HistoryRow]:
        try:
            self._logged_in()
            data = self._fetch(f"/inquiry/csv?date={day:%Y%m%d}")
        except (*_LOST, _Failed) as e:
            raise BrokerError(f"投票内容照会 {day}: {_said(e)}") from e
        return parse_history_csv(data, f"投票内容照会 {day}")

    # --- one race ------------------------------------------------------------------------

    def _race(self, race_id: str, tickets: Sequence[Ticket]) -> list[Submission]:
        try:
            token, total = self._fill(race_id, tickets)
        except (*_LOST, _Failed) as e:
            reason = f"before 購入する: {_said(e)}"
            self._clear_quietly()
            return [Submission(t.ticket_id, False, None, reason) for t in tickets]
        ids = [t.ticket_id for t in tickets]
        try:
            page = self._buy(token, total)
        except _LOST as e:
            self._clear_quietly()
            raise PurchaseUnknown(f"購入する: {one_line(e)}", unknown=ids) from e
        return self._answers(race_id, tickets, page)

    def _fill(self, race_id: str, tickets: Sequence[Ticket]) -> tuple[str, int]:
        self._logged_in()
        self._page("/cart/clear", {})
        self._page(f"/vote/race?r={race_id}")
        for ticket in tickets:
            page = self._page("/cart/add", self._line(race_id, ticket))
            if 'id="added"' not in page:
                raise _Failed(_why(page, "the ticket was not added to the list"))
        cart = self._page("/cart")
        found = _TOKEN.search(cart)
        if found is None or cart.count("<tr class='line'>") != len(tickets):
            raise _Failed(_why(cart, "the list is not the race's tickets"))
        self._double = "fetch('/cart/buy'" in cart
        return found.group(1), sum(t.stake for t in tickets)

    def _buy(self, token: str, total: int) -> str:
        form = {"token": token, "total": str(total)}
        if self._double:
            self._post("/cart/buy", form)
        return self._post("/cart/buy", form)

    def _answers(self, race_id: str, tickets: Sequence[Ticket], page: str) -> list[Submission]:
        ids = [t.ticket_id for t in tickets]
        receipt = _RECEIPT.search(page)
        if 'id="accepted"' in page and receipt is not None:
            if page.count("<tr class='line'>") != len(tickets):
                raise PurchaseUnknown("the receipt does not list the race's lines", unknown=ids)
            day = RaceKey.parse(race_id).race_date
            return [
                Submission(t.ticket_id, True, ipat_receipt(day, receipt.group(1), n))
                for n, t in enumerate(tickets, 1)
            ]
        refusal = _ERROR.search(page)
        if refusal is not None and 'id="inetid-form"' not in page:
            reason = f"the venue refused: {refusal.group(1)}"
            return [Submission(i, False, None, reason) for i in ids]
        self._clear_quietly()
        raise PurchaseUnknown("no receipt after 購入する (login or maintenance page)", unknown=ids)

    # --- pages ---------------------------------------------------------------------------

    def _logged_in(self) -> None:
        if 'id="limit"' in self._page("/menu"):
            return
        self._page("/login/inetid", {"inetid": self._credentials.inetid})
        page = self._page(
            "/login/member",
            {
                "i": self._credentials.subscriber,
                "p": self._credentials.pin,
                "r": self._credentials.pars,
            },
        )
        if 'id="limit"' not in self._page("/menu") and 'id="limit"' not in page:
            raise _Failed(_why(page, "could not log in"))

    @staticmethod
    def _line(race_id: str, ticket: Ticket) -> dict[str, str]:
        bet_type = BetType(ticket.bet_type)
        numbers = parse_combination(bet_type, ticket.combination)
        form = {
            "r": race_id,
            "bet_type": BET_NAMES[bet_type],
            "method": "通常",
            "units": str(ticket.stake // 100),
        }
        form.update({f"horse{i}": str(n) for i, n in enumerate(numbers, 1)})
        return form

    def _page(self, path: str, form: dict[str, str] | None = None) -> str:
        """A page before 購入する; maintenance or a dead session there is a refusal."""
        page = self._post(path, form) if form is not None else self._fetch(path).decode()
        if "id='maintenance'" in page:
            raise _Failed("IPAT is in maintenance")
        if 'id="inetid-form"' in page and not path.startswith(("/login", "/menu")):
            raise _Failed("the session ended")
        return page

    def _post(self, path: str, form: dict[str, str]) -> str:
        return self._answer(self._client.post(path, data=form)).decode()

    def _fetch(self, path: str) -> bytes:
        return self._answer(self._client.get(path))

    @staticmethod
    def _answer(response: httpx.Response) -> bytes:
        response.raise_for_status()
        return response.content

    def _clear_quietly(self) -> None:
        with contextlib.suppress(*_LOST):
            self._post("/cart/clear", {})


def _said(e: Exception) -> str:
    return str(e) if isinstance(e, _Failed) else one_line(e)


def _why(page: str, otherwise: str) -> str:
    found = _ERROR.search(page)
    return found.group(1) if found else otherwise
