"""`loangraph migrate-legacy --from TABLE`: legacy participants -> stable participants.

The legacy table is keyed by `loan_id` (hash) + `lender_id` (range), where
`lender_id` is a user id once the lender had an account, or `pending:<email>`
before. Other attributes read: `amount` (or `contribution_amount`), `status`
(PENDING/ACCEPTED/DECLINED), `email` (or `lender_email`), `created_at`,
`responded_at`. That key scheme let one person appear twice on a loan (a
`pending:` row and a user-id row, or two spellings of an email): such rows are
MERGED into one participant, and the report lists every merged row.

- One participant per (loan, lower-cased email), with a deterministic
  participant_id (uuid5 of loan and email): re-running finds it and skips it,
  so the migration is idempotent and resumable after a crash.
- Each participant is written through the write path's transaction layout:
  participant + guard + audit entry (action CREATE, event None so no webhook
  fires for history, context.migration names the source rows) + the loan
  (aggregates recomputed, seq + 1) + a metric point.
- Refused (reported, nothing written): loan missing or deleted, no email for a
  user-id row, invalid amount, accepted rows of one person with different
  amounts, acceptance that would overfund, a live participant that already
  holds the email, a full loan.
- The loan's status is left as it is (history is imported, not re-decided)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import ClientError

from core import db
from core.errors import DomainError
from models import Participant, ParticipantGuard, User
from services import access as acl
from services import audit, funding
from services import validation as v
from services.change import Change, funding_change
from services.common import MAX_LIVE_PARTICIPANTS, utcnow, with_retry
from services.participant_change import guard_for
from services.progress import bar

NAMESPACE = uuid.UUID("6f7c0a56-1d5e-4d1b-9a53-2f3f6d0c1e42")
STATUS_RANK = {"ACCEPTED": 3, "DECLINED": 2, "PENDING": 1}
SYSTEM = "system:migrate-legacy"
EVENT_FOR = {
    "ACCEPTED": "PARTICIPANT_ACCEPTED",
    "DECLINED": "PARTICIPANT_DECLINED",
    "PENDING": "PARTICIPANT_INVITED",
}


def participant_id_for(loan_id: str, email: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{loan_id}/{email}"))


@dataclass
class LegacyRow:
    loan_id: str
    lender_id: str
    raw: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.loan_id}/{self.lender_id}"

    @property
    def user_id(self) -> str | None:
        return None if self.lender_id.startswith("pending:") else self.lender_id


@dataclass
class MigrationReport:
    dry_run: bool
    rows: int = 0
    converted: list[dict[str, Any]] = field(default_factory=list)
    merged: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "converted": len(self.converted),
            "merged": len(self.merged),
            "refused": len(self.refused),
            "skipped": len(self.skipped),
        }


def _scan(table: str) -> list[LegacyRow]:
    client = db.boto_client()
    des = TypeDeserializer()
    rows: list[LegacyRow] = []
    try:
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page.get("Items", []):
                raw = {k: des.deserialize(val) for k, val in item.items()}
                rows.append(LegacyRow(str(raw.get("loan_id")), str(raw.get("lender_id")), raw))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise DomainError("NOT_FOUND", f"legacy table {table!r} does not exist") from None
        raise
    return rows


def _email_of(row: LegacyRow, users: dict[str, str | None]) -> str | None:
    if row.user_id is None:
        return row.lender_id[len("pending:") :]
    for name in ("email", "lender_email"):
        if row.raw.get(name):
            return str(row.raw[name])
    if row.user_id not in users:
        try:
            users[row.user_id] = User.get(row.user_id, consistent_read=True).email
        except User.DoesNotExist:
            users[row.user_id] = None
    return users[row.user_id]


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass
class Plan:
    loan_id: str
    email: str
    rows: list[LegacyRow]
    status: str
    amount: Decimal
    lender_id: str | None
    invited_at: datetime | None
    responded_at: datetime | None

    @property
    def participant_id(self) -> str:
        return participant_id_for(self.loan_id, self.email)


def _plan(loan_id: str, email: str, rows: list[LegacyRow]) -> Plan:
    """Merge the rows of one (loan, email) into one participant, or refuse."""
    statuses = {str(r.raw.get("status") or "PENDING").upper() for r in rows}
    if not statuses <= set(STATUS_RANK):
        raise DomainError("VALIDATION", f"unknown status in {sorted(statuses)}")
    amounts = []
    for r in rows:
        raw = r.raw.get("amount", r.raw.get("contribution_amount"))
        amounts.append(v.money(raw, ["amount"], "Amount"))
    ranked = sorted(
        zip(rows, amounts, strict=True),
        key=lambda ra: (
            STATUS_RANK[str(ra[0].raw.get("status") or "PENDING").upper()],
            ra[0].user_id is not None,
            str(ra[0].raw.get("responded_at") or ra[0].raw.get("created_at") or ""),
        ),
        reverse=True,
    )
    best_row, best_amount = ranked[0]
    status = str(best_row.raw.get("status") or "PENDING").upper()
    if status == "ACCEPTED":
        accepted_amounts = {a for r, a in ranked if str(r.raw.get("status")).upper() == "ACCEPTED"}
        if len(accepted_amounts) > 1:
            raise DomainError(
                "CONFLICT",
                f"accepted rows disagree on the amount: {sorted(str(a) for a in accepted_amounts)}",
            )
    user_ids = {r.user_id for r in rows if r.user_id}
    if len(user_ids) > 1:
        raise DomainError("CONFLICT", f"one email, several user ids: {sorted(user_ids)}")
    created = [t for t in (_when(r.raw.get("created_at")) for r in rows) if t]
    responded = _when(best_row.raw.get("responded_at"))
    return Plan(
        loan_id,
        email,
        rows,
        status,
        best_amount,
        next(iter(user_ids), None),
        min(created) if created else None,
        responded if status != "PENDING" else None,
    )


def _write(plan: Plan, source: str, dry_run: bool) -> str:
    """'converted' or 'skipped'; raises DomainError to refuse, Retry on a lost race."""
    loan = acl.get_loan(plan.loan_id)
    if loan is None or loan.deleted_at is not None:
        raise DomainError("NOT_FOUND", "loan not found (or deleted) in the new loans table")
    if acl.get_participant(plan.loan_id, plan.participant_id) is not None:
        return "skipped"
    guard = acl.get_guard(plan.loan_id, plan.email)
    if guard is not None:
        raise DomainError(
            "DUPLICATE_PARTICIPANT", f"participant {guard.participant_id} already holds this email"
        )
    everyone = acl.loan_participants(plan.loan_id)
    live = [p for p in everyone if p.deleted_at is None]
    if len(live) + 1 > MAX_LIVE_PARTICIPANTS:
        raise DomainError("CONFLICT", f"the loan already has {MAX_LIVE_PARTICIPANTS} participants")
    if plan.status == "ACCEPTED":
        total = funding.compute(loan.amount, funding.counted(loan, everyone)).total_funded
        if total + plan.amount > loan.amount:
            raise DomainError(
                "OVERFUNDED",
                f"accepting {plan.amount} would fund {total + plan.amount} of {loan.amount}",
            )
    if dry_run:
        return "converted"
    at = utcnow()
    p = Participant(
        loan_id=plan.loan_id,
        participant_id=plan.participant_id,
        lender_id=plan.lender_id,
        lender_email=plan.email,
        contribution_amount=plan.amount,
        status=plan.status,
        accepted_version=int(loan.version) if plan.status == "ACCEPTED" else None,
        invited_at=plan.invited_at or at,
        responded_at=plan.responded_at or (at if plan.status != "PENDING" else None),
        created_at=at,
        created_by=SYSTEM,
        updated_at=at,
        updated_by=SYSTEM,
        version=1,
    )
    loan_after = funding_change(loan, [*everyone, p], at=at)
    change = Change("migrateLegacy", None, at=at, before=loan, after=loan_after, actor_id=SYSTEM)
    change.tx.put(p, Participant.participant_id.does_not_exist(), label="participant")
    change.tx.put(guard_for(p, at), ParticipantGuard.guard_key.does_not_exist(), label="guard")
    change.entry(
        table="participants",
        record_id=audit.participant_record_id(p.loan_id, p.participant_id),
        action="CREATE",
        event=None,
        before=None,
        after=p,
        context={
            "participant_id": p.participant_id,
            "migration": {"from": source, "rows": [r.key for r in plan.rows]},
        },
    )
    change.metric(EVENT_FOR[plan.status])
    change.commit()
    return "converted"


async def migrate_legacy(
    from_table: str, dry_run: bool = False, *, progress: bool = False
) -> MigrationReport:
    """Convert every row of `from_table`; safe to run again (see module doc)."""
    rows = await db.run_db(_scan, from_table)
    report = MigrationReport(dry_run=dry_run, rows=len(rows))
    users: dict[str, str | None] = {}
    groups: dict[tuple[str, str], list[LegacyRow]] = defaultdict(list)
    for row in rows:
        email = await db.run_db(_email_of, row, users)
        try:
            email = v.email(email, ["email"]) if email else None
        except DomainError:
            email = None
        if email is None:
            report.refused.append({"rows": [row.key], "reason": "no valid email for this lender"})
            continue
        groups[(row.loan_id, email)].append(row)

    with bar("migrating legacy participants", len(groups), enabled=progress) as advance:
        for (loan_id, email), group in sorted(groups.items()):
            keys = [r.key for r in group]
            try:
                plan = _plan(loan_id, email, group)
                outcome = await with_retry(
                    "migrateLegacy",
                    lambda n, plan=plan: db.run_db(_write, plan, from_table, dry_run),
                    loan_id=loan_id,
                )
            except DomainError as exc:
                report.refused.append(
                    {
                        "loan_id": loan_id,
                        "email": email,
                        "rows": keys,
                        "reason": exc.message,
                        "code": exc.code,
                    }
                )
                advance()
                continue
            record = {
                "loan_id": loan_id,
                "email": email,
                "rows": keys,
                "participant_id": plan.participant_id,
                "status": plan.status,
                "amount": str(plan.amount),
            }
            if outcome == "skipped":
                report.skipped.append(record)
            else:
                report.converted.append(record)
                if len(group) > 1:
                    report.merged.append(record)
            advance()
    return report


__all__ = ["MigrationReport", "migrate_legacy", "participant_id_for"]
