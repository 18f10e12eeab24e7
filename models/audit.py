"""The audit log: one Query per record's history; also the event log (its stream)."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from models.attributes import JSONTextAttribute, string_list
from models.base import register

# Constant partition of the admin-wide feed index (see AuditFeedIndex).
AUDIT_FEED = "ALL"

# The domain events an entry may name (`AuditEntry.event`; `WebhookEvent` in the
# API, `events.types.DomainEvent.type`). Defined here, below every layer that
# needs it: services validate webhook subscriptions against it without importing
# events/.
EVENT_TYPES = (
    "LOAN_CREATED",
    "LOAN_UPDATED",
    "LOAN_FUNDED",
    "LOAN_DELETED",
    "LOAN_RESTORED",
    "PARTICIPANT_INVITED",
    "PARTICIPANT_ACCEPTED",
    "PARTICIPANT_DECLINED",
    "PARTICIPANT_REMOVED",
)


class AuditByActorIndex(GlobalSecondaryIndex["AuditEntry"]):
    class Meta:
        index_name = "actor-sk-index"
        projection = AllProjection()

    actor_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditFeedIndex(GlobalSecondaryIndex["AuditEntry"]):
    """Every entry in time order, for the admins' `auditLog` without a record or
    actor filter. One partition: fine for a marketplace's write rate (well under
    1,000 changes/s); shard the key by month if that ever stops being true."""

    class Meta:
        index_name = "feed-sk-index"
        projection = AllProjection()

    feed = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AuditByLoanIndex(GlobalSecondaryIndex["AuditEntry"]):
    """A loan's whole trail (the loan and its participants) in one Query."""

    class Meta:
        index_name = "loan-sk-index"
        projection = AllProjection()

    loan_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


def record_key(table: str, record_id: str) -> str:
    return f"{table}#{record_id}"


@register
class AuditEntry(Model):
    class Meta:
        table_name = "audit_log"
        stream_view_type = "NEW_IMAGE"

    record_key = UnicodeAttribute(hash_key=True)  # "loans#<id>", "participants#<loan>/<pid>"
    sk = UnicodeAttribute(range_key=True)  # "<timestamp>#<audit_id>"
    audit_id = UnicodeAttribute()
    timestamp = UTCDateTimeAttribute()
    table_name = UnicodeAttribute()
    record_id = UnicodeAttribute()
    action = UnicodeAttribute()  # CREATE UPDATE DELETE RESTORE
    # The domain event this change is (WebhookEvent name, e.g. PARTICIPANT_ACCEPTED).
    event = UnicodeAttribute(null=True)
    loan_id = UnicodeAttribute(null=True)  # the loan this change belongs to
    actor_id = UnicodeAttribute(null=True)
    before = JSONTextAttribute(null=True)
    after = JSONTextAttribute(null=True)
    changed_fields = string_list(default=list)
    ip_address = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    request_id = UnicodeAttribute(null=True)
    feed = UnicodeAttribute(default=AUDIT_FEED)
    # Extra state the event dispatcher needs without a read, e.g. for a
    # participant change: {"loan_seq": 7, "borrower_id": ..., "loan": {funding
    # aggregates after the change}}. Every entry about a loan has "loan_seq".
    context = JSONTextAttribute(null=True)
    # The tamper-evident chain (services/chain.py, docs/evidence.md): SHA-256
    # (hex) of the entry's canonical serialization, which includes
    # `previous_hash`, the hash of the loan's entry before it (null for the first).
    hash = UnicodeAttribute(null=True)
    previous_hash = UnicodeAttribute(null=True)

    by_actor = AuditByActorIndex()
    by_loan = AuditByLoanIndex()
    feed_index = AuditFeedIndex()
