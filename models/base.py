"""The table registry and the one place table names and endpoints are set."""

from __future__ import annotations

from typing import TypeVar

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from core.settings import Settings

M = TypeVar("M", bound=type[Model])

REGISTRY: list[type[Model]] = []


def register(model: M) -> M:
    """Class decorator: the table takes part in `configure` and `create-tables`."""
    REGISTRY.append(model)
    return model


class AuditedMixin:
    """Audit and soft-delete fields that every mutable record carries."""

    created_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    updated_by = UnicodeAttribute(null=True)
    # Optimistic lock of the record itself, checked by every write.
    version = NumberAttribute(default=1)
    deleted_at = UTCDateTimeAttribute(null=True)
    deleted_by = UnicodeAttribute(null=True)
    deletion_reason = UnicodeAttribute(null=True)


def configure(settings: Settings) -> None:
    """Point every model at its table (prefix) and endpoint; drop cached connections."""
    for model in REGISTRY:
        meta = model.Meta
        base = getattr(meta, "base_name", None)
        if base is None:
            base = meta.base_name = meta.table_name  # type: ignore[attr-defined]
        meta.table_name = settings.table_prefix + base
        meta.host = settings.dynamodb_endpoint
        meta.region = settings.aws_region
        meta.max_pool_connections = max(settings.db_threads + 8, 10)
        meta.max_retry_attempts = 3
        meta.connect_timeout_seconds = 2
        meta.read_timeout_seconds = 10
        if settings.dynamodb_endpoint:
            # DynamoDB Local accepts any credentials.
            meta.aws_access_key_id = "local"
            meta.aws_secret_access_key = "local"
        model._connection = None
