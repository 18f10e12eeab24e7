"""AuditEntry: who changed what, when, from where."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

import models
from core.ids import to_global_id
from resolvers.context import Info
from schema.common import AuditAction, Node, PageInfo
from schema.users import User, load_user


@strawberry.type(description="One committed change: before and after images, actor, origin.")
class AuditEntry(Node):
    _m: strawberry.Private[models.AuditEntry]

    @strawberry.field(description='Global id, e.g. base64 of "AuditEntry:<record key>/<sort key>".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("AuditEntry", f"{self._m.record_key}/{self._m.sk}"))

    @strawberry.field(description="The entry's uuid.")
    def audit_id(self) -> str:
        return self._m.audit_id

    @strawberry.field(description="When the change was committed.")
    def timestamp(self) -> dt.datetime:
        return self._m.timestamp

    @strawberry.field(description='Table of the changed record, e.g. "loans" or "participants".')
    def table_name(self) -> str:
        return self._m.table_name

    @strawberry.field(description="Id of the changed record (a loan or participant uuid).")
    def record_id(self) -> str:
        return self._m.record_id

    @strawberry.field(description="Kind of change.")
    def action(self) -> AuditAction:
        return AuditAction(self._m.action)

    @strawberry.field(description="Who made the change.")
    async def actor(self, info: Info) -> User | None:
        return await load_user(info, self._m.actor_id)

    @strawberry.field(description="The record before the change; null for a creation.")
    def before(self) -> JSON | None:
        return self._m.before

    @strawberry.field(description="The record after the change.")
    def after(self) -> JSON | None:
        return self._m.after

    @strawberry.field(description="Names of the fields that changed.")
    def changed_fields(self) -> list[str]:
        return list(self._m.changed_fields or [])

    def _origin_visible(self, info: Info) -> bool:
        """Request metadata identifies a person's device and session: admins and
        the entry's own actor only (docs/security.md)."""
        viewer = info.context.viewer
        return viewer is not None and (
            viewer.is_admin or (bool(self._m.actor_id) and viewer.user_id == self._m.actor_id)
        )

    @strawberry.field(
        description=(
            "Client address the change came from. Admins and the entry's actor only, else null."
        )
    )
    def ip_address(self, info: Info) -> str | None:
        return self._m.ip_address if self._origin_visible(info) else None

    @strawberry.field(
        description="Client user agent. Admins and the entry's actor only, else null."
    )
    def user_agent(self, info: Info) -> str | None:
        return self._m.user_agent if self._origin_visible(info) else None

    @strawberry.field(
        description=(
            "Request id (X-Request-ID) of the request that made the change. Admins and the "
            "entry's actor only, else null."
        )
    )
    def request_id(self, info: Info) -> str | None:
        return self._m.request_id if self._origin_visible(info) else None

    @strawberry.field(
        description="SHA-256 (lowercase hex) of the entry's canonical serialization, which "
        "includes previousHash: the entry's link in its loan's tamper-evident audit chain "
        "(docs/evidence.md). Empty only for an entry written before the chain existed and not "
        "yet backfilled (`loangraph backfill-audit-chain`)."
    )
    def hash(self) -> str:
        return self._m.hash or ""

    @strawberry.field(
        description="Hash of the loan's audit entry before this one in commit order; null for "
        "a loan's first entry and for entries that belong to no loan."
    )
    def previous_hash(self) -> str | None:
        return self._m.previous_hash


@strawberry.type(description="An audit entry in a connection.")
class AuditEntryEdge:
    cursor: str = strawberry.field(description="Opaque cursor of this edge.")
    node: AuditEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of audit entries (Relay connection), oldest first.")
class AuditEntryConnection:
    edges: list[AuditEntryEdge] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Paging information.")
