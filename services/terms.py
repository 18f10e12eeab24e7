"""Changing a loan's terms, and reverting them to an earlier version's: each a
NEW LoanVersion (VERSION_MISMATCH when the caller's `expectedVersion` is
stale), only while the loan is PENDING; a lower amount that fills the loan
makes it FUNDED in the same version (docs/write-path.md)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.actor import Actor
from core.db import run_db
from core.errors import DomainError
from models import Loan, LoanVersion
from services import access as acl
from services import funding
from services import validation as v
from services.change import next_loan, versioned_change
from services.common import utcnow, with_retry

ID_FIELD = acl.LOAN_INPUT_ID


def _terms_once(
    actor: Actor,
    loan_id: str,
    *,
    expected_version: int,
    reason: str,
    changes: dict[str, Any],
    reverted_from: int | None,
    op: str,
) -> Loan:
    acc = acl.loan_for_change(actor, loan_id, ID_FIELD)
    acl.require_borrower(acc, "change the terms of this loan")
    loan = acc.loan
    if int(loan.version) != expected_version:
        raise DomainError(
            "VERSION_MISMATCH",
            f"The loan is at version {loan.version}, not {expected_version}: re-read it and retry",
            ["input", "expectedVersion"],
        )
    if loan.status != "PENDING":
        raise DomainError(
            "INVALID_STATE", f"Terms change only while PENDING (loan is {loan.status})", ID_FIELD
        )
    if reverted_from is not None:
        target = _get_version(loan_id, reverted_from)
        if target is None or reverted_from >= int(loan.version):
            raise DomainError(
                "NOT_FOUND", f"Loan version {reverted_from} not found", ["input", "toVersion"]
            )
        snap = target.snapshot
        changes = {
            "title": snap["title"],
            "amount": Decimal(snap["amount"]),
            "interest_rate": Decimal(snap["interest_rate"]),
            "term_months": int(snap["term_months"]),
        }
    at = utcnow()
    after = next_loan(loan, actor=actor, at=at, move_version=True)
    for k, val in changes.items():
        setattr(after, k, val)
    moved = [k for k in changes if getattr(after, k) != getattr(loan, k)]
    if not moved:
        raise DomainError(
            "VALIDATION",
            "The new terms equal the current ones: nothing to change",
            ["input", "toVersion"] if reverted_from is not None else ["input"],
        )
    funding_moved = False
    event = "LOAN_UPDATED"
    if "amount" in moved:
        agg = funding.compute(after.amount, funding.counted(loan, acl.loan_participants(loan_id)))
        if agg.total_funded > after.amount:
            raise DomainError(
                "OVERFUNDED",
                f"Accepted contributions total {agg.total_funded}, "
                f"more than the new amount {after.amount}",
                ["input", "toVersion"] if reverted_from is not None else ["input", "amount"],
            )
        funding_moved = funding.apply(after, agg)
        if funding_moved:
            after.last_funding_update = at
        if agg.is_fully_funded:
            after.status = "FUNDED"
            event = "LOAN_FUNDED"
    versioned_change(
        op,
        actor,
        loan,
        after,
        at=at,
        action="UPDATE",
        event=event,
        reason=reason,
        reverted_from=reverted_from,
        funding_moved=funding_moved,
    ).commit()
    return after


def _get_version(loan_id: str, version: int) -> LoanVersion | None:
    try:
        return LoanVersion.get(loan_id, version, consistent_read=True)
    except LoanVersion.DoesNotExist:
        return None


def _expected(value: Any, field: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DomainError("VALIDATION", "Expected version must be a positive integer", field)
    return value


def _change_reason(c: v.Collector, change_reason: str) -> str:
    return c.run(
        v.reason,
        change_reason,
        v.path("input", "changeReason"),
        required=True,
        what="Change reason",
    )


async def _commit(
    op: str,
    actor: Actor,
    loan_id: str,
    expected_version: int,
    reason: str,
    changes: dict[str, Any],
    reverted_from: int | None,
) -> Loan:
    """One terms change (new terms, or a revert) committed, retried on a lost race."""
    return await with_retry(
        op,
        lambda n: run_db(
            _terms_once,
            actor,
            loan_id,
            expected_version=expected_version,
            reason=reason,
            changes=changes,
            reverted_from=reverted_from,
            op=op,
        ),
        loan_id=loan_id,
    )


async def update_loan_terms(
    actor: Actor,
    loan_id: str,
    *,
    expected_version: int,
    change_reason: str,
    title: str | None = None,
    amount: Any = None,
    interest_rate: Any = None,
    term_months: int | None = None,
) -> Loan:
    """New terms as a new LoanVersion; VERSION_MISMATCH when `expected_version` is stale."""
    c = v.Collector()
    exp = c.run(_expected, expected_version, v.path("input", "expectedVersion"))
    why = _change_reason(c, change_reason)
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = c.run(v.title, title, v.path("input", "title"))
    if amount is not None:
        changes["amount"] = c.run(v.money, amount, v.path("input", "amount"))
    if interest_rate is not None:
        changes["interest_rate"] = c.run(
            v.interest_rate, interest_rate, v.path("input", "interestRate")
        )
    if term_months is not None:
        changes["term_months"] = c.run(v.term_months, term_months, v.path("input", "termMonths"))
    if not c.errors and not changes:
        c.errors.append(DomainError("VALIDATION", "Give at least one term to change", ["input"]))
    c.raise_if_any()
    return await _commit("updateLoanTerms", actor, loan_id, exp, why, changes, None)


async def revert_loan_terms(
    actor: Actor, loan_id: str, *, to_version: int, expected_version: int, change_reason: str
) -> Loan:
    """A NEW version whose terms equal `to_version`'s (LoanVersion.reverted_from = to_version)."""
    c = v.Collector()
    exp = c.run(_expected, expected_version, v.path("input", "expectedVersion"))
    target = c.run(_expected, to_version, v.path("input", "toVersion"))
    why = _change_reason(c, change_reason)
    c.raise_if_any()
    return await _commit("revertLoanTerms", actor, loan_id, exp, why, {}, target)
