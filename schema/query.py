"""The Query root, composed from one class per domain."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.permission import BasePermission

from resolvers.context import Info
from resolvers.permissions import IsAdmin, IsAuthenticated
from schema.audit import AuditEntryConnection
from schema.common import (
    After,
    AuditAction,
    Before,
    First,
    Last,
    LoanStatus,
    Node,
    ParticipantStatus,
)
from schema.loans import Loan, LoanConnection
from schema.participants import ParticipantConnection
from schema.ratelimit import RateLimit
from schema.users import User
from schema.webhooks import WebhookConnection

AUTH: list[type[BasePermission]] = [IsAuthenticated]


@strawberry.input(description="Which loans to list.")
class LoanFilter:
    status: LoanStatus | None = strawberry.field(default=None, description="Only this status.")
    borrower_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Only this borrower's loans (a User global id); admins only, or yourself.",
    )


@strawberry.input(description="Which audit entries to list (admins).")
class AuditFilter:
    record_id: str | None = strawberry.field(
        default=None,
        description='The changed record: its global id (Loan, Participant, Webhook) or "<table>#<key>".',
    )
    actor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Who made the changes (User global id)."
    )
    action: AuditAction | None = strawberry.field(
        default=None, description="Only this kind of change."
    )
    from_: dt.datetime | None = strawberry.field(
        default=None, name="from", description='At or after, e.g. "2026-11-01T00:00:00Z".'
    )
    to: dt.datetime | None = strawberry.field(default=None, description="At or before.")


@strawberry.type
class NodeQuery:
    @strawberry.field(
        description="Any record by its global id; null when missing or not visible to you.",
        permission_classes=AUTH,
    )
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        from resolvers.node import resolve_node

        return await resolve_node(info, id)

    @strawberry.field(
        description="Several records by global id (at most 100), in order; null for each missing or hidden one.",
        permission_classes=AUTH,
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[list[strawberry.ID], strawberry.argument(description="Global ids.")],
    ) -> list[Node | None]:
        from resolvers.node import resolve_nodes

        return await resolve_nodes(info, ids)


@strawberry.type
class UserQuery:
    @strawberry.field(description="The signed-in user.", permission_classes=AUTH)
    async def viewer(self, info: Info) -> User:
        viewer = info.context.require_viewer()
        model = await info.context.loaders.user_by_id.load(viewer.user_id)
        return User.of(viewer.user_id, model)


@strawberry.type
class LoanQuery:
    @strawberry.field(
        description="A loan by global id; null when it does not exist or you may not see it (existence is not revealed).",
        permission_classes=AUTH,
    )
    async def loan(
        self,
        info: Info,
        id: Annotated[
            strawberry.ID, strawberry.argument(description='Loan global id, e.g. "TG9hbjo..."')
        ],
        include_deleted: Annotated[
            bool | None,
            strawberry.argument(description="Return it even when soft-deleted (borrower, admins)."),
        ] = False,
        as_of: Annotated[
            dt.datetime | None,
            strawberry.argument(
                description="Read the loan as it was at this instant: terms, status, version, "
                "funding, and its participants (rebuilt from the audit trail). Null before the "
                "loan existed. Who may read it is decided now."
            ),
        ] = None,
    ) -> Loan | None:
        from resolvers.loans import resolve_loan

        return await resolve_loan(info, id, bool(include_deleted), as_of)

    @strawberry.field(
        description="Loans, newest last. Admins list any; others list the loans they borrow (lenders: see myInvitations).",
        permission_classes=AUTH,
    )
    async def loans(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        filter: Annotated[LoanFilter | None, strawberry.argument(description="Filters.")] = None,
        include_deleted: Annotated[
            bool | None,
            strawberry.argument(description="Include soft-deleted loans (borrower, admins)."),
        ] = False,
    ) -> LoanConnection:
        from resolvers.loans import resolve_loans

        return await resolve_loans(
            info,
            first,
            after,
            last,
            before,
            filter.status if filter else None,
            filter.borrower_id if filter else None,
            bool(include_deleted),
        )

    @strawberry.field(
        description="Invitations sent to your email (or your account), in any or one status.",
        permission_classes=AUTH,
    )
    async def my_invitations(
        self,
        info: Info,
        status: Annotated[
            ParticipantStatus | None, strawberry.argument(description="Only this status.")
        ] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ParticipantConnection:
        from resolvers.participants import resolve_my_invitations

        return await resolve_my_invitations(info, status, first, after, last, before)


@strawberry.type
class AuditQuery:
    @strawberry.field(
        description="The audit log, oldest first (admins only).", permission_classes=[IsAdmin]
    )
    async def audit_log(
        self,
        info: Info,
        filter: Annotated[AuditFilter | None, strawberry.argument(description="Filters.")] = None,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> AuditEntryConnection:
        from resolvers.audit import resolve_audit_log

        f = filter or AuditFilter()
        return await resolve_audit_log(
            info, f.record_id, f.actor_id, f.action, f.from_, f.to, first, after, last, before
        )


@strawberry.type
class WebhookQuery:
    @strawberry.field(description="Your webhooks.", permission_classes=AUTH)
    async def webhooks(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> WebhookConnection:
        from resolvers.webhooks import resolve_webhooks

        return await resolve_webhooks(info, first, after, last, before)


@strawberry.type
class RateLimitQuery:
    @strawberry.field(
        description="Your rate-limit budget after this request.", permission_classes=AUTH
    )
    def rate_limit(self, info: Info) -> RateLimit:
        from resolvers.ratelimit import resolve_rate_limit

        return resolve_rate_limit(info)


@strawberry.type(description="Reads. Every field needs a bearer token; introspection does not.")
class Query(NodeQuery, UserQuery, LoanQuery, AuditQuery, WebhookQuery, RateLimitQuery):
    pass
