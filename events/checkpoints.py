"""The stream's infrastructure state in the `StreamCheckpoint` table: each
shard's checkpoint (the last handled sequence number, written by
`events.stream.StreamTailer`) and the dispatcher's lease (`StreamLease`, one
tailer per deployment).

Neither is business data nor audited: a lost checkpoint only replays events
(consumers de-duplicate by event id), and a lease runs out by itself. This is
one of the named infrastructure writers of docs/architecture.md.

`load` and `save` are blocking: call them through `core.db.run_db`."""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import DeleteError, PutError, UpdateError

from core import db
from models import StreamCheckpoint

log = logging.getLogger("loangraph.events.stream")

LEASE_KEY = "__dispatcher_lease__"


def utcnow() -> datetime:
    return datetime.now(UTC)


def load(stream_arn: str) -> list[StreamCheckpoint]:
    """The checkpoints of every shard of `stream_arn` (consistent read)."""
    return [
        c
        for c in StreamCheckpoint.scan(consistent_read=True)
        if c.stream_arn == stream_arn and c.shard_id != LEASE_KEY
    ]


def save(*, stream_arn: str, shard_id: str, sequence_number: str | None, finished: bool) -> None:
    """Record a shard's position (raises PutError, ClientError, BotoCoreError)."""
    StreamCheckpoint(
        shard_id=shard_id,
        stream_arn=stream_arn,
        sequence_number=sequence_number,
        finished=1 if finished else 0,
        updated_at=utcnow(),
    ).save()


class StreamLease:
    """One tailer per deployment: a lease item in the checkpoint table, taken
    with a conditional write when free or expired, renewed every `ttl/3`."""

    def __init__(self, owner: str, ttl: float = 15.0) -> None:
        self.owner = owner
        self.ttl = ttl
        self.held_until: datetime | None = None

    def _try(self) -> bool:
        now = utcnow()
        until = now + timedelta(seconds=self.ttl)
        item = StreamCheckpoint(
            shard_id=LEASE_KEY,
            stream_arn="lease",
            owner=self.owner,
            lease_until=until,
            updated_at=now,
        )
        try:
            item.save(
                condition=StreamCheckpoint.shard_id.does_not_exist()
                | (StreamCheckpoint.owner == self.owner)
                | (StreamCheckpoint.lease_until < now)
            )
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException":
                self.held_until = None
                return False
            raise
        self.held_until = until
        return True

    async def acquire(self) -> bool:
        """True when this process holds the lease (taken or renewed)."""
        try:
            return await db.run_db(self._try)
        except (PutError, ClientError, BotoCoreError) as exc:
            log.warning("lease write failed: %s", exc)
            # Transient error: still ours until it runs out.
            return self.held_until is not None and utcnow() < self.held_until - timedelta(seconds=1)

    async def release(self) -> None:
        def _release() -> None:
            item = StreamCheckpoint(shard_id=LEASE_KEY, stream_arn="lease", updated_at=utcnow())
            with contextlib.suppress(DeleteError, UpdateError):
                item.delete(condition=StreamCheckpoint.owner == self.owner)

        self.held_until = None
        try:
            await db.run_db(_release)
        except Exception as exc:  # best effort: the lease runs out anyway
            log.info("lease release failed: %s", exc)


__all__ = ["LEASE_KEY", "StreamLease", "load", "save"]
