"""Resumable `fundingProgress` (docs/subscriptions.md, "Resuming").

Every FundingUpdate carries `cursor`: a signed, loan-bound, expiring token of
its position in the loan's commit order (`loan_seq`, index in the
transaction). `fundingProgress(loanId:, after:)` wraps the live subscription
(resolvers/subscriptions.py):

1. the live generator subscribes to the broker, reads the loan (its `seq` S),
   checks access and yields the current state, which we hold back;
2. we replay, from the audit trail, every event of the loan after the cursor
   and up to S, in commit order (the same events the broker carries, built the
   same way);
3. then pass on the live generator's updates, which start after S (the broker
   subscription skips everything up to S).

So there is no gap (everything up to S comes from the trail, everything after
from the broker, which subscribed before S was read) and no duplicate (the
trail stops at S, the broker starts after it), on any replica, across
restarts: the cursor holds the position, not the server."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any

from core.cursors import decode_cursor, encode_cursor, fingerprint
from core.db import run_db
from core.errors import BadUserInput
from core.ids import expect_global_id
from core.settings import Settings
from events.types import DomainEvent
from models import AuditEntry
from resolvers.context import Info
from services.chain import commit_key

# How long to wait for the audit GSI to show entries up to the loan's seq
# (it is eventually consistent in AWS; DynamoDB Local is immediate).
GSI_WAIT_SECONDS = 5.0


def _fp(loan_id: str) -> str:
    return fingerprint("fundingProgress", loan_id)


def encode(settings: Settings, loan_id: str, seq: int, idx: int) -> str:
    return encode_cursor(
        {"s": int(seq), "i": int(idx)},
        _fp(loan_id),
        settings.signing_secret,
        settings.cursor_ttl_seconds,
    )


def decode(settings: Settings, loan_id: str, cursor: str) -> tuple[int, int]:
    key = decode_cursor(cursor, _fp(loan_id), settings.signing_secret, "after")
    try:
        return int(key["s"]), int(key["i"])
    except (KeyError, TypeError, ValueError):
        raise BadUserInput("Invalid cursor in `after`", argument="after") from None


def replay_events(loan_id: str, after: tuple[int, int], upto_seq: int) -> list[DomainEvent]:
    """Blocking: the loan's events after `after` up to `upto_seq`, in commit order."""
    deadline = time.monotonic() + GSI_WAIT_SECONDS
    while True:
        entries = list(AuditEntry.by_loan.query(loan_id))
        keys = [commit_key(e) for e in entries]
        newest = max((k[0] for k in keys), default=0)
        if newest >= upto_seq or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    out: list[DomainEvent] = []
    for e in sorted(entries, key=commit_key):
        seq, idx = commit_key(e)[:2]
        if (seq, idx) <= after or seq > upto_seq:
            continue
        event = DomainEvent.from_audit_entry(e)
        if event is not None:
            out.append(event)
    return out


def resumable(
    info: Info, loan_global_id: str, after: str | None, live: AsyncGenerator[Any, None]
) -> AsyncGenerator[Any, None]:
    """`live` itself without a cursor (no generator in between: every update of
    every subscriber passes through here), else the replay, then `live`."""
    if after is None:
        return live
    return _resume(info, loan_global_id, after, live)


async def _resume(
    info: Info, loan_global_id: str, after: str, live: AsyncGenerator[Any, None]
) -> AsyncGenerator[Any, None]:
    ctx = info.context
    loan_id = expect_global_id(loan_global_id, "Loan")
    try:
        position = decode(ctx.settings, loan_id, after)
        current = await live.__anext__()  # subscribed, access checked, state at seq S
    except StopAsyncIteration:
        return
    except BaseException:
        await live.aclose()
        raise
    try:
        from resolvers.subscriptions import _from_event

        last = current
        for event in await run_db(replay_events, loan_id, position, int(current._seq)):
            last = _from_event(event, loan_id, last)
            yield last
            if event.type == "LOAN_DELETED":
                return
        async for update in live:
            yield update
    finally:
        await live.aclose()
