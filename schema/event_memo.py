"""One execution per event and payload shape for subscriptions.

Every subscriber of a loan on this process gets the same `FundingUpdate` object
for an event (resolvers/subscriptions.py, `_from_event`). Executing the
subscription's selection set on it gives the same result for every subscriber
who sent the same document, operation name and variables, as long as that
selection reads only the update's own values: those are the loan's aggregates,
which every party allowed to watch the loan may see (docs/security.md).
So the first subscriber's `ExecutionResult` is kept (briefly) and handed to the
others; `JSON_CACHE` then lets the socket layer encode its payload once
(web/sockets.py).

Selections with anything else (`loan`, which is read fresh with the access of
the subscriber resolving it, fragments, directives, unknown fields) are
executed per subscriber as before, and so is any result with errors.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import weakref
from functools import partial
from typing import Any

from cachetools import TTLCache
from graphql import FieldNode, OperationDefinitionNode
from graphql.pyutils import gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers
from prometheus_client import Counter
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# Fields of FundingUpdate whose value is the same for every subscriber.
SHARED_FIELDS = frozenset(
    {
        "__typename",
        "loanId",
        "event",
        "totalFunded",
        "fundingPercentage",
        "participantCount",
        "acceptedParticipantCount",
        "isFullyFunded",
        "status",
        "version",
        "at",
        "cursor",
    }
)
SHARED_ROOTS = frozenset({"fundingProgress"})

SHARED_RESULTS: Any = Counter(
    "loangraph_subscription_shared_results",
    "Subscription updates served from an execution shared with other subscribers of the event",
)

# (update key, shape key) -> ExecutionResult; and id(data) -> (data, JSON of {"data": data}).
_RESULTS: TTLCache[tuple[Any, Any], Any] = TTLCache(maxsize=8192, ttl=30)
JSON_CACHE: TTLCache[int, tuple[Any, str | None]] = TTLCache(maxsize=8192, ttl=30)


def shape_key(schema: Any, operation: OperationDefinitionNode, variables: Any) -> Any:
    """A key for the operation when every field it selects is shared, else None."""
    if len(operation.selection_set.selections) != 1:
        return None
    root = operation.selection_set.selections[0]
    if not isinstance(root, FieldNode) or root.name.value not in SHARED_ROOTS or root.directives:
        return None
    if root.selection_set is None:
        return None
    for node in root.selection_set.selections:
        if not isinstance(node, FieldNode) or node.directives or node.selection_set:
            return None
        if node.name.value not in SHARED_FIELDS or node.arguments:
            return None
    if operation.loc is None:
        return None
    frozen = _frozen(variables or {})
    if frozen is None:
        return None
    text = operation.loc.source.body[operation.loc.start : operation.loc.end]
    # The schema object itself, not id(schema): ids are reused once an object
    # is collected (the entry keeps its schema alive for its 30 s).
    return (schema, text, frozen)


_PLAIN = (str, int, float, bool, type(None))


def _frozen(variables: Any) -> Any:
    """A hashable copy of the variables: a tuple for plain values (every
    subscriber computes it once), JSON for anything nested."""
    if isinstance(variables, dict) and all(isinstance(v, _PLAIN) for v in variables.values()):
        return tuple(sorted((k, type(v).__name__, v) for k, v in variables.items()))
    try:
        return json.dumps(variables, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return None


class _Memoized:
    """Stands in for a per-event executor: the shared result, or builds the
    executor (graphql-core copies itself for each event), executes and keeps it.
    A subscriber served from the shared result costs no copy."""

    __slots__ = ("_build", "_payload", "_key")

    def __init__(self, build: Any, payload: Any, key: tuple[Any, Any]) -> None:
        self._build = build
        self._payload = payload
        self._key = key

    def execute_operation(self, *args: Any) -> Any:
        found = _RESULTS.get(self._key)
        if found is not None:
            SHARED_RESULTS.inc()
            return found
        executor = self._build(self._payload)
        result = executor.execute_operation(*args)
        if executor.is_awaitable(result):
            return self._keep_async(result)
        return self._keep(result)

    async def _keep_async(self, pending: Any) -> Any:
        return self._keep(await pending)

    def _keep(self, result: Any) -> Any:
        if not result.errors and _RESULTS.get(self._key) is None:
            _RESULTS[self._key] = result
            JSON_CACHE[id(result.data)] = (result.data, None)
        return _RESULTS.get(self._key, result)


def _gather(ref: weakref.ref[Any], values: Any) -> Any:
    executor = ref()
    return gather_with_cancel(*values) if executor is None else executor.gather_async_work(values)


def _track(ref: weakref.ref[Any], values: Any) -> None:
    executor = ref()
    if executor is not None:
        executor.track_async_work(values)
        return
    # The execution is over (a resolver's leftover work): settle it so its errors are observed.
    pending = [v for v in values if inspect.isawaitable(v)]
    if pending:
        future = asyncio.gather(*pending, return_exceptions=True)
        _SETTLING.add(future)
        future.add_done_callback(_SETTLING.discard)


_SETTLING: set[Any] = set()


class SharedEventExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's execution context, with subscription events shared as above,
    and without graphql-core's reference cycle per execution."""

    _shape: Any = None
    _shape_known = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core's executor keeps its own bound methods in `async_helpers`
        # (handed to every GraphQLResolveInfo): a cycle that only the garbage
        # collector frees, with everything the execution touched (its field
        # plans, futures, the request's context and loaders: ~260 objects per
        # loan page). Those young collections cost a cached loan page ~6 % of
        # its CPU, and the full ones paused the process for 60-90 ms every
        # ~1,500 pages (docs/PERFORMANCE.md, section 6). Referred to weakly, the
        # executor is freed by reference counting when the request ends.
        ref = weakref.ref(self)
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=partial(_gather, ref), track=partial(_track, ref)
        )

    def build_per_event_executor(self, payload: Any) -> Any:
        update_key = getattr(payload, "_key", None)
        if update_key is not None:
            if not self._shape_known:
                self._shape = shape_key(self.schema, self.operation, self.variable_values)
                self._shape_known = True
            if self._shape is not None:
                build = super().build_per_event_executor
                return _Memoized(build, payload, (update_key, self._shape))
        return super().build_per_event_executor(payload)
