"""Webhook subscriptions and their deliveries (every attempt recorded)."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from models.attributes import JSONTextAttribute, string_list
from models.base import AuditedMixin, register


class WebhooksByOwnerIndex(GlobalSecondaryIndex["Webhook"]):
    class Meta:
        index_name = "owner-created-index"
        projection = AllProjection()

    owner_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class WebhooksByKindIndex(GlobalSecondaryIndex["Webhook"]):
    """All webhooks (constant partition): the dispatcher's list of targets."""

    class Meta:
        index_name = "kind-created-index"
        projection = AllProjection()

    kind = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


@register
class Webhook(AuditedMixin, Model):
    class Meta:
        table_name = "webhooks"

    webhook_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute(default="WEBHOOK")
    owner_id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = string_list(default=list)
    secret = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    consecutive_failures = NumberAttribute(default=0)

    by_owner = WebhooksByOwnerIndex()
    by_kind = WebhooksByKindIndex()


class DeliveryAttempt(MapAttribute):
    at = UTCDateTimeAttribute()
    status_code = NumberAttribute(null=True)
    error = UnicodeAttribute(null=True)
    duration_ms = NumberAttribute(null=True)


class DueDeliveriesIndex(GlobalSecondaryIndex["WebhookDelivery"]):
    """Sparse: only deliveries still to attempt carry `due_shard`."""

    class Meta:
        index_name = "due-index"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    next_attempt_at = UTCDateTimeAttribute(range_key=True)


@register
class WebhookDelivery(Model):
    class Meta:
        table_name = "webhook_deliveries"

    webhook_id = UnicodeAttribute(hash_key=True)
    delivery_id = UnicodeAttribute(range_key=True)  # "<event timestamp>#<event id>"
    event_id = UnicodeAttribute()
    event = UnicodeAttribute()
    payload = JSONTextAttribute()
    status = UnicodeAttribute(default="PENDING")  # PENDING DELIVERED FAILED
    attempts = NumberAttribute(default=0)
    attempt_log = ListAttribute(of=DeliveryAttempt, default=list)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    next_attempt_at = UTCDateTimeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    claimed_by = UnicodeAttribute(null=True)
    claimed_until = UTCDateTimeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    due = DueDeliveriesIndex()
