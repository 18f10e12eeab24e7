"""Shared types: the Node interface, PageInfo, UserError, enums and pagination arguments."""

from __future__ import annotations

import enum
from typing import Annotated, cast

import strawberry

from core.errors import DomainError
from core.pagination import Page, PageArgs


def enum_value(value: str, description: str) -> str:
    """`strawberry.enum_value`, typed as the value it stands for: `@strawberry.enum`
    swaps each definition for its value, so `Member.value` is that str."""
    return cast(str, strawberry.enum_value(value, description=description))


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    # A resolver, not a dataclass field: every implementer computes its id from
    # its record, so none takes an `id` argument.
    @strawberry.field(
        description='Global, opaque Relay id, e.g. "TG9hbjo3ZjFkLi4u" (base64 of "Loan:<uuid>").'
    )
    def id(self) -> strawberry.ID:
        raise NotImplementedError


@strawberry.type(description="Where a page of a connection sits in the whole list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="True when more items follow `endCursor`.")
    has_previous_page: bool = strawberry.field(description="True when items precede `startCursor`.")
    start_cursor: str | None = strawberry.field(
        description="Cursor of the first edge; null when the page is empty (nothing to point at)."
    )
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last edge; null when the page is empty."
    )

    @classmethod
    def of(cls, page: Page) -> PageInfo:
        return cls(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=page.start_cursor,
            end_cursor=page.end_cursor,
        )


@strawberry.enum(description="Lifecycle of a loan.")
class LoanStatus(enum.Enum):
    PENDING = enum_value("PENDING", description="Open for invitations and acceptances.")
    FUNDED = enum_value("FUNDED", description="Fully funded (set automatically).")
    ACTIVE = enum_value("ACTIVE", description="Disbursed and being repaid.")
    COMPLETED = enum_value("COMPLETED", description="Repaid in full.")
    CANCELLED = enum_value("CANCELLED", description="Called off before activation.")


@strawberry.enum(description="Where an invited lender stands.")
class ParticipantStatus(enum.Enum):
    PENDING = enum_value("PENDING", description="Invited, no answer yet.")
    ACCEPTED = enum_value("ACCEPTED", description="Accepted; the contribution counts.")
    DECLINED = enum_value("DECLINED", description="Declined the invitation.")


@strawberry.enum(description="Kind of change an audit entry records.")
class AuditAction(enum.Enum):
    CREATE = enum_value("CREATE", description="The record was created.")
    UPDATE = enum_value("UPDATE", description="The record was changed.")
    DELETE = enum_value("DELETE", description="The record was soft-deleted.")
    RESTORE = enum_value("RESTORE", description="A soft-deleted record was restored.")


@strawberry.enum(description='Event types; on the wire lower-cased with a dot, e.g. "loan.funded".')
class WebhookEvent(enum.Enum):
    LOAN_CREATED = enum_value("LOAN_CREATED", description="A loan was created.")
    LOAN_UPDATED = enum_value("LOAN_UPDATED", description="A loan's terms or status changed.")
    LOAN_FUNDED = enum_value("LOAN_FUNDED", description="A loan became fully funded.")
    LOAN_DELETED = enum_value("LOAN_DELETED", description="A loan was soft-deleted.")
    LOAN_RESTORED = enum_value("LOAN_RESTORED", description="A loan was restored.")
    PARTICIPANT_INVITED = enum_value("PARTICIPANT_INVITED", description="A lender was invited.")
    PARTICIPANT_ACCEPTED = enum_value("PARTICIPANT_ACCEPTED", description="A lender accepted.")
    PARTICIPANT_DECLINED = enum_value("PARTICIPANT_DECLINED", description="A lender declined.")
    PARTICIPANT_REMOVED = enum_value(
        "PARTICIPANT_REMOVED", description="A participant was removed by the borrower."
    )


@strawberry.enum(description="Machine-readable reason of a payload `UserError`.")
class UserErrorCode(enum.Enum):
    VALIDATION = enum_value("VALIDATION", description="An input value is not acceptable.")
    NOT_FOUND = enum_value(
        "NOT_FOUND", description="The record does not exist or is not visible to you."
    )
    CONFLICT = enum_value("CONFLICT", description="A concurrent change got there first.")
    VERSION_MISMATCH = enum_value(
        "VERSION_MISMATCH", description="`expectedVersion` is not the current version."
    )
    OVERFUNDED = enum_value(
        "OVERFUNDED", description="The contribution would take funding past the loan amount."
    )
    DUPLICATE_PARTICIPANT = enum_value(
        "DUPLICATE_PARTICIPANT", description="This email is already a live participant of the loan."
    )
    INVALID_STATE = enum_value(
        "INVALID_STATE", description="Not allowed in the record's current status."
    )
    TERMS_CHANGED = enum_value(
        "TERMS_CHANGED", description="The loan's terms moved on since `expectedLoanVersion`."
    )
    FORBIDDEN = enum_value("FORBIDDEN", description="You may not make this change.")


@strawberry.type(description="A business or validation problem with a mutation's input.")
class UserError:
    field: list[str] | None = strawberry.field(
        description='Path into the input, e.g. ["input", "invites", "2", "email"].'
    )
    code: UserErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable explanation.")

    @classmethod
    def of(cls, error: DomainError) -> UserError:
        return cls(field=error.field, code=UserErrorCode[error.code], message=error.message)


First = Annotated[
    int | None,
    strawberry.argument(description="Page forward: how many items (1..100; default 20)."),
]
After = Annotated[
    str | None,
    strawberry.argument(
        description="Opaque cursor (`endCursor` of the previous page) to start after."
    ),
]
Last = Annotated[
    int | None, strawberry.argument(description="Page backward: how many items (1..100).")
]
Before = Annotated[
    str | None,
    strawberry.argument(
        description="Opaque cursor (`startCursor` of the next page) to end before."
    ),
]


def page_args(
    first: int | None, after: str | None, last: int | None, before: str | None
) -> PageArgs:
    return PageArgs(first=first, after=after, last=last, before=before).validate()
