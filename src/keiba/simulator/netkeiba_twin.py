"""A twin of race.netkeiba.com that plays one simulated race day as its clock moves.

`serve_twin(day, clock, faults)` serves, on 127.0.0.1 (a free port), the paths keiba's
collector fetches: the day's race list, each race's 出馬表, the odds API and the result page
(`keiba.simulator.netkeiba_twin_pages`), each as it stands at `clock.now()` on the day's
timetable (`TwinSchedule`): forecast odds, then a market drifting to the close, then the final
odds; body weights and withdrawals on the card from their times; the result page only once the
result is official (a race held under inquiry stays unofficial for longer). Point the
collector's `race_base_url` and `db_base_url` at the URL it yields (db.netkeiba's result pages
are not served: keep the collector's `result_source` at `race`).

`TwinFaults` switches faults on and off while it runs, for degraded-mode tests: 403/429 for a
time window or for paths, the site down (503, or connections reset), odds frozen at an instant
(stale timestamps), a clock skew in what the twin stamps into its answers (the odds'
`official_datetime` and the HTTP `Date`), and a malformed page for one race. Windows are on the
twin's clock; every switch is thread-safe. `NetkeibaTwin.answer(path)` is the same logic
without a server, and `serving(twin)` serves a twin built by hand.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from keiba.common.clock import Clock
from keiba.common.loopback import JSON, Answer, serve_answers
from keiba.simulator.netkeiba_twin_day import TwinDay, TwinRace, TwinSchedule
from keiba.simulator.netkeiba_twin_odds import odds_answer
from keiba.simulator.netkeiba_twin_pages import (
    CardState,
    render_card,
    render_odds,
    render_race_list,
    render_result,
)

__all__ = ["Answer", "NetkeibaTwin", "TwinFaults", "serve_twin", "serving"]


@dataclass(frozen=True)
class _Window:
    start: dt.datetime | None
    end: dt.datetime | None
    path: str | None

    def covers(self, now: dt.datetime, path: str) -> bool:
        in_time = (self.start is None or now >= self.start) and (self.end is None or now < self.end)
        return in_time and (self.path is None or self.path in path)


@dataclass
class TwinFaults:
    """Faults to switch on and off while the twin runs; windows are on the twin's clock."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _blocks: list[tuple[int, _Window]] = field(default_factory=list)
    _downs: list[tuple[str, _Window]] = field(default_factory=list)
    _frozen_at: dt.datetime | None = None
    _skew: dt.timedelta = dt.timedelta(0)
    _malformed: set[str] = field(default_factory=set)

    def block(
        self,
        status: int = 403,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        path: str | None = None,
    ) -> None:
        """Answer `status` (403 or 429) from `start` to `end`, to paths containing `path`."""
        if status not in (403, 429):
            raise ValueError(f"a block answers 403 or 429, not {status}")
        with self._lock:
            self._blocks.append((status, _Window(start, end, path)))

    def down(
        self, mode: str = "503", *, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> None:
        """Be down from `start` to `end`: answer 503, or (`reset`) drop every connection."""
        if mode not in ("503", "reset"):
            raise ValueError(f"down is '503' or 'reset', not {mode!r}")
        with self._lock:
            self._downs.append((mode, _Window(start, end, None)))

    def freeze_odds(self, at: dt.datetime) -> None:
        """Answer the odds API as it stood at `at`, whatever the time (stale timestamps)."""
        with self._lock:
            self._frozen_at = at

    def skew_stamps(self, by: dt.timedelta) -> None:
        """Stamp answers with the twin's clock moved by `by` (the source's clock is off)."""
        with self._lock:
            self._skew = by

    def malform(self, netkeiba_race_id: str) -> None:
        """Serve that race's card, odds and result broken (cut off mid-table, mid-JSON)."""
        with self._lock:
            self._malformed.add(netkeiba_race_id)

    def clear(self) -> None:
        """Switch every fault off."""
        with self._lock:
            self._blocks.clear()
            self._downs.clear()
            self._frozen_at = None
            self._skew = dt.timedelta(0)
            self._malformed.clear()

    def refusal(self, now: dt.datetime, path: str) -> Answer | None:
        with self._lock:
            for mode, window in self._downs:
                if window.covers(now, path):
                    return (
                        Answer(503, b"Service Unavailable")
                        if mode == "503"
                        else Answer(0, reset=True)
                    )
            for status, window in self._blocks:
                if window.covers(now, path):
                    return Answer(status, b"Forbidden" if status == 403 else b"Too Many Requests")
        return None

    @property
    def frozen_at(self) -> dt.datetime | None:
        with self._lock:
            return self._frozen_at

    @property
    def skew(self) -> dt.timedelta:
        with self._lock:
            return self._skew

    def is_malformed(self, netkeiba_race_id: str) -> bool:
        with self._lock:
            return netkeiba_race_id in self._malformed


def _broken(body: bytes, kind: str) -> bytes:
    if kind == "odds":
        return body[: len(body) // 2]
    cut = body.find(b'<tr class="HorseList')
    return body[: cut if cut >= 0 else len(body) // 2] + b"</table></div></body></html>"


class NetkeibaTwin:
    """The twin's answers: which page a path asks for, as it stands at the clock's now."""

    def __init__(
        self,
        day: TwinDay,
        clock: Clock,
        faults: TwinFaults | None = None,
        schedule: TwinSchedule | None = None,
    ) -> None:
        self.day = day
        self.clock = clock
        self.faults = faults or TwinFaults()
        self.schedule = schedule or TwinSchedule()
        self._lock = threading.Lock()
        self._requests: list[str] = []

    @property
    def requests(self) -> list[str]:
        """Every path asked for so far, in order."""
        with self._lock:
            return list(self._requests)

    def stamp_now(self) -> dt.datetime:
        """The time the twin stamps into its answers (its clock plus any skew)."""
        return self.clock.now() + self.faults.skew

    def answer(self, path: str) -> Answer:
        with self._lock:
            self._requests.append(path)
        now = self.clock.now()
        refused = self.faults.refusal(now, path)
        if refused is not None:
            return refused
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/top/race_list_sub.html":
            return self._race_list(query.get("kaisai_date", ""), now)
        race = self.day.race(query.get("race_id", ""))
        pages = {
            "/race/shutuba.html": "card",
            "/race/result.html": "result",
            "/api/api_get_jra_odds.html": "odds",
        }
        kind = pages.get(parts.path)
        if race is None or kind is None or (kind == "odds" and query.get("type") != "1"):
            return Answer(404, b"Not Found")
        found = self._page(race, kind, now)
        if found is None or not self.faults.is_malformed(race.netkeiba_id):
            return found or Answer(404, b"Not Found")
        return Answer(200, _broken(found.body, kind), found.content_type)

    def official(self, race: TwinRace, now: dt.datetime) -> bool:
        return now >= self.schedule.official_at(race)

    def _race_list(self, date: str, now: dt.datetime) -> Answer:
        if date != f"{self.day.date:%Y%m%d}":
            return Answer(404, b"Not Found")
        official = {r.netkeiba_id: self.official(r, now) for r in self.day.races}
        return Answer(200, render_race_list(self.day, official))

    def _page(self, race: TwinRace, kind: str, now: dt.datetime) -> Answer | None:
        if kind == "card":
            state = CardState(
                body_weights=now >= race.post_time - self.schedule.body_weights_before_post,
                withdrawals=now >= self.schedule.scratches_at(self.day.date),
            )
            return Answer(200, render_card(race, state))
        if kind == "result":
            return Answer(200, render_result(race)) if self.official(race, now) else None
        at = self.faults.frozen_at or now
        odds = odds_answer(race, self.day.date, self.schedule, min(at, now))
        return Answer(200, render_odds(odds, odds.stamp + self.faults.skew), JSON)


@contextmanager
def serve_twin(
    day: TwinDay,
    clock: Clock,
    faults: TwinFaults | None = None,
    schedule: TwinSchedule | None = None,
) -> Iterator[str]:
    """Serve the day on a free 127.0.0.1 port until the `with` ends; yields its base URL."""
    with serving(NetkeibaTwin(day, clock, faults, schedule)) as url:
        yield url


@contextmanager
def serving(twin: NetkeibaTwin) -> Iterator[str]:
    """Serve `twin` on a free 127.0.0.1 port until the `with` ends; yields its base URL."""
    with serve_answers(twin.answer, twin.stamp_now, name="netkeiba-twin") as url:
        yield url
