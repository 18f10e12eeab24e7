"""`loangraph check-integrity [--repair]`: find what the write path should
make impossible, so a bug or a hand edit cannot hide.

Checks, per loan (consistent reads):
- orphaned_participant: a participant whose loan does not exist;
- orphaned_guard: a guard whose participant is missing, deleted (and not held
  by its deleted loan's cascade), or holds another email;   [repairable]
- missing_guard: a live participant without its guard;      [repairable]
- aggregates: stored funding fields that disagree with a recount;  [repairable]
- version_gap: LoanVersion numbers that are not exactly 1..loan.version;
- unaudited_change: a loan `seq` no audit entry accounts for (every write to a
  loan bumps seq and writes entries carrying `context.loan_seq`), or entries
  claiming a seq the loan never reached.

`repair` recomputes what can be recomputed, each repair itself one audited
transaction (actor "system:integrity")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core import db
from models import AuditEntry, Loan, LoanVersion, Participant, ParticipantGuard
from models.audit import record_key
from models.participant import guard_key
from services import audit, funding
from services.change import Change, next_loan
from services.common import Retry, utcnow, with_retry
from services.participant_change import guard_for
from services.progress import bar

SYSTEM = "system:integrity"


@dataclass
class Issue:
    kind: str
    record: str
    detail: str
    repairable: bool = False
    repaired: bool = False


@dataclass
class IntegrityReport:
    loans: int = 0
    participants: int = 0
    guards: int = 0
    issues: list[Issue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not [i for i in self.issues if not i.repaired]

    def kinds(self) -> set[str]:
        return {i.kind for i in self.issues}


def _scan_all() -> tuple[list[Loan], list[Participant], list[ParticipantGuard]]:
    return (
        list(Loan.scan(consistent_read=True)),
        list(Participant.scan(consistent_read=True)),
        list(ParticipantGuard.scan(consistent_read=True)),
    )


def _audit_seqs(loan: Loan, participants: list[Participant]) -> set[int]:
    keys = [record_key("loans", loan.loan_id)] + [
        record_key("participants", audit.participant_record_id(p.loan_id, p.participant_id))
        for p in participants
    ]
    seqs: set[int] = set()
    for key in keys:
        for e in AuditEntry.query(key, consistent_read=True):
            if e.context and "loan_seq" in e.context:
                seqs.add(int(e.context["loan_seq"]))
    return seqs


def _check_loan(loan: Loan, parts: list[Participant]) -> list[Issue]:
    issues: list[Issue] = []
    rid = f"loans#{loan.loan_id}"
    stored = funding.normalized(funding.of_loan(loan))
    recount = funding.normalized(funding.compute(loan.amount, funding.counted(loan, parts)))
    if stored != recount:
        diff = {k: (stored[k], recount[k]) for k in stored if stored[k] != recount[k]}
        issues.append(Issue("aggregates", rid, f"stored vs recount: {diff}", repairable=True))
    versions = [int(lv.version) for lv in LoanVersion.query(loan.loan_id, consistent_read=True)]
    if sorted(versions) != list(range(1, int(loan.version) + 1)):
        missing = sorted(set(range(1, int(loan.version) + 1)) - set(versions))
        extra = sorted(set(versions) - set(range(1, int(loan.version) + 1)))
        issues.append(Issue("version_gap", rid, f"missing versions {missing}, unexpected {extra}"))
    seqs = _audit_seqs(loan, parts)
    missing_seq = sorted(set(range(1, int(loan.seq) + 1)) - seqs)
    beyond = sorted(s for s in seqs if s > int(loan.seq))
    if missing_seq or beyond:
        issues.append(
            Issue(
                "unaudited_change",
                rid,
                f"no audit entry for seq {missing_seq[:20]}; entries beyond seq {beyond}",
            )
        )
    return issues


def _guard_should_exist(loan: Loan | None, p: Participant) -> bool:
    if p.deleted_at is None:
        return True
    return bool(loan and loan.deleted_at is not None and p.deletion_id == loan.deletion_id)


def _inspect() -> tuple[IntegrityReport, dict[str, Any]]:
    loans, parts, guards = _scan_all()
    report = IntegrityReport(len(loans), len(parts), len(guards))
    by_id = {loan.loan_id: loan for loan in loans}
    by_loan: dict[str, list[Participant]] = {}
    for p in parts:
        by_loan.setdefault(p.loan_id, []).append(p)
        if p.loan_id not in by_id:
            report.issues.append(
                Issue(
                    "orphaned_participant",
                    f"participants#{p.loan_id}/{p.participant_id}",
                    "its loan does not exist",
                )
            )
    guard_by_key = {g.guard_key: g for g in guards}
    part_by_key = {(p.loan_id, p.participant_id): p for p in parts}
    for g in guards:
        holder = part_by_key.get((g.loan_id, g.participant_id))
        if (
            holder is None
            or guard_key(holder.loan_id, holder.lender_email) != g.guard_key
            or not _guard_should_exist(by_id.get(holder.loan_id), holder)
        ):
            report.issues.append(
                Issue(
                    "orphaned_guard",
                    f"participant_guards#{g.guard_key}",
                    "no live participant holds this guard",
                    repairable=True,
                )
            )
    for p in parts:
        if p.loan_id in by_id and _guard_should_exist(by_id[p.loan_id], p):
            held = guard_by_key.get(guard_key(p.loan_id, p.lender_email))
            if held is None or held.participant_id != p.participant_id:
                report.issues.append(
                    Issue(
                        "missing_guard",
                        f"participants#{p.loan_id}/{p.participant_id}",
                        "live participant without its guard",
                        repairable=held is None,
                    )
                )
    return report, {"loans": loans, "by_loan": by_loan, "guards": guard_by_key}


def _repair_aggregates(loan_id: str) -> None:
    loan = Loan.get(loan_id, consistent_read=True)
    parts = list(Participant.query(loan_id, consistent_read=True))
    agg = funding.compute(loan.amount, funding.counted(loan, parts))
    after = next_loan(loan)
    if not funding.apply(after, agg):
        return
    at = utcnow()
    after.last_funding_update = at
    change = Change("repairAggregates", None, at=at, before=loan, after=after, actor_id=SYSTEM)
    change.loan_entry(action="UPDATE", event="LOAN_UPDATED", context={"repair": "aggregates"})
    change.metric("LOAN_UPDATED")
    change.commit()


def _repair_guard(issue: Issue, state: dict[str, Any]) -> None:
    """Delete an orphaned guard or recreate a missing one (audited, with the loan's seq)."""
    at = utcnow()
    if issue.kind == "orphaned_guard":
        key = issue.record.split("#", 1)[1]
        g = state["guards"][key]
        loan_id, record, before, after = g.loan_id, issue.record, g, None
    else:
        loan_id, pid = issue.record.split("#", 1)[1].split("/", 1)
        g = guard_for(Participant.get(loan_id, pid, consistent_read=True), at)
        record, before, after = f"participant_guards#{g.guard_key}", None, g
    try:
        loan = Loan.get(loan_id, consistent_read=True)
    except Loan.DoesNotExist:
        loan = None
    # The change is about the loan: it takes its seq (and extends its chain).
    # Without a loan, the entry's context names the loan id alone and it is
    # hashed standalone.
    loan_after = next_loan(loan) if loan is not None else None
    change = Change("repairGuard", None, at=at, before=loan, after=loan_after, actor_id=SYSTEM)
    if after is None:
        change.tx.delete(g, ParticipantGuard.participant_id == g.participant_id, label="guard")
    else:
        change.tx.put(g, ParticipantGuard.guard_key.does_not_exist(), label="guard")
    change.entry(
        table="participant_guards",
        record_id=record.split("#", 1)[1],
        action="DELETE" if after is None else "CREATE",
        event=None,
        before=before,
        after=after,
        context={"repair": issue.kind},
        loan=loan_after
        or Loan(
            loan_id=loan_id,
            borrower_id="",
            seq=0,
            version=0,
            amount=0,
            title="",
            interest_rate=0,
            term_months=0,
        ),
    )
    change.commit()


async def check_integrity(repair: bool = False, *, progress: bool = False) -> IntegrityReport:
    """Scan everything and report; with `repair`, fix the repairable issues."""
    report, state = await db.run_db(_inspect)
    loans: list[Loan] = state["loans"]
    with bar("checking loans", len(loans), enabled=progress) as advance:
        for loan in loans:
            report.issues.extend(
                await db.run_db(_check_loan, loan, state["by_loan"].get(loan.loan_id, []))
            )
            advance()
    if repair:
        fixable = [i for i in report.issues if i.repairable]
        with bar("repairing", len(fixable), enabled=progress) as advance:
            for issue in fixable:
                if issue.kind == "aggregates":
                    loan_id = issue.record.split("#", 1)[1]
                    await with_retry(
                        "repairAggregates",
                        lambda n, lid=loan_id: db.run_db(_repair_aggregates, lid),
                        loan_id=loan_id,
                    )
                else:
                    await with_retry(
                        "repairGuard", lambda n, i=issue: db.run_db(_repair_guard, i, state)
                    )
                issue.repaired = True
                advance()
    return report


__all__ = ["IntegrityReport", "Issue", "Retry", "check_integrity"]
