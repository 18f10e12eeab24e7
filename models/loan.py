"""Loans: terms, status, the history version, funding aggregates, audit fields."""

from __future__ import annotations

from decimal import Decimal

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from models.attributes import DecimalAttribute
from models.base import AuditedMixin, register

# Every loan carries this constant in `kind`: the admin listing of all loans
# pages through one GSI partition ordered by creation. Loan creation in a
# private marketplace is far below a partition's 1,000 writes/s.
LOAN_KIND = "LOAN"


class LoansByBorrowerIndex(GlobalSecondaryIndex["Loan"]):
    class Meta:
        index_name = "borrower-created-index"
        projection = AllProjection()

    borrower_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class LoansByStatusIndex(GlobalSecondaryIndex["Loan"]):
    class Meta:
        index_name = "status-created-index"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class LoansByKindIndex(GlobalSecondaryIndex["Loan"]):
    class Meta:
        index_name = "kind-created-index"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


@register
class Loan(AuditedMixin, Model):
    class Meta:
        table_name = "loans"

    loan_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default=LOAN_KIND)
    borrower_id = UnicodeAttribute()
    title = UnicodeAttribute()
    amount = DecimalAttribute()
    currency = UnicodeAttribute(default="USD")
    interest_rate = DecimalAttribute()
    term_months = NumberAttribute()
    status = UnicodeAttribute(default="PENDING")
    # `version` (from AuditedMixin) is the newest LoanVersion number: it moves
    # with terms, status, deletion and restoration, never with funding.
    # `seq` counts every write to the loan item (terms, status, funding, delete,
    # restore). Each write is conditioned on the seq it read, so two concurrent
    # writers can never both win, and events about one loan carry it so
    # subscribers can apply them in commit order.
    seq = NumberAttribute(default=0)

    total_funded = DecimalAttribute(default=Decimal)
    funding_percentage = DecimalAttribute(default=Decimal)
    is_fully_funded = BooleanAttribute(default=False)
    participant_count = NumberAttribute(default=0)
    accepted_participant_count = NumberAttribute(default=0)
    pending_participant_count = NumberAttribute(default=0)
    declined_participant_count = NumberAttribute(default=0)
    average_contribution = DecimalAttribute(null=True)
    largest_contribution = DecimalAttribute(null=True)
    smallest_contribution = DecimalAttribute(null=True)
    last_funding_update = UTCDateTimeAttribute(null=True)
    # Set on the participants a loan deletion cascaded to, so a restore brings
    # back exactly those and not ones removed before.
    deletion_id = UnicodeAttribute(null=True)
    # Hash of the newest audit entry of the loan and its participants (the head
    # of its audit chain), written in the same transaction as that entry under
    # the `seq` condition, so the chain cannot fork (services/chain.py).
    audit_head = UnicodeAttribute(null=True)

    by_borrower = LoansByBorrowerIndex()
    by_status = LoansByStatusIndex()
    by_kind = LoansByKindIndex()
