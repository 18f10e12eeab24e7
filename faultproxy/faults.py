"""Fault rules and the responses they produce, from DynamoDB's documented JSON
protocol (awsJson1_0): a request is `POST /` with `X-Amz-Target:
DynamoDB_20120810.<Operation>` (or `DynamoDBStreams_20120810.<Operation>`) and
a JSON body; an error is an HTTP 400 (client/throttling) or 500 (server) with a
body `{"__type": "com.amazonaws.dynamodb.v20120810#<Code>", "message": ...}`.
`TransactionCanceledException` carries `CancellationReasons`, one per item of
the request, in request order (`{"Code": "None"}` for items that were fine).
`BatchGetItem` answers keys it did not read in `UnprocessedKeys` (the same
shape as `RequestItems`). `GetRecords` may return fewer records than exist
(its `Limit`) with a `NextShardIterator` after the last one returned.

Nothing here knows about the application: only the wire protocol.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"

# kind -> (HTTP status, __type code, message) for the plain error kinds.
ERRORS: dict[str, tuple[int, str, str]] = {
    "throttling": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "provisioned_throughput": (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API.",
    ),
    "request_limit": (
        400,
        "RequestLimitExceeded",
        "Throughput exceeds the current throughput limit for your account. "
        "Please contact AWS Support at https://aws.amazon.com/support request a limit increase",
    ),
    "internal_error": (500, "InternalServerError", "Internal server error"),
    "expired_iterator": (
        400,
        "ExpiredIteratorException",
        "Iterator expired. The iterator was created more than 15 minutes ago.",
    ),
}

# Kinds that only make sense on some operations (a rule for "*" skips the others).
APPLIES_TO: dict[str, frozenset[str]] = {
    "transaction_conflict": frozenset({"TransactWriteItems", "TransactGetItems"}),
    "unprocessed_keys": frozenset({"BatchGetItem"}),
    "partial_records": frozenset({"GetRecords"}),
    "expired_iterator": frozenset({"GetRecords"}),
}

# Faults of the network, not of DynamoDB's answer: they can hit any request.
NETWORK_KINDS = frozenset({"latency", "slow", "drop", "drop_after"})

KINDS = frozenset(
    set(ERRORS)
    | {
        "transaction_conflict",
        "unprocessed_keys",
        "partial_records",
        "latency",
        "slow",
        "drop",
        "drop_after",
    }
)


@dataclass
class Rule:
    """Inject `kind` on requests whose operation is in `targets` ("*" = any).

    When: with `probability` (0..1) per matching request, or on the `first` N
    matching requests, or on `every` N-th one; at most `max` times in all.
    `delay`: seconds for `latency` (before forwarding) and `slow` (after
    forwarding: the change is applied, the answer comes late). `keep`: what a
    partial answer keeps: for BatchGetItem the fraction of each table's keys
    (rounded down: with one key, everything is unprocessed); for GetRecords a
    fraction of the request's Limit, or (>= 1) a number of records."""

    kind: str
    targets: tuple[str, ...] = ("*",)
    probability: float | None = None
    first: int | None = None
    every: int | None = None
    max: int | None = None
    delay: float = 0.0
    keep: float = 0.5
    seen: int = 0
    fired: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        kind = d["kind"]
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {sorted(KINDS)})")
        targets = d.get("targets", d.get("target", "*"))
        if isinstance(targets, str):
            targets = [targets]
        rule = cls(
            kind=kind,
            targets=tuple(targets),
            probability=d.get("probability"),
            first=d.get("first"),
            every=d.get("every"),
            max=d.get("max"),
            delay=float(d.get("delay", 0.0)),
            keep=float(d.get("keep", 0.5)),
        )
        if rule.probability is None and rule.first is None and rule.every is None:
            rule.probability = 1.0
        return rule

    def matches(self, operation: str) -> bool:
        if "*" not in self.targets and operation not in self.targets:
            return False
        allowed = APPLIES_TO.get(self.kind)
        return allowed is None or operation in allowed

    def fires(self, rng: random.Random) -> bool:
        """Called once per matching request (under the plan's lock)."""
        self.seen += 1
        if self.max is not None and self.fired >= self.max:
            return False
        if self.first is not None:
            hit = self.seen <= self.first
        elif self.every is not None:
            hit = self.seen % self.every == 0
        else:
            hit = rng.random() < (self.probability or 0.0)
        if hit:
            self.fired += 1
        return hit


@dataclass
class Plan:
    """The rules in force and what was injected (thread-safe)."""

    rules: list[Rule] = field(default_factory=list)
    seed: int | None = None
    requests: Counter[str] = field(default_factory=Counter)
    injected: Counter[tuple[str, str]] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def set_rules(self, rules: list[dict[str, Any]], seed: int | None = None) -> None:
        parsed = [Rule.from_dict(r) for r in rules]
        with self.lock:
            self.rules = parsed
            if seed is not None:
                self.rng = random.Random(seed)

    def reset(self) -> None:
        with self.lock:
            self.rules = []
            self.requests.clear()
            self.injected.clear()

    def choose(self, operation: str, *, network_only: bool = False) -> Rule | None:
        """The first rule that fires for this request (and count it).
        `network_only`: only network faults may hit it (see NETWORK_KINDS)."""
        with self.lock:
            self.requests[operation] += 1
            for rule in self.rules:
                if network_only and rule.kind not in NETWORK_KINDS:
                    continue
                if rule.matches(operation) and rule.fires(self.rng):
                    self.injected[(rule.kind, operation)] += 1
                    return rule
        return None

    def stats(self) -> dict[str, Any]:
        with self.lock:
            by_kind: dict[str, dict[str, int]] = {}
            for (kind, op), n in sorted(self.injected.items()):
                by_kind.setdefault(kind, {})[op] = n
            return {
                "requests": dict(self.requests),
                "requests_total": sum(self.requests.values()),
                "injected": by_kind,
                "injected_total": sum(self.injected.values()),
            }

    def injected_count(self, kind: str | None = None, operation: str | None = None) -> int:
        with self.lock:
            return sum(
                n
                for (k, op), n in self.injected.items()
                if (kind is None or k == kind) and (operation is None or op == operation)
            )


# ---------------------------------------------------------------- shapes
def error_body(code: str, message: str) -> dict[str, Any]:
    return {"__type": ERROR_PREFIX + code, "message": message}


def transaction_conflict(request: dict[str, Any]) -> dict[str, Any]:
    """TransactionCanceledException: one reason per item; the last item conflicts."""
    items = request.get("TransactItems") or []
    n = max(len(items), 1)
    reasons: list[dict[str, Any]] = [{"Code": "None"} for _ in range(n)]
    reasons[-1] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    codes = ", ".join(r["Code"] for r in reasons)
    body = error_body(
        "TransactionCanceledException",
        f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
    )
    body["CancellationReasons"] = reasons
    return body


def split_batch_get(request: dict[str, Any], keep: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the request to forward with fewer keys, the UnprocessedKeys to add).
    Tables whose keys are all withheld are left out of the forwarded request;
    when nothing is left to forward the first returned dict is empty."""
    forward: dict[str, Any] = {}
    unprocessed: dict[str, Any] = {}
    for table, spec in (request.get("RequestItems") or {}).items():
        keys = list(spec.get("Keys") or [])
        n_keep = int(len(keys) * keep)
        kept, held = keys[:n_keep], keys[n_keep:]
        if kept:
            forward[table] = {**spec, "Keys": kept}
        if held:
            unprocessed[table] = {**spec, "Keys": held}
    out = dict(request)
    if forward:
        out["RequestItems"] = forward
        return out, unprocessed
    return {}, unprocessed


def partial_records(request: dict[str, Any], keep: float) -> dict[str, Any]:
    """GetRecords with a smaller Limit: DynamoDB then returns a true prefix of
    the records and a NextShardIterator after the last one."""
    limit = int(request.get("Limit") or 1000)
    n = int(keep) if keep >= 1 else int(limit * keep)
    return {**request, "Limit": max(1, min(limit, n))}
