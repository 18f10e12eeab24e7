"""The root schema: Query, Mutation, Subscription composed from the domain modules."""

from __future__ import annotations

from functools import lru_cache

import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig

from guards.extension import QueryGuards
from guards.limits import DEFAULT_LIMITS
from schema.audit import AuditEntry
from schema.errors import ErrorBoundary
from schema.event_memo import SharedEventExecutionContext
from schema.loans import Loan
from schema.mutations import Mutation
from schema.participants import Participant
from schema.query import Query
from schema.scalars import SCALAR_MAP
from schema.subscriptions import Subscription
from schema.users import User
from schema.validation import ValidationByText
from schema.versions import LoanVersion
from schema.webhooks import Webhook

NODE_TYPES = [User, Loan, Participant, LoanVersion, AuditEntry, Webhook]

# Extensions added by other layers (cost analysis, limits, metrics), in order.
EXTRA_EXTENSIONS: list[type[SchemaExtension]] = [QueryGuards]


def build_schema(extensions: list[type[SchemaExtension]] | None = None) -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        config=StrawberryConfig(
            scalar_map=SCALAR_MAP,
            batching_config={"max_operations": DEFAULT_LIMITS.max_batch_operations},
        ),
        extensions=[*(extensions or EXTRA_EXTENSIONS), ValidationByText, ErrorBoundary],
        # Subscription events executed once per event and payload shape.
        execution_context_class=SharedEventExecutionContext,
    )


@lru_cache(maxsize=1)
def default_schema() -> strawberry.Schema:
    return build_schema()


def print_sdl() -> str:
    return default_schema().as_str() + "\n"
