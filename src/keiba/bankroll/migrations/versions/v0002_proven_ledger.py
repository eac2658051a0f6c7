"""Double entry, the same limits on both databases, and tables the database keeps append-only.

- `ledger_entries` gains the legs `owner_yen` (money brought in or taken out) and `result_yen`
  (stakes bought, payouts and refunds) with their running totals; with `cash_yen` each entry's
  legs sum to zero, and so do the running totals (CHECK), and a trigger makes every entry
  continue the previous entry's totals.
- Ids, hashes and amounts get CHECKs on length, characters and range, so SQLite refuses what
  PostgreSQL refuses (SQLite has no length limit on VARCHAR and no fixed integer width).
- Triggers refuse UPDATE and DELETE on `accounts`, `decisions`, `ledger_entries` and
  `audit_log`, let `audit_head` only move forward onto an existing record, make every audit
  record follow the previous one, and let a ticket change only along a legal transition (they
  replace 0001's CHECKs on ticket states).

SQLite cannot add a CHECK to a table: its tables are rebuilt (renamed aside, created anew,
copied, dropped; foreign keys stay on and hold throughout). PostgreSQL alters them in place.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MAX_AMOUNT = 10**12  # one movement (keiba.common.money.MAX_YEN)
MAX_TOTAL = 10**15  # a running total
_OWNER_KINDS = "'deposit', 'withdrawal', 'adjustment'"
_RESULT_KINDS = "'stake_committed', 'payout', 'refund'"
_TICKET_KINDS = "'stake_reserved', 'stake_committed', 'reservation_released', 'payout', 'refund'"
_KINDS = (
    "'deposit', 'withdrawal', 'stake_reserved', 'stake_committed', 'reservation_released', "
    "'payout', 'refund', 'adjustment'"
)
_STATE_CHECKS = ("ticket_state_known", "settled_iff_settled_at")
"""Revision 0001's CHECKs on ticket states, dropped: the ticket triggers keep states (a ticket
starts reserved and changes only along a legal transition), and a later revision can change
the transitions by replacing triggers, where SQLite could change a CHECK only by a rebuild."""
_APPEND_ONLY = ("accounts", "decisions", "ledger_entries", "audit_log")
_NEW_LEGS = ("owner_yen", "result_yen", "owner_after_yen", "result_after_yen")
OWNER_LEG = f"CASE WHEN kind IN ({_OWNER_KINDS}) THEN -cash_yen ELSE 0 END"
RESULT_LEG = f"CASE WHEN kind IN ({_RESULT_KINDS}) THEN -cash_yen ELSE 0 END"


class _Sql:
    """The dialect's spelling of the few things SQLite and PostgreSQL write differently."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def printable(self, col: str) -> str:
        """Only printable ASCII without spaces (0x21–0x7E)."""
        return f"{col} NOT GLOB '*[^!-~]*'" if self.sqlite else f"{col} !~ '[^!-~]'"

    def hex64(self, col: str) -> str:
        hexonly = f"{col} NOT GLOB '*[^0-9a-f]*'" if self.sqlite else f"{col} !~ '[^0-9a-f]'"
        return f"length({col}) = 64 AND {hexonly}"

    def whole(self, col: str) -> str:
        """An integer (SQLite keeps a REAL or TEXT that PostgreSQL's BIGINT refuses)."""
        return f"typeof({col}) IN ('integer', 'null')" if self.sqlite else "TRUE"

    def same(self, col: str) -> str:
        op_ = "IS" if self.sqlite else "IS NOT DISTINCT FROM"
        return f"NEW.{col} {op_} OLD.{col}"


def _id(s: _Sql, col: str, size: int, nullable: bool = False) -> str:
    rule = f"length({col}) BETWEEN 1 AND {size} AND {s.printable(col)}"
    return f"{col} IS NULL OR ({rule})" if nullable else rule


def _amount(s: _Sql, col: str, bound: int) -> str:
    return f"{s.whole(col)} AND ({col} IS NULL OR {col} BETWEEN -{bound} AND {bound})"


def checks(dialect: str) -> dict[str, list[tuple[str, str]]]:
    """The CHECKs this revision adds, per table: (name, condition)."""
    s = _Sql(dialect)
    legs = ("cash_yen", "reserved_yen", "owner_yen", "result_yen")
    totals = ("cash_after_yen", "reserved_after_yen", "owner_after_yen", "result_after_yen")
    return {
        "accounts": [("account_limits", _id(s, "account", 64))],
        "decisions": [
            ("decision_id_limits", _id(s, "decision_id", 64)),
            ("decision_race_limits", _id(s, "race_id", 32)),
            ("decision_rule_limits", "length(rule) BETWEEN 1 AND 100"),
            (
                "decision_digests_are_sha256",
                f"{s.hex64('inputs_sha256')} AND {s.hex64('output_sha256')}",
            ),
        ],
        "tickets": [
            ("ticket_id_limits", _id(s, "ticket_id", 64)),
            ("ticket_race_limits", _id(s, "race_id", 32)),
            ("ticket_bet_limits", f"{_id(s, 'bet_type', 32)} AND {_id(s, 'combination', 32)}"),
            ("ticket_rule_limits", "length(rule) BETWEEN 1 AND 100"),
            ("ticket_receipt_limits", _id(s, "receipt", 64, nullable=True)),
            (
                "ticket_amount_limits",
                f"{_amount(s, 'stake_yen', MAX_AMOUNT)} AND {_amount(s, 'payout_yen', MAX_AMOUNT)}",
            ),
            (
                "settlement_complete",
                "(settled_at IS NULL) = (payout_yen IS NULL) AND "
                "(settled_at IS NULL) = (outcome IS NULL)",
            ),
            (
                "settlement_consistent",
                "outcome IS NULL OR (outcome = 'lost' AND payout_yen = 0) OR "
                "(outcome = 'won' AND payout_yen > 0) OR "
                "(outcome = 'refund' AND payout_yen = stake_yen)",
            ),
        ],
        "ledger_entries": [
            ("entry_seq_positive", f"{s.whole('seq')} AND seq >= 1"),
            ("entry_amount_limits", " AND ".join(_amount(s, c, MAX_AMOUNT) for c in legs)),
            ("entry_total_limits", " AND ".join(_amount(s, c, MAX_TOTAL) for c in totals)),
            ("entry_race_limits", _id(s, "race_id", 32, nullable=True)),
            ("entry_cause_limits", "length(cause) <= 200"),
            ("entry_is_balanced", "cash_yen + owner_yen + result_yen = 0"),
            ("books_are_balanced", "cash_after_yen + owner_after_yen + result_after_yen = 0"),
            ("entry_legs_match_kind", _LEGS_MATCH_KIND),
            (
                "entry_ticket_iff_ticket_kind",
                f"(kind IN ({_TICKET_KINDS})) = (ticket_id IS NOT NULL)",
            ),
        ],
        "audit_log": [
            ("record_seq_positive", f"{s.whole('seq')} AND seq >= 1"),
            ("record_type_limits", _id(s, "record_type", 32)),
            ("record_account_limits", _id(s, "account", 64, nullable=True)),
            (
                "record_hashes_are_sha256",
                " AND ".join(
                    s.hex64(c) for c in ("content_sha256", "prev_sha256", "record_sha256")
                ),
            ),
        ],
        "audit_head": [
            ("head_limits", f"{s.whole('seq')} AND seq >= 0 AND {s.hex64('record_sha256')}"),
        ],
    }


_LEGS_MATCH_KIND = (
    "(kind = 'deposit' AND cash_yen > 0 AND reserved_yen = 0 AND result_yen = 0) OR "
    "(kind = 'withdrawal' AND cash_yen < 0 AND reserved_yen = 0 AND result_yen = 0) OR "
    "(kind = 'adjustment' AND cash_yen <> 0 AND reserved_yen = 0 AND result_yen = 0) OR "
    "(kind = 'stake_reserved' AND cash_yen = 0 AND reserved_yen > 0 AND owner_yen = 0) OR "
    "(kind = 'reservation_released' AND cash_yen = 0 AND reserved_yen < 0 AND owner_yen = 0) OR "
    "(kind = 'stake_committed' AND cash_yen < 0 AND reserved_yen = cash_yen AND owner_yen = 0) OR "
    "(kind IN ('payout', 'refund') AND cash_yen > 0 AND reserved_yen = 0 AND owner_yen = 0)"
)

# --- triggers --------------------------------------------------------------------------------

TICKET_IMMUTABLE = (
    "ticket_id",
    "account",
    "race_id",
    "decision_id",
    "bet_type",
    "combination",
    "stake_yen",
    "rule",
    "reserved_at",
)
TICKET_MUTABLE = ("state", "placed_at", "receipt", "settled_at", "payout_yen", "outcome")
# (from, to, the columns the change sets from NULL, the columns it may set from NULL); a
# ticket changes only this way, or by its receipt being recorded once (placed or settled, state
# unchanged). A later revision replaces the trigger with its own transitions.
TICKET_TRANSITIONS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("reserved", "placed", ("placed_at",), ()),
    ("reserved", "released", (), ()),
    ("placed", "settled", ("settled_at", "payout_yen", "outcome"), ()),
)
_RECEIPT_STATES = ("placed", "settled")


def legal_ticket_change(
    dialect: str,
    transitions: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = TICKET_TRANSITIONS,
) -> str:
    """The condition (on OLD and NEW) that every UPDATE of a ticket must meet."""
    s = _Sql(dialect)

    def move(state_from: str, state_to: str, sets: tuple[str, ...], may: tuple[str, ...]) -> str:
        parts = [f"OLD.state = '{state_from}'", f"NEW.state = '{state_to}'"]
        for col in TICKET_MUTABLE[1:]:
            if col in sets:
                parts.append(f"OLD.{col} IS NULL AND NEW.{col} IS NOT NULL")
            elif col in may:
                parts.append(f"({s.same(col)} OR OLD.{col} IS NULL)")
            else:
                parts.append(s.same(col))
        return "(" + " AND ".join(parts) + ")"

    moves = [move(*t) for t in transitions]
    receipt_states = ", ".join(f"'{x}'" for x in _RECEIPT_STATES)
    receipt = " AND ".join(
        [
            s.same("state"),
            f"OLD.state IN ({receipt_states})",
            "OLD.receipt IS NULL AND NEW.receipt IS NOT NULL",
            *(s.same(c) for c in TICKET_MUTABLE if c not in ("state", "receipt")),
        ]
    )
    kept = " AND ".join(s.same(c) for c in TICKET_IMMUTABLE)
    return f"({kept}) AND ({' OR '.join([*moves, f'({receipt})'])})"


_NEW_TICKET = (
    "NEW.state = 'reserved' AND NEW.placed_at IS NULL AND NEW.receipt IS NULL AND "
    "NEW.settled_at IS NULL AND NEW.payout_yen IS NULL AND NEW.outcome IS NULL"
)
_ENTRY_CONTINUES = (
    "(NEW.seq = 1 AND NEW.cash_after_yen = NEW.cash_yen "
    "AND NEW.reserved_after_yen = NEW.reserved_yen AND NEW.owner_after_yen = NEW.owner_yen "
    "AND NEW.result_after_yen = NEW.result_yen) OR EXISTS (SELECT 1 FROM ledger_entries p "
    "WHERE p.account = NEW.account AND p.seq = NEW.seq - 1 "
    "AND NEW.cash_after_yen = p.cash_after_yen + NEW.cash_yen "
    "AND NEW.reserved_after_yen = p.reserved_after_yen + NEW.reserved_yen "
    "AND NEW.owner_after_yen = p.owner_after_yen + NEW.owner_yen "
    "AND NEW.result_after_yen = p.result_after_yen + NEW.result_yen)"
)
_RECORD_FOLLOWS = (
    "(NEW.seq = 1 AND NEW.prev_sha256 = '" + "0" * 64 + "') OR EXISTS (SELECT 1 FROM audit_log p "
    "WHERE p.seq = NEW.seq - 1 AND p.record_sha256 = NEW.prev_sha256)"
)
_HEAD_MOVES_FORWARD = (
    "NEW.id = OLD.id AND NEW.seq > OLD.seq AND EXISTS (SELECT 1 FROM audit_log r "
    "WHERE r.seq = NEW.seq AND r.record_sha256 = NEW.record_sha256)"
)

# (name, table, event, condition that must hold, message)
GUARDS = (
    (
        "tickets_start_reserved",
        "tickets",
        "INSERT",
        _NEW_TICKET,
        "a ticket starts reserved, with nothing placed, received or settled",
    ),
    (
        "tickets_change_legally",
        "tickets",
        "UPDATE",
        None,
        "a ticket changes only along a legal transition",
    ),
    ("tickets_kept", "tickets", "DELETE", "1 = 0", "tickets are never deleted"),
    (
        "ledger_entries_continue",
        "ledger_entries",
        "INSERT",
        _ENTRY_CONTINUES,
        "a ledger entry continues the running totals of the previous entry of its account",
    ),
    (
        "audit_log_follows",
        "audit_log",
        "INSERT",
        _RECORD_FOLLOWS,
        "an audit record follows the previous record",
    ),
    (
        "audit_head_forward",
        "audit_head",
        "UPDATE",
        _HEAD_MOVES_FORWARD,
        "the audit head only moves forward, onto an existing record",
    ),
    ("audit_head_kept", "audit_head", "DELETE", "1 = 0", "the audit head is never deleted"),
    *(
        (f"{t}_append_only_{ev.lower()}", t, ev, "1 = 0", f"{t} is append-only ({ev} refused)")
        for t in _APPEND_ONLY
        for ev in ("UPDATE", "DELETE")
    ),
)


def _sqlite_trigger(name: str, table: str, event: str, condition: str, message: str) -> str:
    return (
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW WHEN NOT ({condition}) "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
    )


def _pg_trigger(name: str, table: str, event: str, condition: str, message: str) -> list[str]:
    row = "OLD" if event == "DELETE" else "NEW"
    return [
        f"CREATE FUNCTION keiba_{name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"IF NOT ({condition}) THEN RAISE EXCEPTION '{message}' USING ERRCODE = '23514'; "
        f"END IF; RETURN {row}; END $$",
        f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW "
        f"EXECUTE FUNCTION keiba_{name}()",
    ]


def trigger_statements(dialect: str) -> list[str]:
    statements: list[str] = []
    for name, table, event, condition, message in GUARDS:
        cond = legal_ticket_change(dialect) if condition is None else condition
        if dialect == "sqlite":
            statements.append(_sqlite_trigger(name, table, event, cond, message))
        else:
            statements += _pg_trigger(name, table, event, cond, message)
    if dialect != "sqlite":
        statements.append(
            "CREATE FUNCTION keiba_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only (TRUNCATE "
            "refused)', ERRCODE = '23514'; END $$"
        )
        statements += [
            f"CREATE TRIGGER {t}_no_truncate BEFORE TRUNCATE ON {t} FOR EACH STATEMENT "
            "EXECUTE FUNCTION keiba_no_truncate()"
            for t in (*_APPEND_ONLY, "tickets", "audit_head")
        ]
    return statements


# --- the tables as this revision leaves them (SQLite rebuilds them from these) ---------------


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _yen(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.BigInteger, nullable=nullable)


def _tables(dialect: str) -> list[sa.Table]:
    md = sa.MetaData()
    add = checks(dialect)

    def table(name: str, *items: Any) -> sa.Table:
        new = [sa.CheckConstraint(sql, name=n) for n, sql in add[name]]
        return sa.Table(name, md, *items, *new)

    return [
        table("accounts", sa.Column("account", sa.String(64), primary_key=True), _at("created_at")),
        table(
            "decisions",
            sa.Column("decision_id", sa.String(64), primary_key=True),
            sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
            sa.Column("race_id", sa.String(32), nullable=False),
            sa.Column("rule", sa.String(100), nullable=False),
            sa.Column("inputs_sha256", sa.String(64), nullable=False),
            sa.Column("output_sha256", sa.String(64), nullable=False),
            _at("created_at"),
        ),
        table(
            "tickets",
            sa.Column("ticket_id", sa.String(64), primary_key=True),
            sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
            sa.Column("race_id", sa.String(32), nullable=False),
            sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.decision_id")),
            sa.Column("bet_type", sa.String(32), nullable=False),
            sa.Column("combination", sa.String(32), nullable=False),
            _yen("stake_yen"),
            sa.Column("rule", sa.String(100), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            _at("reserved_at"),
            _at("placed_at", nullable=True),
            sa.Column("receipt", sa.String(64)),
            _at("settled_at", nullable=True),
            _yen("payout_yen", nullable=True),
            sa.Column("outcome", sa.String(16)),
            sa.CheckConstraint("stake_yen > 0 AND stake_yen % 100 = 0", name="stake_in_units"),
            sa.CheckConstraint("payout_yen IS NULL OR payout_yen >= 0", name="payout_not_negative"),
        ),
        table(
            "ledger_entries",
            sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("account", sa.String(64), sa.ForeignKey("accounts.account"), nullable=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("kind", sa.String(32), nullable=False),
            _yen("cash_yen"),
            _yen("reserved_yen"),
            _yen("cash_after_yen"),
            _yen("reserved_after_yen"),
            sa.Column("race_id", sa.String(32)),
            sa.Column("ticket_id", sa.String(64), sa.ForeignKey("tickets.ticket_id")),
            sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.decision_id")),
            sa.Column("cause", sa.String(200), nullable=False),
            _at("created_at"),
            *(_yen(c) for c in _NEW_LEGS),
            sa.CheckConstraint(
                "cash_after_yen - reserved_after_yen >= 0", name="available_never_negative"
            ),
            sa.CheckConstraint("reserved_after_yen >= 0", name="reserved_never_negative"),
            sa.CheckConstraint("cause <> ''", name="entry_names_its_cause"),
            sa.CheckConstraint(f"kind IN ({_KINDS})", name="entry_kind_known"),
            sa.UniqueConstraint("account", "seq", name="one_entry_per_seq"),
            sa.UniqueConstraint("ticket_id", "kind", name="one_entry_per_ticket_and_kind"),
        ),
        table(
            "audit_log",
            sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("record_type", sa.String(32), nullable=False),
            sa.Column("account", sa.String(64)),
            _at("created_at"),
            sa.Column("content", sa.Text, nullable=False),
            sa.Column("content_sha256", sa.String(64), nullable=False),
            sa.Column("prev_sha256", sa.String(64), nullable=False),
            sa.Column("record_sha256", sa.String(64), nullable=False),
        ),
        table(
            "audit_head",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("seq", sa.BigInteger, nullable=False),
            sa.Column("record_sha256", sa.String(64), nullable=False),
            sa.CheckConstraint("id = 1", name="one_head"),
        ),
    ]


def _copy_sql(table: sa.Table) -> str:
    columns = [c.name for c in table.columns]
    if table.name != "ledger_entries":
        names = ", ".join(columns)
        return f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {table.name}_v1"
    window = "OVER (PARTITION BY account ORDER BY seq)"
    computed = {
        "owner_yen": OWNER_LEG,
        "result_yen": RESULT_LEG,
        "owner_after_yen": f"SUM({OWNER_LEG}) {window}",
        "result_after_yen": f"SUM({RESULT_LEG}) {window}",
    }
    values = ", ".join(computed.get(c, c) for c in columns)
    return (
        f"INSERT INTO ledger_entries ({', '.join(columns)}) SELECT {values} "
        "FROM ledger_entries_v1 ORDER BY entry_id"
    )


def _rebuild_sqlite(bind: sa.engine.Connection) -> None:
    tables = _tables("sqlite")
    bind.exec_driver_sql("DROP INDEX tickets_by_account_placed")
    for t in tables:
        bind.exec_driver_sql(f"ALTER TABLE {t.name} RENAME TO {t.name}_v1")
    for t in tables:  # parents first: every foreign key holds as rows arrive
        t.create(bind)
        bind.exec_driver_sql(_copy_sql(t))
    for t in reversed(tables):  # children first: nothing refers to a table when it goes
        bind.exec_driver_sql(f"DROP TABLE {t.name}_v1")


def _alter_postgresql(bind: sa.engine.Connection) -> None:
    for name in _NEW_LEGS:
        op.add_column("ledger_entries", sa.Column(name, sa.BigInteger, nullable=True))
    bind.exec_driver_sql(
        f"UPDATE ledger_entries SET owner_yen = {OWNER_LEG}, result_yen = {RESULT_LEG}"
    )
    bind.exec_driver_sql(
        "UPDATE ledger_entries e SET owner_after_yen = w.o, result_after_yen = w.r FROM "
        "(SELECT entry_id, SUM(owner_yen) OVER (PARTITION BY account ORDER BY seq) AS o, "
        "SUM(result_yen) OVER (PARTITION BY account ORDER BY seq) AS r FROM ledger_entries) w "
        "WHERE e.entry_id = w.entry_id"
    )
    for name in _NEW_LEGS:
        op.alter_column("ledger_entries", name, nullable=False)
    for name in _STATE_CHECKS:
        op.drop_constraint(name, "tickets", type_="check")
    for table, added in checks("postgresql").items():
        for name, sql in added:
            op.create_check_constraint(name, table, sa.text(sql))


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind)
        op.create_index("tickets_by_account_placed", "tickets", ["account", "placed_at"])
    else:
        _alter_postgresql(bind)
    for statement in trigger_statements(bind.dialect.name):
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    raise NotImplementedError("the ledger's schema is never downgraded")
