"""Participants with stable ids, and the guard items that keep (loan, email) unique."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from models.attributes import DecimalAttribute, JSONTextAttribute
from models.base import AuditedMixin, register


class ParticipantByIdIndex(GlobalSecondaryIndex["Participant"]):
    class Meta:
        index_name = "participant-id-index"
        projection = AllProjection()

    participant_id = UnicodeAttribute(hash_key=True)


class ParticipantsByEmailIndex(GlobalSecondaryIndex["Participant"]):
    class Meta:
        index_name = "lender-email-status-index"
        projection = AllProjection()

    lender_email = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(range_key=True)


class ParticipantsByLenderIndex(GlobalSecondaryIndex["Participant"]):
    """Sparse: only participants whose invitation was accepted or declined by an account."""

    class Meta:
        index_name = "lender-id-status-index"
        projection = AllProjection()

    lender_id = UnicodeAttribute(hash_key=True)
    status = UnicodeAttribute(range_key=True)


@register
class Participant(AuditedMixin, Model):
    class Meta:
        table_name = "participants"

    loan_id = UnicodeAttribute(hash_key=True)
    # Immutable uuid: never rewritten, whatever happens to the lender's account.
    participant_id = UnicodeAttribute(range_key=True)
    lender_id = UnicodeAttribute(null=True)
    lender_email = UnicodeAttribute()  # lower-cased
    contribution_amount = DecimalAttribute()
    status = UnicodeAttribute(default="PENDING")
    accepted_version = NumberAttribute(null=True)
    invited_at = UTCDateTimeAttribute()
    responded_at = UTCDateTimeAttribute(null=True)
    # The loan deletion that cascaded here (see Loan.deletion_id).
    deletion_id = UnicodeAttribute(null=True)
    # The signed acceptance receipt {payload, signature, keyId, algorithm},
    # written by the acceptance's transaction (services/receipts.py).
    receipt = JSONTextAttribute(null=True)

    by_id = ParticipantByIdIndex()
    by_email = ParticipantsByEmailIndex()
    by_lender = ParticipantsByLenderIndex()


def guard_key(loan_id: str, email: str) -> str:
    return f"{loan_id}#{email.strip().lower()}"


@register
class ParticipantGuard(Model):
    """One item per live (loan, email): written in the invitation's transaction
    with `attribute_not_exists`, deleted when the participant is removed."""

    class Meta:
        table_name = "participant_guards"

    guard_key = UnicodeAttribute(hash_key=True)
    loan_id = UnicodeAttribute()
    participant_id = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
