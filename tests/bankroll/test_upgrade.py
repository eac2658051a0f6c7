"""A ledger written by the previous schema (revision 0001) upgrades in place and still proves
itself: same balances, same tax report, a verifying chain, and the new guards in force.

`data/ledger-0001.json` holds every row of such a ledger, as keiba at revision 0001 wrote it
(two accounts; a win, a loss, a refund, a release, a ticket left open, an adjustment).
"""

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from keiba.bankroll import Ledger, check_invariants, verify
from keiba.bankroll.migrate import HEAD_REVISION, _config, current_revision, upgrade
from keiba.bankroll.schema import metadata
from keiba.bankroll.tax import tax_report
from keiba.common.clock import FixedClock

DATA = Path(__file__).with_name("data") / "ledger-0001.json"
TABLES = ("accounts", "decisions", "tickets", "ledger_entries", "audit_log", "audit_head")
CLOCK = FixedClock(dt.datetime(2026, 1, 3, tzinfo=dt.UTC))


def _value(name: str, value: object) -> object:
    if name.endswith("_at") and isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    return value


def _ledger_at_0001(engine: sa.Engine) -> None:
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    with engine.begin() as conn:
        command.upgrade(_config(conn), "0001")
        conn.execute(sa.text("DELETE FROM audit_head"))
        for name in TABLES:
            table = sa.Table(name, sa.MetaData(), autoload_with=conn)
            for row in rows[name]:
                conn.execute(table.insert().values({k: _value(k, v) for k, v in row.items()}))
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT setval('ledger_entries_entry_id_seq', 100)"))


def test_a_0001_ledger_upgrades_and_still_proves_itself(make_engine) -> None:
    engine = make_engine()
    _ledger_at_0001(engine)
    before = tax_report(engine, 2026)
    assert upgrade(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION
    assert verify(engine).ok and check_invariants(engine) == []
    main = Ledger.existing(engine, CLOCK, "main")
    # 100,000 in, 2,000 out, 100 fee; stakes 1,000 + 2,000 (+3,000 refunded) + 500; won 5,300
    assert (main.balances().cash, main.balances().reserved) == (99_700, 0)
    assert main.history()[-1]["owner_after_yen"] == -97_900
    assert main.history()[-1]["result_after_yen"] == -(5_300 - 1_000 - 2_000 - 500)
    after = tax_report(engine, 2026)
    assert (after.purchases, after.stake_yen, after.payout_yen) == (
        before.purchases,
        before.stake_yen,
        before.payout_yen,
    )
    main.settle("R2-hunch-1", 1_500)
    main.deposit(1_000)
    assert main.balance() == 99_700 + 1_500 + 1_000
    assert verify(engine).ok and check_invariants(engine) == []
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 1"))


@pytest.mark.parametrize("start", ["empty", "0001"])
def test_every_guard_is_in_place_whatever_the_start(make_engine, start: str) -> None:
    """SQLite rebuilds its tables and PostgreSQL alters them: both end with every CHECK and
    trigger of the revision, and every column of the declared schema."""
    engine = make_engine()
    if start == "0001":
        _ledger_at_0001(engine)
    upgrade(engine)
    migration = _migration()
    checks, triggers, columns = _guards(engine)
    added = {name for found in migration.checks(engine.dialect.name).values() for name, _ in found}
    assert added <= checks and {"stake_in_units", "available_never_negative"} <= checks
    assert {g[0] for g in migration.GUARDS} <= triggers
    if engine.dialect.name == "postgresql":
        assert {"audit_log_no_truncate", "ledger_entries_no_truncate"} <= triggers
    for name, table in metadata.tables.items():
        assert columns[name] == [c.name for c in table.columns]


def _migration():  # the revision's module, as Alembic loads it
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_revision("0002").module


def _guards(engine: sa.Engine) -> tuple[set[str], set[str], dict[str, list[str]]]:
    inspector = sa.inspect(engine)
    checks = {c["name"] or "" for name in TABLES for c in inspector.get_check_constraints(name)}
    columns = {name: [c["name"] for c in inspector.get_columns(name)] for name in TABLES}
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        else:
            query = (
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT tgisinternal AND c.relnamespace = current_schema()::regnamespace"
            )
        triggers = set(conn.execute(sa.text(query)).scalars())
    return checks, triggers, columns
