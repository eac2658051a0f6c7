"""The operator's actions: each done, recorded in the audit chain with the token's name, and
refused when there is nothing to do."""

from __future__ import annotations

import hashlib

from served_home import Served

from keiba.bankroll import Ledger, verify
from keiba.common.clock import FixedClock
from keiba.common.storage import create_ledger_engine
from keiba.scheduler import Journal, journal_path
from keiba.serving.auth import Role


def post(s: Served, url: str, body: dict) -> tuple[int, dict]:
    answer = s.client.post(url, json=body, headers=s.auth(Role.OPERATOR))
    return answer.status_code, answer.json()


def operator_records(s: Served) -> list[dict]:
    engine = create_ledger_engine(s.config.ledger_url)
    try:
        events = Ledger.existing(engine, FixedClock(s.morning.at), "main").monitor_events()
        assert verify(engine, []).ok
    finally:
        engine.dispose()
    return [e for e in events if e["kind"] == "operator"]


def test_pausing_and_resuming_the_day(served: Served) -> None:
    url = f"/days/{served.day.isoformat()}"
    status, plan = post(served, f"{url}/pause", {"reason": "odds feed looks wrong"})
    assert status == 200 and plan["paused"] and plan["paused_by"] == "operator"
    journal = Journal(journal_path(served.home, served.day))
    try:
        assert journal.pause().paused
        assert journal.pause().reason == "odds feed looks wrong"
    finally:
        journal.close()
    assert post(served, f"{url}/pause", {"reason": "again"})[0] == 409
    status, plan = post(served, f"{url}/resume", {"reason": "feed fixed"})
    assert status == 200 and not plan["paused"]
    actions = [(r["action"], r["operator"], r["reason"]) for r in operator_records(served)]
    assert actions[-2:] == [
        ("pause_day", "operator", "odds feed looks wrong"),
        ("resume_day", "operator", "feed fixed"),
    ]
    assert post(served, "/days/2001-01-01/pause", {"reason": "x"})[0] == 404
    assert post(served, f"{url}/pause", {"reason": ""})[0] == 422
    assert post(served, f"{url}/pause", {"reason": "x", "extra": 1})[0] == 422


def test_resuming_after_a_monitor_stop(served: Served) -> None:
    status, result = post(served, "/monitor/resume", {"reason": "drawdown reviewed"})
    assert status == 200 and not result["stopped"]
    assert result["resume_record"]["operator"] == "operator"
    assert (
        served.client.get("/monitor", headers=served.auth(Role.VIEWER)).json()["stopped"] is False
    )
    assert operator_records(served)[-1]["action"] == "resume_buying"
    status, body = post(served, "/monitor/resume", {"reason": "again"})
    assert status == 409 and "nothing to resume" in body["error"]


def test_approving_exactly_the_manual_list_read(served: Served) -> None:
    day = served.day.isoformat()
    listed = served.client.get(f"/manual/{day}/tickets", headers=served.auth(Role.VIEWER)).json()
    assert len(listed["tickets"]) == 2 and listed["total_yen"] == 600
    path = served.home / "manual" / f"tickets-{served.day:%Y%m%d}.csv"
    assert listed["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    status, approved = post(served, f"/manual/{day}/approve", {"sha256": listed["sha256"]})
    assert status == 200 and approved["approved_by"] == "operator"
    record = operator_records(served)[-1]
    assert record["action"] == "approve_manual_tickets"
    assert record["sha256"] == listed["sha256"]
    assert record["tickets"] == [t["ticket_id"] for t in listed["tickets"]]
    assert approved["audit_seq"] == record["seq"]
    status, body = post(served, f"/manual/{day}/approve", {"sha256": "0" * 64})
    assert status == 409 and "changed" in body["error"]
    assert post(served, f"/manual/{day}/approve", {"sha256": "zz"})[0] == 422
