"""The audit log: append-only, hash-chained, written in the transaction of the change it explains.

Each record's content is canonical JSON (sorted keys, no spaces, UTF-8) holding its sequence
number, type, account, time and payload. The record stores the SHA-256 of that content, the
previous record's hash, and its own hash, SHA-256(previous hash ‖ content hash). The first
record follows `GENESIS`. `audit_head` holds the newest record's number and hash; every writer
locks it first, which also serialises the ledger's writers (see `ledger`).

`verify` walks the chain and names the first record that was modified, deleted, inserted or
moved; it also checks the head, any exported checkpoints, and that every ledger entry is
exactly the one an audit record announced. `export_checkpoint` writes the head to the object
store under a name that includes its hash, never overwriting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.engine import Connection

from keiba.bankroll._db import reading
from keiba.bankroll.checkpoints import CheckpointExists
from keiba.bankroll.evidence import Evidence
from keiba.bankroll.evidence import utc_iso as _utc_iso
from keiba.bankroll.schema import audit_head, audit_log
from keiba.common.errors import StorageError


class CheckpointStore(Protocol):
    """Where checkpoints go: a `WriteOnceStore`, or (for older exports) the object store."""

    def put(self, key: str, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[str]: ...


__all__ = [
    "CHECKPOINT_PREFIX",
    "ENTRY_FIELDS",
    "GENESIS",
    "Checkpoint",
    "CheckpointStore",
    "RecordType",
    "VerifyResult",
    "canonical_json",
    "digest",
    "export_checkpoint",
    "load_checkpoints",
    "verify",
]

GENESIS = "0" * 64
CHECKPOINT_PREFIX = "audit/checkpoints"
ENTRY_FIELDS = (
    "entry_id",
    "account",
    "seq",
    "kind",
    "cash_yen",
    "reserved_yen",
    "cash_after_yen",
    "reserved_after_yen",
    "race_id",
    "ticket_id",
    "decision_id",
    "cause",
)


class RecordType(StrEnum):
    ACCOUNT_OPENED = "account_opened"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    ADJUSTMENT = "adjustment"
    DECISION = "decision"
    PURCHASE_INTENT = "purchase_intent"
    PLACEMENT = "placement"
    SUBMISSION = "submission"
    ACCEPTANCE = "acceptance"
    REJECTION = "rejection"
    UNKNOWN = "unknown"
    RECONCILIATION = "reconciliation"
    CONFIRMATION = "confirmation"
    RELEASE = "release"
    SETTLEMENT = "settlement"
    MONITOR = "monitor"
    PROMOTION = "promotion"


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value.isoformat()} in an audit record")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"cannot put {type(value).__name__} into an audit record")


def canonical_json(value: Any) -> str:
    """The one serialisation that is hashed: sorted keys, no whitespace, no NaN."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_default,
    )


def digest(value: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of `value`."""
    return _sha256(canonical_json(value))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _chain(prev_sha256: str, content_sha256: str) -> str:
    return _sha256(prev_sha256 + content_sha256)


_HEAD_FOR_UPDATE = (
    select(audit_head.c.seq, audit_head.c.record_sha256)
    .where(audit_head.c.id == 1)
    .with_for_update()
)
_INSERT_RECORD = insert(audit_log)
_MOVE_HEAD = (
    update(audit_head)
    .where(audit_head.c.id == 1)
    .values(seq=bindparam("new_seq"), record_sha256=bindparam("new_sha256"))
)


class Chain:
    """The audit chain inside one write transaction. Opening it locks the head row."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        head = conn.execute(_HEAD_FOR_UPDATE).one()
        self.seq = int(head.seq)
        self.head_sha256 = str(head.record_sha256)
        self._dirty = False

    def append(
        self,
        record_type: RecordType,
        account: str | None,
        at: dt.datetime,
        payload: Mapping[str, Any],
    ) -> int:
        seq = self.seq + 1
        content = canonical_json(
            {
                "seq": seq,
                "type": record_type.value,
                "account": account,
                "at": at,
                "payload": payload,
            }
        )
        content_sha256 = _sha256(content)
        record_sha256 = _chain(self.head_sha256, content_sha256)
        self._conn.execute(
            _INSERT_RECORD,
            {
                "seq": seq,
                "record_type": record_type.value,
                "account": account,
                "created_at": at,
                "content": content,
                "content_sha256": content_sha256,
                "prev_sha256": self.head_sha256,
                "record_sha256": record_sha256,
            },
        )
        self.seq, self.head_sha256, self._dirty = seq, record_sha256, True
        return seq

    def close(self) -> None:
        """Move the head (call last, inside the same transaction)."""
        if self._dirty:
            self._conn.execute(_MOVE_HEAD, {"new_seq": self.seq, "new_sha256": self.head_sha256})
            self._dirty = False


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    record_sha256: str


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head: Checkpoint
    first_bad_seq: int | None = None
    problem: str | None = None
    checkpoints_checked: int = 0


def _entry_key(row: Mapping[str, Any]) -> str:
    return canonical_json({f: row.get(f) for f in ENTRY_FIELDS})


def verify(engine: Engine, checkpoints: Iterable[Checkpoint] = ()) -> VerifyResult:
    """Walk the whole chain in one snapshot; stop at the first bad record. Then check that
    the accounts, decisions, tickets and ledger entries are exactly what the chain says."""
    wanted: dict[int, set[str]] = {}
    for c in checkpoints:
        wanted.setdefault(c.seq, set()).add(c.record_sha256)
    with reading(engine) as conn:
        head_row = conn.execute(
            select(audit_head.c.seq, audit_head.c.record_sha256).where(audit_head.c.id == 1)
        ).one()
        head = Checkpoint(int(head_row.seq), str(head_row.record_sha256))
        evidence = Evidence()
        prev, expected, count = GENESIS, 1, 0

        def bad(seq: int | None, problem: str, checked: int = 0) -> VerifyResult:
            return VerifyResult(False, count, head, seq, problem, checked)

        rows = conn.execute(select(audit_log).order_by(audit_log.c.seq)).mappings()
        for row in rows:
            seq = int(row["seq"])
            if seq != expected:
                return bad(expected, f"record {expected} is missing (the next one is {seq})")
            parsed, problem = _check_record(dict(row), prev)
            if problem:
                return bad(seq, problem)
            if seq in wanted and wanted[seq] != {row["record_sha256"]}:
                return bad(seq, f"record {seq} differs from the exported checkpoint")
            announced = parsed.get("payload", {}).get("entries", [])
            evidence.feed(seq, parsed, [(int(e["entry_id"]), _entry_key(e)) for e in announced])
            prev, expected, count = str(row["record_sha256"]), seq + 1, count + 1
        last = expected - 1
        if (head.seq, head.record_sha256) != (last, prev):
            return bad(
                last + 1,
                f"the audit head names record {head.seq}, but the chain ends at record {last} "
                "(records were removed from its end, or the head was changed)",
            )
        beyond = [s for s in wanted if s > last]
        if beyond:
            return bad(
                last + 1,
                f"an exported checkpoint names record {min(beyond)}, beyond the chain's end "
                f"at {last} (records were removed)",
            )
        problem = evidence.problems(conn, _entry_key)
        if problem:
            return bad(None, problem, len(wanted))
    return VerifyResult(True, count, head, None, None, len(wanted))


def _check_record(row: Mapping[str, Any], prev: str) -> tuple[dict[str, Any], str | None]:
    """The record's parsed content, or the reason it cannot be trusted."""
    seq, content = int(row["seq"]), str(row["content"])
    if _sha256(content) != row["content_sha256"]:
        return {}, f"record {seq} was modified (its content hash does not match)"
    try:
        parsed = json.loads(content)
    except ValueError:
        return {}, f"record {seq} is not valid JSON"
    if not isinstance(parsed, dict) or canonical_json(parsed) != content:
        return {}, f"record {seq} is not in canonical form"
    if parsed.get("seq") != seq or parsed.get("type") != row["record_type"]:
        return {}, f"record {seq} holds the content of record {parsed.get('seq')} (moved)"
    if row["prev_sha256"] != prev:
        return {}, f"record {seq} does not follow record {seq - 1} (chain broken)"
    if _chain(prev, str(row["content_sha256"])) != row["record_sha256"]:
        return {}, f"record {seq} has a wrong record hash"
    if parsed.get("account") != row["account"] or _utc_iso(row["created_at"]) != _utc_iso(
        parsed.get("at")
    ):
        return {}, f"record {seq}'s account or time columns differ from its content"
    return parsed, None


def _checkpoint_key(prefix: str, checkpoint: Checkpoint) -> str:
    folder = f"{prefix.rstrip('/')}/" if prefix else ""
    return f"{folder}{checkpoint.seq:012d}-{checkpoint.record_sha256}.json"


def export_checkpoint(
    engine: Engine, store: CheckpointStore, at: dt.datetime, prefix: str = CHECKPOINT_PREFIX
) -> tuple[str, Checkpoint, bool]:
    """Write the chain head once to the store; returns (key, checkpoint, written_now).

    The key carries the record number and hash, so a checkpoint is never overwritten: exporting
    an unchanged head again (or another process exporting it at the same moment) finds the same
    object and writes nothing.
    """
    with reading(engine) as conn:
        row = conn.execute(
            select(audit_head.c.seq, audit_head.c.record_sha256).where(audit_head.c.id == 1)
        ).one()
    checkpoint = Checkpoint(int(row.seq), str(row.record_sha256))
    key = _checkpoint_key(prefix, checkpoint)
    if not store.exists(key):
        body = canonical_json(
            {"seq": checkpoint.seq, "record_sha256": checkpoint.record_sha256, "exported_at": at}
        )
        try:
            store.put(key, body.encode("utf-8"))
            return key, checkpoint, True
        except CheckpointExists:
            pass
    existing = json.loads(store.get(key))
    if (existing.get("seq"), existing.get("record_sha256")) != (
        checkpoint.seq,
        checkpoint.record_sha256,
    ):
        raise StorageError(f"checkpoint {key} exists with other content; not overwritten")
    return key, checkpoint, False


def load_checkpoints(store: CheckpointStore, prefix: str = CHECKPOINT_PREFIX) -> list[Checkpoint]:
    """Every exported checkpoint; a damaged one is a `StorageError` naming its file."""
    found = []
    for key in store.list(prefix):
        try:
            data = json.loads(store.get(key))
            seq, digest = data["seq"], data["record_sha256"]
            if isinstance(seq, bool) or not isinstance(seq, int) or not isinstance(digest, str):
                raise TypeError("seq must be an integer and record_sha256 a string")
        except (ValueError, KeyError, TypeError) as e:
            reason = f"missing {e}" if isinstance(e, KeyError) else str(e)
            raise StorageError(
                f"the audit checkpoint {key} in the object store is damaged ({reason}); "
                "the chain cannot be checked against it"
            ) from e
        found.append(Checkpoint(seq, digest))
    return sorted(found, key=lambda c: c.seq)
