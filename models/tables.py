"""The tables of every model: pointing them at a database, creating and
deleting them. The connection and its thread pool are core's (`core.db`)."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import TableError
from pynamodb.models import Model

from core import db
from core.settings import Settings
from models.base import REGISTRY
from models.base import configure as configure_meta

log = logging.getLogger("loangraph.db")


def configure(settings: Settings) -> None:
    """Point every model at the database of `settings`, all on the one shared,
    instrumented client of `core.db.connect`."""
    conn = db.connect(settings)
    configure_meta(settings)
    client = conn.client
    for model in REGISTRY:
        model._get_connection().connection._client = client


def create_tables(settings_: Settings | None = None, *, wait: bool = True) -> list[str]:
    """Create every missing table (idempotent). Returns the names created."""
    s = settings_ or db.settings()
    created: list[str] = []
    client = db.boto_client()
    existing: set[str] = set()
    paginator = client.get_paginator("list_tables")
    for page in paginator.paginate():
        existing.update(page.get("TableNames", []))
    for model in REGISTRY:
        name = model.Meta.table_name
        if name in existing:
            continue
        try:
            model.create_table(wait=wait, billing_mode="PAY_PER_REQUEST")
        except TableError as exc:  # created by a concurrent process meanwhile
            if "ResourceInUseException" not in str(exc) and "already exists" not in str(exc):
                raise
        created.append(name)
        _enable_recovery(client, name, local=bool(s.dynamodb_endpoint))
    return created


def _enable_recovery(client: Any, name: str, *, local: bool) -> None:
    """Point-in-time recovery where the service supports it (AWS; not DynamoDB Local).
    Encryption at rest is always on in AWS DynamoDB (AWS-owned key by default)."""
    if local:
        return
    try:
        client.update_continuous_backups(
            TableName=name,
            PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
        )
    except ClientError as exc:  # pragma: no cover - depends on the service
        log.warning("point-in-time recovery not enabled on %s: %s", name, exc)


def delete_tables() -> None:
    for model in REGISTRY:
        if model.exists():
            model.delete_table()


def model_tables() -> list[type[Model]]:
    return list(REGISTRY)
