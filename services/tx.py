"""One change = one TransactWriteItems. `Tx` collects the actions of a change
with a label each, runs the fault-injection hooks between building and
committing, commits, and turns a cancellation into `Retry` (a lost race) or
re-raises it (a bug).

PynamoDB sends actions grouped by kind (condition checks, deletes, puts,
updates), so cancellation reasons come back in that order, not in call order.
`Tx` records the same grouping to name the failed actions, but the domain
never trusts that mapping for its answer: after a lost race it re-reads and
re-validates (see `common.with_retry`), which yields the right error code
whatever order a DynamoDB implementation reports reasons in."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from core import db
from core.retry import RETRYABLE_TX_REASONS, is_transient, retry_call
from services.common import MAX_TRANSACTION_ACTIONS, Retry

log = logging.getLogger("loangraph.services.tx")

# Fault injection: each hook is called with the built (not yet committed) `Tx`.
# A hook that raises aborts the change before anything is sent to DynamoDB.
BEFORE_COMMIT_HOOKS: list[Callable[[Tx], None]] = []
# Called after a successful commit (tests, metrics).
AFTER_COMMIT_HOOKS: list[Callable[[Tx], None]] = []

RETRYABLE_REASONS = RETRYABLE_TX_REASONS
# How long a change whose TransactWriteItems keeps failing transiently
# (throttled, 5xx, timed out, connection dropped) after botocore's own retries
# is re-sent with the same ClientRequestToken before the client gets
# SERVICE_UNAVAILABLE. Well inside the token's 10 minutes.
TX_RETRY_DEADLINE_SECONDS = 6.0
_GROUP_ORDER = ("check", "delete", "put", "update")


@dataclass
class Action:
    kind: str  # check | delete | put | update
    label: str
    model: Model | None = None
    model_cls: type[Model] | None = None
    hash_key: Any = None
    range_key: Any = None
    condition: Condition | None = None
    actions: list[Any] = field(default_factory=list)


class Tx:
    """The actions of one change, committed atomically."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.actions: list[Action] = []
        self.failed: dict[str, str] = {}

    def put(self, model: Model, condition: Condition | None = None, *, label: str) -> None:
        self.actions.append(Action("put", label, model=model, condition=condition))

    def update(
        self, model: Model, actions: list[Any], condition: Condition | None = None, *, label: str
    ) -> None:
        self.actions.append(
            Action("update", label, model=model, actions=actions, condition=condition)
        )

    def delete(self, model: Model, condition: Condition | None = None, *, label: str) -> None:
        self.actions.append(Action("delete", label, model=model, condition=condition))

    def check(
        self,
        model_cls: type[Model],
        hash_key: Any,
        range_key: Any = None,
        *,
        condition: Condition,
        label: str,
    ) -> None:
        self.actions.append(
            Action(
                "check",
                label,
                model_cls=model_cls,
                hash_key=hash_key,
                range_key=range_key,
                condition=condition,
            )
        )

    def labels(self) -> list[str]:
        return [a.label for a in self.actions]

    def models(self, cls: type[Model] | None = None) -> list[Model]:
        return [
            a.model
            for a in self.actions
            if a.model is not None and (cls is None or isinstance(a.model, cls))
        ]

    def _wire_order(self) -> list[Action]:
        return [a for kind in _GROUP_ORDER for a in self.actions if a.kind == kind]

    def commit(self) -> None:
        """Blocking: call it inside `core.db.run_db`."""
        if not self.actions:
            raise RuntimeError(f"{self.operation}: empty transaction")
        if len(self.actions) > MAX_TRANSACTION_ACTIONS:
            raise RuntimeError(
                f"{self.operation}: {len(self.actions)} actions exceed "
                f"DynamoDB's {MAX_TRANSACTION_ACTIONS}"
            )
        # One token for every attempt of this change: botocore's retries (after a
        # timeout or a dropped connection) and ours below resend the same request,
        # and DynamoDB applies a token at most once (for 10 minutes).
        token = str(uuid.uuid4())
        retry_call(
            f"tx:{self.operation}",
            lambda: self._send(token),
            deadline=TX_RETRY_DEADLINE_SECONDS,
            retry_on=_resend_same_request,
        )
        for hook in list(AFTER_COMMIT_HOOKS):
            hook(self)

    def _send(self, token: str) -> None:
        try:
            with TransactWrite(connection=db.tx_connection(), client_request_token=token) as tw:
                for a in self.actions:
                    if a.kind == "check":
                        assert a.model_cls is not None  # a check names its table
                        tw.condition_check(
                            a.model_cls, a.hash_key, a.range_key, condition=a.condition
                        )
                        continue
                    assert a.model is not None  # put, update and delete carry their record
                    if a.kind == "put":
                        tw.save(a.model, condition=a.condition)
                    elif a.kind == "update":
                        tw.update(a.model, a.actions, condition=a.condition)
                    else:
                        tw.delete(a.model, condition=a.condition)
                for hook in list(BEFORE_COMMIT_HOOKS):
                    hook(self)
        except TransactWriteError as exc:
            self._raise_for(exc)

    def _raise_for(self, exc: TransactWriteError) -> None:
        # (PynamoDB raises AttributeError here for transport errors: no response.)
        code = getattr(exc, "cause_response_code", None)
        if code == "TransactionCanceledException":
            reasons = list(exc.cancellation_reasons or [])
            order = self._wire_order()
            self.failed = {
                order[i].label: r.code
                for i, r in enumerate(reasons)
                if r is not None and i < len(order)
            }
            codes = {r.code for r in reasons if r is not None}
            if codes and codes <= RETRYABLE_REASONS:
                raise Retry(f"{self.operation}: {self.failed}") from None
            log.error("%s cancelled: %s", self.operation, self.failed or codes)
            raise exc
        # Throttling, 5xx, timeouts, dropped connections: re-sent by `commit`
        # with the same token (an earlier attempt inside botocore's retries may
        # have been applied: the token makes the resend harmless). Never rebuilt
        # with a new token: that could apply the change twice.
        raise exc


def _resend_same_request(exc: BaseException) -> bool:
    return not isinstance(exc, Retry) and is_transient(exc)
