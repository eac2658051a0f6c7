"""A twin of JRA's IPAT web site: log in, pick a race, fill a list, confirm the total, buy.

`serve_ipat_twin(races, account, clock, faults)` serves, on 127.0.0.1 (a free port), the
purchase flow a bettor's browser drives (pages in `keiba.simulator.ipat_twin_pages`): the
INET-ID page, the subscriber page with its three numbers, an お知らせ page, the menu with the
購入限度額, venue and race buttons (a race's button is disabled from its sales close,
`close_lead` before post on the twin's clock), the bet form, the list with its total to type
again, 購入する behind a confirm dialog, and the receipt page with its 受付番号. A purchase is
recorded with a 受付番号 and a 通番 per line and takes its total off the 購入限度額 (the
deposit); a list above the deposit, a closed race or a wrong total is refused. Sessions expire
after `session_ttl` without a request (the site then shows its login page with the form hidden,
as IPAT does); a daily maintenance window answers a maintenance page. `/inquiry/csv?date=`
gives 投票内容照会's CSV (Shift_JIS, its real columns) of the logged-in account.

`IpatFaults` switches faults on while it runs: a request that never gets an answer before or
after the purchase is recorded (`timeout`), a 5xx (`server_error`), the session dying after
some lines were added (`expire_session_after`), slow pages (`slow`), a race closed early
(`close_race`), maintenance now (`maintenance`), the history down (`history_down`), a button
that sends the purchase twice (`double_submit`: the twin keeps one purchase per list), and a
race button that opens another race (`misroute`). `IpatTwin.purchases` and `deposit_yen` say
what the venue holds.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from keiba.common.clock import JST, Clock
from keiba.common.ids import RaceKey
from keiba.simulator.ipat_twin_pages import (
    BET_NAMES,
    ORDERED,
    CartLine,
    HistoryLine,
    cart_page,
    error_page,
    history_csv,
    login_page,
    maintenance_page,
    member_page,
    menu_page,
    notice_page,
    race_page,
    races_page,
    result_page,
    venues_page,
)

__all__ = [
    "IpatAccount",
    "IpatAnswer",
    "IpatFaults",
    "IpatRace",
    "IpatTwin",
    "Purchase",
    "serve_ipat_twin",
    "serving_ipat",
]

COOKIE = "IPATSID"
_HTML = "text/html; charset=UTF-8"
_BUY = "/cart/buy"


@dataclass(frozen=True)
class IpatRace:
    """A race on sale: its 16-digit race key and its scheduled post time."""

    race_id: str
    post_time: dt.datetime

    @property
    def key(self) -> RaceKey:
        return RaceKey.parse(self.race_id)

    @property
    def label(self) -> str:
        return f"{self.key.race_no}R ({self.post_time.astimezone(JST):%H:%M})"

    @property
    def header(self) -> str:
        k = self.key
        day = f"{k.race_date:%Y年%m月%d日}（{'月火水木金土日'[k.race_date.weekday()]}）"
        return f"{day} {k.venue.japanese} {k.race_no}R"


@dataclass(frozen=True)
class IpatAccount:
    """The account the twin knows: its four credentials and its deposit (購入限度額)."""

    inetid: str = field(repr=False)
    subscriber: str = field(repr=False)
    pin: str = field(repr=False)
    pars: str = field(repr=False)
    deposit_yen: int = 0


@dataclass(frozen=True)
class Purchase:
    """One ticket the venue has: 受付番号, 通番, race, the line bought, and when."""

    receipt_no: str
    serial: int
    race: IpatRace
    line: CartLine
    at: dt.datetime


@dataclass(frozen=True)
class IpatAnswer:
    """What the twin answers; `hang` never answers, `delay_s` answers late (real seconds)."""

    status: int
    body: bytes = b""
    content_type: str = _HTML
    headers: tuple[tuple[str, str], ...] = ()
    hang: bool = False
    delay_s: float = 0.0


@dataclass
class _Trap:
    path: str
    status: int  # 0: no answer at all
    after_record: bool


@dataclass
class IpatFaults:
    """Faults to switch on while the twin runs; each trap fires once; thread-safe."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _traps: list[_Trap] = field(default_factory=list)
    _slow: dict[str, float] = field(default_factory=dict)
    _expire_after: int | None = None
    _closed: set[str] = field(default_factory=set)
    _close_on: list[tuple[str, str]] = field(default_factory=list)
    _maintenance: list[tuple[dt.datetime | None, dt.datetime | None]] = field(default_factory=list)
    _history_down: bool = False
    _double_submit: bool = False
    _misroute: dict[str, str] = field(default_factory=dict)

    def timeout(self, path: str = _BUY, *, after_record: bool = False) -> None:
        """The next request to `path` gets no answer; with `after_record` the purchase is
        recorded first (the venue has it, the buyer never hears)."""
        with self._lock:
            self._traps.append(_Trap(path, 0, after_record))

    def server_error(self, path: str, status: int = 503, *, after_record: bool = False) -> None:
        """The next request to `path` is answered `status` (5xx), before or after recording."""
        if not 500 <= status <= 599:
            raise ValueError(f"a server error is 5xx, not {status}")
        with self._lock:
            self._traps.append(_Trap(path, status, after_record))

    def slow(self, seconds: float, path: str = "/") -> None:
        """Answer requests whose path starts with `path` `seconds` late (real time)."""
        with self._lock:
            self._slow[path] = seconds

    def expire_session_after(self, adds: int) -> None:
        """A session dies right after its `adds`-th line is added to the list."""
        with self._lock:
            self._expire_after = adds

    def close_race(self, race_id: str, *, on_request_to: str | None = None) -> None:
        """Sales for the race end now (or when `on_request_to` is first asked for), whatever
        the clock says."""
        with self._lock:
            if on_request_to is None:
                self._closed.add(race_id)
            else:
                self._close_on.append((on_request_to, race_id))

    def requested(self, path: str) -> None:
        """Apply what is due when `path` is asked for (a race closing)."""
        with self._lock:
            for due in [c for c in self._close_on if c[0] == path]:
                self._closed.add(due[1])
                self._close_on.remove(due)

    def maintenance(self, start: dt.datetime | None = None, end: dt.datetime | None = None) -> None:
        """Be in maintenance from `start` to `end` (on the twin's clock; None: open-ended)."""
        with self._lock:
            self._maintenance.append((start, end))

    def history_down(self, down: bool = True) -> None:
        with self._lock:
            self._history_down = down

    def double_submit(self, on: bool = True) -> None:
        """購入する sends the purchase twice (a double click)."""
        with self._lock:
            self._double_submit = on

    def misroute(self, race_id: str, to_race_id: str) -> None:
        """The button of `race_id` opens `to_race_id` (a stale venue selection)."""
        with self._lock:
            self._misroute[race_id] = to_race_id

    def clear(self) -> None:
        with self._lock:
            self._traps.clear()
            self._slow.clear()
            self._expire_after = None
            self._closed.clear()
            self._close_on.clear()
            self._maintenance.clear()
            self._history_down = False
            self._double_submit = False
            self._misroute.clear()

    def take_trap(self, path: str, *, after_record: bool) -> _Trap | None:
        with self._lock:
            for trap in self._traps:
                if trap.path == path and trap.after_record == after_record:
                    self._traps.remove(trap)
                    return trap
        return None

    def delay(self, path: str) -> float:
        with self._lock:
            return max((s for p, s in self._slow.items() if path.startswith(p)), default=0.0)

    def in_maintenance(self, now: dt.datetime) -> bool:
        with self._lock:
            return any(
                (a is None or now >= a) and (b is None or now < b) for a, b in self._maintenance
            )

    @property
    def expire_after(self) -> int | None:
        with self._lock:
            return self._expire_after

    def closed(self, race_id: str) -> bool:
        with self._lock:
            return race_id in self._closed

    @property
    def is_history_down(self) -> bool:
        with self._lock:
            return self._history_down

    @property
    def is_double_submit(self) -> bool:
        with self._lock:
            return self._double_submit

    def route(self, race_id: str) -> str:
        with self._lock:
            return self._misroute.get(race_id, race_id)


@dataclass
class _Session:
    stage: str  # "member": INET-ID given; "in": logged in
    seen: dt.datetime
    cart: list[tuple[IpatRace, CartLine]] = field(default_factory=list)
    token: str = field(default_factory=lambda: secrets.token_hex(8))
    adds: int = 0
    dead: bool = False


class IpatTwin:
    """The twin's state and answers; `serving_ipat` puts it on a loopback port."""

    def __init__(
        self,
        races: Sequence[IpatRace],
        account: IpatAccount,
        clock: Clock,
        faults: IpatFaults | None = None,
        *,
        session_ttl: dt.timedelta = dt.timedelta(minutes=20),
        close_lead: dt.timedelta = dt.timedelta(minutes=2),
        maintenance: tuple[dt.time, dt.time] | None = (dt.time(23, 40), dt.time(0, 5)),
        notice: bool = True,
    ) -> None:
        self.races = {r.race_id: r for r in races}
        self.account = account
        self.clock = clock
        self.faults = faults or IpatFaults()
        self.session_ttl = session_ttl
        self.close_lead = close_lead
        self.daily_maintenance = maintenance
        self.notice = notice
        self._lock = threading.RLock()
        self._deposit = account.deposit_yen
        self._sessions: dict[str, _Session] = {}
        self._purchases: list[Purchase] = []
        self._receipts: dict[str, str] = {}  # list token -> 受付番号
        self._requests: list[str] = []
        self.released = threading.Event()

    @property
    def deposit_yen(self) -> int:
        with self._lock:
            return self._deposit

    def set_deposit(self, yen: int) -> None:
        with self._lock:
            self._deposit = yen

    @property
    def purchases(self) -> list[Purchase]:
        with self._lock:
            return list(self._purchases)

    @property
    def requests(self) -> list[str]:
        """Every `METHOD path` asked for so far, in order."""
        with self._lock:
            return list(self._requests)

    def closes_at(self, race: IpatRace) -> dt.datetime:
        return race.post_time - self.close_lead

    def is_closed(self, race: IpatRace, now: dt.datetime) -> bool:
        return now >= self.closes_at(race) or self.faults.closed(race.race_id)

    def answer(
        self, method: str, target: str, form: Mapping[str, str], cookie: str | None
    ) -> IpatAnswer:
        """The answer to one request, faults included."""
        path = urlsplit(target).path
        with self._lock:
            self._requests.append(f"{method} {path}")
        self.faults.requested(path)
        delay = self.faults.delay(path)
        trap = self.faults.take_trap(path, after_record=False)
        if trap is not None:
            return _trapped(trap, delay)
        before = len(self.purchases)
        found = self._route(method, target, form, cookie)
        if len(self.purchases) > before:
            trap = self.faults.take_trap(path, after_record=True)
            if trap is not None:
                return _trapped(trap, delay)
        return IpatAnswer(found.status, found.body, found.content_type, found.headers, False, delay)

    def _maintenance_now(self, now: dt.datetime) -> bool:
        if self.faults.in_maintenance(now):
            return True
        if self.daily_maintenance is None:
            return False
        start, end = self.daily_maintenance
        t = now.astimezone(JST).time()
        return (start <= t or t < end) if start > end else start <= t < end

    def _route(
        self, method: str, target: str, form: Mapping[str, str], cookie: str | None
    ) -> IpatAnswer:
        now = self.clock.now()
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if self._maintenance_now(now):
            return IpatAnswer(200, maintenance_page())
        key = (method, parts.path)
        if key == ("GET", "/"):
            return IpatAnswer(200, login_page())
        if key == ("POST", "/login/inetid"):
            return self._inetid(form, now)
        session = self._session(cookie, now)
        if key == ("POST", "/login/member"):
            return self._member(session, form)
        if session is None or session.stage != "in":
            return IpatAnswer(200, login_page(hidden=True))
        return self._logged_in(key, session, {**query, **form}, now)

    def _logged_in(
        self, key: tuple[str, str], session: _Session, args: Mapping[str, str], now: dt.datetime
    ) -> IpatAnswer:
        pages = {
            ("GET", "/notice"): lambda: IpatAnswer(200, notice_page()),
            ("GET", "/menu"): lambda: IpatAnswer(200, menu_page(self.deposit_yen)),
            ("GET", "/vote"): lambda: self._venues(now),
            ("GET", "/vote/venue"): lambda: self._venue(args.get("v", ""), now),
            ("GET", "/vote/race"): lambda: self._race(session, args.get("r", ""), now),
            ("POST", "/cart/add"): lambda: self._add(session, args, now),
            ("GET", "/cart"): lambda: IpatAnswer(200, self._cart(session)),
            ("POST", "/cart/clear"): lambda: self._clear(session),
            ("POST", _BUY): lambda: self._buy(session, args, now),
            ("GET", "/inquiry"): lambda: IpatAnswer(200, self._inquiry(now)),
            ("GET", "/inquiry/csv"): lambda: self._history(args.get("date", "")),
        }
        page = pages.get(key)
        return page() if page else IpatAnswer(404, error_page("ページが見つかりません"))

    def _session(self, cookie: str | None, now: dt.datetime) -> _Session | None:
        with self._lock:
            session = self._sessions.get(cookie or "")
            if session is None or session.dead or now - session.seen > self.session_ttl:
                return None
            session.seen = now
            return session

    def _inetid(self, form: Mapping[str, str], now: dt.datetime) -> IpatAnswer:
        if form.get("inetid", "") != self.account.inetid:
            return IpatAnswer(200, login_page("INET-IDが正しくありません。"))
        sid = secrets.token_hex(16)
        with self._lock:
            self._sessions[sid] = _Session("member", now)
        cookie = (("Set-Cookie", f"{COOKIE}={sid}; Path=/; HttpOnly"),)
        return IpatAnswer(200, member_page(), headers=cookie)

    def _member(self, session: _Session | None, form: Mapping[str, str]) -> IpatAnswer:
        if session is None:
            return IpatAnswer(200, login_page(hidden=True))
        given = (form.get("i", ""), form.get("p", ""), form.get("r", ""))
        wanted = (self.account.subscriber, self.account.pin, self.account.pars)
        if not secrets.compare_digest("\n".join(given), "\n".join(wanted)):
            return IpatAnswer(
                200, member_page("加入者番号、暗証番号、P-ARS番号が正しくありません。")
            )
        session.stage = "in"
        return _redirect("/notice" if self.notice else "/menu")

    def _today(self, now: dt.datetime) -> list[IpatRace]:
        day = now.astimezone(JST).date()
        return sorted(
            (r for r in self.races.values() if r.key.race_date == day),
            key=lambda r: (r.key.venue, r.key.race_no),
        )

    def _venues(self, now: dt.datetime) -> IpatAnswer:
        venues = {r.key.venue: None for r in self._today(now)}
        pairs = [(v.code, v.japanese) for v in venues]
        return IpatAnswer(200, venues_page(pairs, self.deposit_yen))

    def _venue(self, code: str, now: dt.datetime) -> IpatAnswer:
        races = [r for r in self._today(now) if r.key.venue.code == code]
        if not races:
            return IpatAnswer(200, error_page("開催場が選択されていません。"))
        buttons = [(self.faults.route(r.race_id), r.label, self.is_closed(r, now)) for r in races]
        return IpatAnswer(200, races_page(races[0].key.venue.japanese, buttons))

    def _race(self, session: _Session, value: str, now: dt.datetime) -> IpatAnswer:
        race = self.races.get(value)
        if race is None or race.key.race_date != now.astimezone(JST).date():
            return IpatAnswer(200, error_page("レースが選択されていません。"))
        if self.is_closed(race, now):
            return IpatAnswer(200, error_page("このレースの発売は締め切りました。"))
        return IpatAnswer(200, race_page(value, race.header, len(session.cart)))

    def _add(self, session: _Session, args: Mapping[str, str], now: dt.datetime) -> IpatAnswer:
        race = self.races.get(args.get("r", ""))
        if race is None or self.is_closed(race, now):
            return IpatAnswer(200, error_page("このレースの発売は締め切りました。"))
        line, problem = _line(race, args)
        if line is None:
            message = f'<p class="error" role="alert">{problem}</p>'
            page = race_page(race.race_id, race.header, len(session.cart), message)
            return IpatAnswer(200, page)
        with self._lock:
            session.cart.append((race, line))
            session.adds += 1
            count = len(session.cart)
            if self.faults.expire_after is not None and session.adds >= self.faults.expire_after:
                session.dead = True
        done = '<p id="added">投票リストに追加しました。</p>'
        return IpatAnswer(200, race_page(race.race_id, race.header, count, done))

    def _cart(self, session: _Session) -> bytes:
        lines = [line for _, line in session.cart]
        return cart_page(lines, session.token, double_submit=self.faults.is_double_submit)

    def _clear(self, session: _Session) -> IpatAnswer:
        with self._lock:
            session.cart.clear()
            session.token = secrets.token_hex(8)
        return IpatAnswer(200, self._cart(session))

    def _buy(self, session: _Session, args: Mapping[str, str], now: dt.datetime) -> IpatAnswer:
        with self._lock:
            done = self._receipts.get(args.get("token", ""))
            if done is not None:
                sold = [p for p in self._purchases if p.receipt_no == done]
                page = result_page(done, sold[0].at, [p.line for p in sold], self._deposit)
                return IpatAnswer(200, page)
            problem = self._refusal(session, args, now)
            if problem:
                return IpatAnswer(200, error_page(problem))
            receipt_no = f"{len(self._receipts) + 1:04d}"
            self._receipts[session.token] = receipt_no
            for serial, (race, line) in enumerate(session.cart, 1):
                self._purchases.append(Purchase(receipt_no, serial, race, line, now))
            self._deposit -= sum(line.stake for _, line in session.cart)
            lines = [line for _, line in session.cart]
            session.cart.clear()
            session.token = secrets.token_hex(8)
            return IpatAnswer(200, result_page(receipt_no, now, lines, self._deposit))

    def _refusal(self, session: _Session, args: Mapping[str, str], now: dt.datetime) -> str:
        if args.get("token") != session.token or not session.cart:
            return "投票リストがありません。"
        total = sum(line.stake for _, line in session.cart)
        typed = args.get("total", "").replace(",", "").strip()
        if typed != str(total):
            return "合計金額が一致しません。"
        if any(self.is_closed(race, now) for race, _ in session.cart):
            return "発売を締め切ったレースが含まれています。"
        if self._deposit <= 0:
            return "購入限度額がありません。入金指示を行ってください。"
        if total > self._deposit:
            return f"購入限度額（{self._deposit:,}円）を超えています。"
        return ""

    def _inquiry(self, now: dt.datetime) -> bytes:
        day = now.astimezone(JST).date()
        return (
            '<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>投票内容照会'
            f'</title></head><body><a id="csv" href="/inquiry/csv?date={day:%Y%m%d}">'
            "CSV出力</a></body></html>"
        ).encode()

    def _history(self, date: str) -> IpatAnswer:
        if self.faults.is_history_down:
            return IpatAnswer(503, b"Service Unavailable", "text/plain")
        lines = [
            HistoryLine(
                p.race.key.race_date,
                p.receipt_no,
                p.serial,
                p.race.key.venue.japanese,
                p.race.key.race_no,
                p.line,
            )
            for p in self.purchases
            if f"{p.race.key.race_date:%Y%m%d}" == date
        ]
        disposition = ("Content-Disposition", f'attachment; filename="{date}.csv"')
        body = history_csv(lines)
        return IpatAnswer(200, body, "text/csv; charset=Shift_JIS", (disposition,))


def _line(race: IpatRace, args: Mapping[str, str]) -> tuple[CartLine | None, str]:
    name = args.get("bet_type", "")
    if name not in BET_NAMES or args.get("method") != "通常":
        return None, "式別または方式が正しくありません。"
    texts = [args.get(f"horse{i}", "").strip() for i in range(1, BET_NAMES[name] + 1)]
    if not all(t.isdigit() and 1 <= int(t) <= 18 for t in texts):
        return None, "馬番が正しくありません。"
    numbers = tuple(int(t) for t in texts)
    if name not in ORDERED:
        numbers = tuple(sorted(numbers))
    units = args.get("units", "").strip()
    if not units.isdigit() or int(units) < 1:
        return None, "金額が正しくありません。"
    return CartLine(race.label, name, numbers, int(units) * 100), ""


def _trapped(trap: _Trap, delay: float) -> IpatAnswer:
    if trap.status == 0:
        return IpatAnswer(0, hang=True, delay_s=delay)
    return IpatAnswer(trap.status, b"Internal Server Error", "text/plain", delay_s=delay)


def _redirect(location: str) -> IpatAnswer:
    return IpatAnswer(303, b"", headers=(("Location", location),))


def _handler(twin: IpatTwin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve("GET", {})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode("utf-8", "replace")
            self._serve("POST", {k: v[0] for k, v in parse_qs(body).items()})

        def _serve(self, method: str, form: dict[str, str]) -> None:
            answer = twin.answer(method, self.path, form, _cookie(self.headers.get("Cookie")))
            if answer.delay_s:
                time.sleep(answer.delay_s)
            if answer.hang:
                twin.released.wait()
                self.close_connection = True
                return
            try:
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(answer.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _cookie(header: str | None) -> str | None:
    for part in (header or "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE:
            return value
    return None


@contextmanager
def serve_ipat_twin(
    races: Sequence[IpatRace],
    account: IpatAccount,
    clock: Clock,
    faults: IpatFaults | None = None,
) -> Iterator[str]:
    """Serve the twin on a free 127.0.0.1 port until the `with` ends; yields its base URL."""
    with serving_ipat(IpatTwin(races, account, clock, faults)) as url:
        yield url


@contextmanager
def serving_ipat(twin: IpatTwin) -> Iterator[str]:
    """Serve `twin` on a free 127.0.0.1 port until the `with` ends; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(twin))
    server.daemon_threads = True
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="ipat-twin",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        twin.released.set()
        server.shutdown()
        server.server_close()
        thread.join()
