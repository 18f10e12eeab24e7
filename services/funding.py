"""The loan's computed funding fields, recomputed from its participants.

Every participant change reads the loan (noting its `seq`), then Queries the
loan's participant partition with a consistent read, applies the change to
that list and recomputes everything from scratch. The transaction writes the
loan conditioned on the `seq` it read, and every participant change also
bumps `seq`: if anything changed after the read, the commit fails and the
change is retried. So the stored fields always equal a recount."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal

from models import Loan, LoanMetric, Participant
from services.validation import CENT

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class Aggregates:
    total_funded: Decimal
    funding_percentage: Decimal
    is_fully_funded: bool
    participant_count: int
    accepted_participant_count: int
    pending_participant_count: int
    declined_participant_count: int
    average_contribution: Decimal | None
    largest_contribution: Decimal | None
    smallest_contribution: Decimal | None

    FIELDS = (
        "total_funded",
        "funding_percentage",
        "is_fully_funded",
        "participant_count",
        "accepted_participant_count",
        "pending_participant_count",
        "declined_participant_count",
        "average_contribution",
        "largest_contribution",
        "smallest_contribution",
    )


def counted(loan: Loan, participants: Iterable[Participant]) -> list[Participant]:
    """The participants a loan's aggregates count: the live ones, and for a
    deleted loan the ones its deletion cascaded to (so a restore changes nothing)."""
    cascade = loan.deletion_id if loan.deleted_at is not None else None
    return [
        p for p in participants if p.deleted_at is None or (cascade and p.deletion_id == cascade)
    ]


def compute(amount: Decimal, participants: Iterable[Participant]) -> Aggregates:
    """Aggregates over `participants` (already filtered to the counted ones).

    - funding_percentage: total / amount * 100, truncated to 2 places (99.999%
      shows as 99.99, never as a misleading 100.00);
    - average_contribution: mean over ACCEPTED, half-even to cents (a derived
      statistic, not a stored amount)."""
    ps = list(participants)
    accepted = [p.contribution_amount for p in ps if p.status == "ACCEPTED"]
    total = sum(accepted, Decimal("0")).quantize(CENT)
    pct = (
        (total / amount * HUNDRED).quantize(CENT, rounding=ROUND_DOWN)
        if amount > 0
        else Decimal("0.00")
    )
    return Aggregates(
        total_funded=total,
        funding_percentage=pct,
        is_fully_funded=amount > 0 and total >= amount,
        participant_count=len(ps),
        accepted_participant_count=len(accepted),
        pending_participant_count=sum(1 for p in ps if p.status == "PENDING"),
        declined_participant_count=sum(1 for p in ps if p.status == "DECLINED"),
        average_contribution=(total / len(accepted)).quantize(CENT, rounding=ROUND_HALF_EVEN)
        if accepted
        else None,
        largest_contribution=max(accepted).quantize(CENT) if accepted else None,
        smallest_contribution=min(accepted).quantize(CENT) if accepted else None,
    )


def of_loan(loan: Loan) -> Aggregates:
    return Aggregates(**{f: getattr(loan, f) for f in Aggregates.FIELDS})


def normalized(agg: Aggregates) -> dict[str, object]:
    """Comparable form (Decimals as strings at fixed scale, counts as int)."""
    out: dict[str, object] = {}
    for f in Aggregates.FIELDS:
        v = getattr(agg, f)
        if isinstance(v, Decimal):
            v = str(v.quantize(CENT))
        elif isinstance(v, bool) or v is None:
            pass
        else:
            v = int(v)
        out[f] = v
    return out


def apply(loan: Loan, agg: Aggregates) -> bool:
    """Write `agg` into `loan`; True when a funding field changed."""
    changed = normalized(of_loan(loan)) != normalized(agg)
    for f in Aggregates.FIELDS:
        setattr(loan, f, getattr(agg, f))
    return changed


def metric_point(loan: Loan, *, at: datetime, sk: str, event: str) -> LoanMetric:
    return LoanMetric(
        loan_id=loan.loan_id,
        sk=sk,
        timestamp=at,
        event=event,
        total_funded=loan.total_funded,
        funding_percentage=loan.funding_percentage,
        participant_count=loan.participant_count,
        accepted_participant_count=loan.accepted_participant_count,
    )


def loan_summary(loan: Loan) -> dict[str, object]:
    """The loan state an event carries (audit `context["loan"]`)."""
    return {
        "status": loan.status,
        "version": int(loan.version),
        "total_funded": str(loan.total_funded),
        "funding_percentage": str(loan.funding_percentage),
        "participant_count": int(loan.participant_count),
        "accepted_participant_count": int(loan.accepted_participant_count),
        "pending_participant_count": int(loan.pending_participant_count),
        "is_fully_funded": bool(loan.is_fully_funded),
    }
