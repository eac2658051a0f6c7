"""What the read routes return: the same as the functions the commands call, paged."""

from __future__ import annotations

from urllib.parse import quote

from served_home import Served

from keiba.app.today import today_bets
from keiba.common.storage.datasets import open_dataset
from keiba.serving.auth import Role
from keiba.serving.routes import MAX_LIMIT


def get(s: Served, url: str) -> dict:
    answer = s.client.get(url, headers=s.auth(Role.VIEWER))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_days_races_come_with_their_runners_and_pages(served: Served) -> None:
    day = served.day.isoformat()
    with open_dataset(served.config, read_only=True) as warehouse:
        cards = warehouse.query(
            "SELECT race_id, count(DISTINCT horse_no) AS n FROM entries WHERE race_date = ? "
            "GROUP BY race_id ORDER BY race_id",
            [served.day],
        )
    everything = get(served, f"/races?date={day}&limit={MAX_LIMIT}")
    assert everything["total"] == cards.height == len(everything["items"])
    assert everything["next_offset"] is None
    runners = {r["race_id"]: len(r["runners"]) for r in everything["items"]}
    assert runners == dict(cards.iter_rows())
    assert all(x["horse_name"] for r in everything["items"] for x in r["runners"])
    first = get(served, f"/races?date={day}&limit=2")
    second = get(served, f"/races?date={day}&limit=2&offset=2")
    assert first["next_offset"] == 2
    assert first["items"] + second["items"] == everything["items"][:4]


def test_a_race_is_what_bet_today_shows_for_it(served: Served) -> None:
    race_id = served.morning.day.races[6].race_id
    at = served.morning.at
    shown = get(served, f"/races/{race_id}?at={quote(at.isoformat())}")
    expected = today_bets(served.config, at, race_id=race_id).to_dict()
    assert shown["race"]["race_id"] == race_id
    assert shown["model_version"] == expected["model_version"]
    starters = {s["horse_no"]: s for s in expected["races"][0]["starters"]}
    assert starters
    for starter in shown["race"]["starters"]:
        want = starters[starter["horse_no"]]
        for key in ("horse_name", "p_model", "p_market", "p_combined", "odds", "stake_yen"):
            assert starter[key] == want[key], key
        assert starter["reason"] == want["reason"]


def test_the_plan_lists_the_journals_races(served: Served) -> None:
    plan = get(served, f"/days/{served.day.isoformat()}/plan")
    assert plan["planned"] and not plan["paused"]
    ids = [r.netkeiba_id for r in served.morning.day.races[:3]]
    assert sorted(r["race_id"] for r in plan["races"]) == sorted(ids)
    assert all(not r["steps"] and r["outcome"] is None for r in plan["races"])
    detailed = get(served, f"/days/{served.day.isoformat()}/plan?steps=true")
    for race in detailed["races"]:
        assert race["steps"] and race["step_counts"] == {"planned": len(race["steps"])}


def test_the_ledger_reads_page_by_cursor(served: Served) -> None:
    balance = get(served, "/bankroll")
    assert balance["account"] == "main" and balance["available_yen"] == 1_000_000
    newest = get(served, "/ledger/entries?limit=1")
    assert len(newest["items"]) == 1
    cursor = newest["next_before_seq"]
    if cursor is not None:  # an account with one entry has no older page
        older = get(served, f"/ledger/entries?limit=1&before_seq={cursor}")
        assert older["items"][0]["seq"] < newest["items"][0]["seq"]
    assert newest["items"][0]["kind"] == "deposit"


def test_the_monitor_shows_its_latched_stop(served: Served) -> None:
    state = get(served, "/monitor")
    assert state["stopped"] and state["stopped_by"]["tier"] == "stop"
    events = get(served, "/monitor/events")
    assert events["items"][0]["kind"] == "drawdown_tier"


def test_models_and_backtests(served: Served) -> None:
    models = get(served, "/models")["items"]
    assert len(models) == 1 and models[0]["latest"]
    runs = get(served, f"/models/{models[0]['version']}/evaluations")
    assert [r["kind"] for r in runs] == ["train"]
    assert "combination_alpha" in runs[0]["metrics"]
    backtests = get(served, "/backtests")["items"]
    assert [b["run_id"] for b in backtests] == [served.run_id]
    report = get(served, f"/backtests/{served.run_id}")
    assert report["strategies"][0]["profit_yen"] == -3000
    assert report["caveats"] == ["few bets"]


def test_bad_input_is_a_clear_4xx(served: Served) -> None:
    cases = {
        "/races?date=2026-02-30": 422,
        "/races": 422,
        "/races/2026013105010199": 404,
        "/races/12345": 422,
        "/days/not-a-day/plan": 422,
        "/days/2001-01-01/plan": 404,
        f"/races?date=2026-01-01&limit={MAX_LIMIT + 1}": 422,
        "/ledger/tickets?offset=-1": 422,
        "/backtests/nope": 404,
        "/models/nope/evaluations": 404,
        "/nowhere": 404,
    }
    for url, status in cases.items():
        answer = served.client.get(url, headers=served.auth(Role.VIEWER))
        assert answer.status_code == status, (url, answer.text)
        body = answer.json()
        assert set(body) == {"error"} or url == "/nowhere", url
        assert "Traceback" not in answer.text


def test_a_ledger_write_is_seen_by_the_next_read(served: Served) -> None:
    from keiba.bankroll import Ledger
    from keiba.common.clock import FixedClock
    from keiba.common.storage import create_ledger_engine

    before = get(served, "/bankroll")["cash_yen"]
    assert get(served, "/bankroll")["cash_yen"] == before  # read again, maybe from the cache
    engine = create_ledger_engine(served.config.ledger_url)
    try:
        Ledger.existing(engine, FixedClock(served.morning.at), "main").deposit(100)
    finally:
        engine.dispose()
    assert get(served, "/bankroll")["cash_yen"] == before + 100


def test_while_another_process_holds_the_dataset_the_warehouse_reads_are_503(
    served: Served,
) -> None:
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()", str(served.config.duckdb_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        answer = served.client.get("/races?date=2001-01-07", headers=served.auth(Role.VIEWER))
        assert answer.status_code == 503, answer.text
        assert answer.headers["retry-after"] == "30"
        assert "in use by another process" in answer.json()["error"]
        assert get(served, "/bankroll")["account"] == "main"  # the ledger stays readable
    finally:
        holder.communicate("")


def test_ready_checks_the_ledger_and_the_dataset(served: Served) -> None:
    assert get(served, "/ready") == {
        "status": "ready",
        "checks": {"dataset": "ok", "ledger": "ok"},
    }
