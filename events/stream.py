"""Tail the audit table's DynamoDB stream.

* Shards: discovered with DescribeStream (paginated) every `refresh_interval`
  seconds and at once when a shard closes. A child shard is read only after its
  parent is finished (or has aged out of the stream), so a record's changes
  stay in order across a split.
* Position: after each handled batch the last sequence number of the shard is
  checkpointed in `StreamCheckpoint` (`events.checkpoints`; at most every
  `checkpoint_interval` seconds, and always when a shard ends or the tailer
  stops). A restart resumes
  `AFTER_SEQUENCE_NUMBER` of the checkpoint: nothing is lost, and at most the
  batches of the last `checkpoint_interval` are handled again (consumers
  de-duplicate by event id). A shard with no checkpoint starts at
  `TRIM_HORIZON` (the oldest record still in the stream, 24 h on AWS).
* Errors: an expired iterator is re-acquired after the last handled record;
  throttling (`LimitExceededException`, ...) and connection errors back off
  exponentially with jitter; trimmed data restarts at `TRIM_HORIZON`: an
  ERROR when a checkpoint fell past the stream's retention (records in between
  are gone), INFO when the shard had no checkpoint yet (a fresh table: nothing
  was read, nothing lost; DynamoDB Local answers so on a new database). A failing handler is
  retried with back-off and the batch is never skipped (at least once).
* Lag: `lag_seconds` is how far behind the newest handled record was when it
  was handled (from `ApproximateCreationDateTime`, which DynamoDB rounds to
  the second), 0 when every shard is caught up; also the Prometheus gauge
  `loangraph_event_stream_lag_seconds`.

Every blocking botocore call runs in `core.db.run_db`'s thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.exceptions import PutError

from core import db
from core.retry import TRANSIENT_CODES, Backoff
from events import checkpoints
from events.stream_client import streams_client
from models import AuditEntry

log = logging.getLogger("loangraph.events.stream")

try:  # metrics are optional in the sense that a second registry must not crash us
    from prometheus_client import Counter, Gauge

    LAG_GAUGE: Any = Gauge(
        "loangraph_event_stream_lag_seconds",
        "Seconds the event dispatcher is behind the audit stream",
    )
    RECORDS_COUNTER: Any = Counter(
        "loangraph_event_stream_records", "Audit stream records handled by the event dispatcher"
    )
except ValueError:  # pragma: no cover - already registered (module reloaded)
    LAG_GAUGE = RECORDS_COUNTER = None
ITERATOR_RENEWALS: Any = Counter(
    "loangraph_stream_iterator_renewals",
    "Shard iterators re-acquired from the last handled position, by reason "
    "(expired, throttled, error)",
    ["reason"],
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code")
    return None


@dataclass
class ShardState:
    shard_id: str
    parent_id: str | None
    position: str | None = None  # last handled sequence number
    checkpointed: str | None = None
    finished: bool = False
    lag: float = 0.0
    last_checkpoint_at: float = field(default_factory=time.monotonic)


Handler = Callable[[list[dict[str, Any]]], Awaitable[None]]


class StreamTailer:
    """Reads every shard of the audit table's stream and hands batches of raw
    records (in shard order) to `handler`. Run with `await tailer.run()`; end
    with `tailer.stop()`. Different shards are read concurrently."""

    def __init__(
        self,
        handler: Handler,
        *,
        table_name: str | None = None,
        poll_interval: float = 0.2,
        checkpoint_interval: float = 0.5,
        refresh_interval: float = 5.0,
        initial_position: str = "TRIM_HORIZON",
        client: Any | None = None,
    ) -> None:
        self.handler = handler
        self.table_name = table_name or AuditEntry.Meta.table_name
        self.poll_interval = poll_interval
        self.checkpoint_interval = checkpoint_interval
        self.refresh_interval = refresh_interval
        self.initial_position = initial_position
        self._client = client
        self.stream_arn: str | None = None
        self.shards: dict[str, ShardState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()
        self._refresh = asyncio.Event()
        self.records_handled = 0

    # ------------------------------------------------------------ public
    @property
    def lag_seconds(self) -> float:
        live = [s.lag for s in self.shards.values() if not s.finished]
        return max(live, default=0.0)

    def stop(self) -> None:
        self._stopping.set()
        self._refresh.set()

    async def run(self) -> None:
        client = self._client = self._client or streams_client()
        self.stream_arn = await self._stream_arn()
        await self._load_checkpoints()
        backoff = Backoff(cap=10.0)
        try:
            while not self._stopping.is_set():
                try:
                    shards = await self._describe(client)
                    backoff.reset()
                except (ClientError, BotoCoreError) as exc:
                    log.warning("describe_stream failed (%s); backing off", exc)
                    await self._sleep(backoff.next())
                    continue
                self._schedule(shards)
                self._refresh.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._refresh.wait(), self.refresh_interval)
        finally:
            tasks = list(self._tasks.values())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._tasks.clear()
            await self._checkpoint_all()
            if LAG_GAUGE is not None:
                LAG_GAUGE.set(0)

    # ------------------------------------------------------------ shards
    async def _stream_arn(self) -> str:
        backoff = Backoff(cap=5.0)
        while True:
            try:
                desc = await db.run_db(db.boto_client().describe_table, TableName=self.table_name)
            except (ClientError, BotoCoreError) as exc:
                log.warning("describe_table %s failed (%s); retrying", self.table_name, exc)
                await self._sleep(backoff.next())
                if self._stopping.is_set():
                    raise asyncio.CancelledError from exc
                continue
            arn = desc["Table"].get("LatestStreamArn")
            if not arn:
                raise RuntimeError(
                    f"table {self.table_name} has no stream (create it with NEW_IMAGE)"
                )
            return arn

    async def _load_checkpoints(self) -> None:
        for cp in await db.run_db(checkpoints.load, self.stream_arn):
            self.shards[cp.shard_id] = ShardState(
                shard_id=cp.shard_id,
                parent_id=None,
                position=cp.sequence_number,
                checkpointed=cp.sequence_number,
                finished=bool(cp.finished),
            )

    async def _describe(self, client: Any) -> list[dict[str, Any]]:
        shards: list[dict[str, Any]] = []
        start: str | None = None
        while True:
            kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "Limit": 100}
            if start:
                kwargs["ExclusiveStartShardId"] = start
            desc = (await db.run_db(client.describe_stream, **kwargs))["StreamDescription"]
            shards.extend(desc.get("Shards", []))
            start = desc.get("LastEvaluatedShardId")
            if not start:
                return shards

    def _schedule(self, shards: list[dict[str, Any]]) -> None:
        present = {s["ShardId"] for s in shards}
        for s in shards:
            sid = s["ShardId"]
            state = self.shards.get(sid)
            if state is None:
                state = self.shards[sid] = ShardState(
                    shard_id=sid, parent_id=s.get("ParentShardId")
                )
            else:
                state.parent_id = s.get("ParentShardId")
            if state.finished or sid in self._tasks:
                continue
            parent = state.parent_id
            if parent and parent in present:
                pstate = self.shards.get(parent)
                if pstate is None or not pstate.finished:
                    continue  # the parent's records come first
            self._tasks[sid] = asyncio.create_task(self._read_shard(state), name=f"shard-{sid}")

    # ------------------------------------------------------------ reading
    async def _iterator(self, client: Any, state: ShardState, *, trim_horizon: bool = False) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": state.shard_id}
        if state.position and not trim_horizon:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=state.position)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON" if trim_horizon else self.initial_position
        return (await db.run_db(client.get_shard_iterator, **kwargs))["ShardIterator"]

    async def _read_shard(self, state: ShardState) -> None:
        client: Any = self._client  # set by run() before any shard is read
        backoff = Backoff(base=0.2, cap=10.0)
        iterator: str | None = None
        try:
            while not self._stopping.is_set():
                try:
                    if iterator is None:
                        iterator = await self._iterator(client, state)
                    resp = await db.run_db(client.get_records, ShardIterator=iterator, Limit=1000)
                    backoff.reset()
                except ClientError as exc:
                    code = error_code(exc)
                    if code == "ExpiredIteratorException":
                        ITERATOR_RENEWALS.labels("expired").inc()
                        log.info(
                            "shard %s: iterator expired; resuming after %s",
                            state.shard_id,
                            state.position,
                        )
                        iterator = None
                        continue
                    if code == "TrimmedDataAccessException" and state.position is None:
                        # No checkpoint yet (a fresh table or a new shard): nothing
                        # was read before, so nothing can have been lost.
                        log.info(
                            "shard %s: no checkpoint yet; starting at TRIM_HORIZON",
                            state.shard_id,
                        )
                        iterator = await self._iterator(client, state, trim_horizon=True)
                        continue
                    if code == "TrimmedDataAccessException":
                        log.error(
                            "shard %s: position %s is older than the stream's retention; "
                            "resuming at TRIM_HORIZON (records in between are lost)",
                            state.shard_id,
                            state.position,
                        )
                        iterator = await self._iterator(client, state, trim_horizon=True)
                        continue
                    if code == "ResourceNotFoundException":
                        log.warning("shard %s is gone; marking it finished", state.shard_id)
                        state.finished = True
                        await self._checkpoint(state, force=True)
                        self._refresh.set()
                        return
                    delay = backoff.next()
                    level = logging.INFO if code in TRANSIENT_CODES else logging.WARNING
                    log.log(
                        level,
                        "shard %s: %s after botocore's retries; backing off %.2fs and "
                        "resuming after %s",
                        state.shard_id,
                        code,
                        delay,
                        state.position,
                    )
                    # The iterator may be stale by the time we come back: renew it
                    # from the last handled record (never skips, never repeats).
                    iterator = None
                    ITERATOR_RENEWALS.labels(
                        "throttled" if code in TRANSIENT_CODES else "error"
                    ).inc()
                    await self._sleep(delay)
                    continue
                except BotoCoreError as exc:
                    delay = backoff.next()
                    log.warning("shard %s: %s; backing off %.2fs", state.shard_id, exc, delay)
                    iterator = None
                    ITERATOR_RENEWALS.labels("error").inc()
                    await self._sleep(delay)
                    continue

                records = resp.get("Records", [])
                if records:
                    await self._handle(state, records)
                else:
                    state.lag = 0.0
                    self._report_lag()
                iterator = resp.get("NextShardIterator")
                if iterator is None:  # closed and fully read
                    state.finished = True
                    await self._checkpoint(state, force=True)
                    log.info("shard %s finished", state.shard_id)
                    self._refresh.set()
                    return
                await self._checkpoint(state)
                if not records:
                    await self._sleep(self.poll_interval)
        finally:
            self._tasks.pop(state.shard_id, None)

    async def _handle(self, state: ShardState, records: list[dict[str, Any]]) -> None:
        backoff = Backoff(base=0.2, cap=10.0)
        while True:
            try:
                await self.handler(records)
                break
            except asyncio.CancelledError:
                raise
            except Exception:
                delay = backoff.next()
                log.exception(
                    "event handler failed on shard %s; retrying in %.2fs", state.shard_id, delay
                )
                await self._sleep(delay)
                if self._stopping.is_set():
                    raise asyncio.CancelledError from None
        last = records[-1]["dynamodb"]
        state.position = last["SequenceNumber"]
        created = last.get("ApproximateCreationDateTime")
        if isinstance(created, datetime):
            state.lag = max(0.0, (utcnow() - created.astimezone(UTC)).total_seconds())
        self.records_handled += len(records)
        if RECORDS_COUNTER is not None:
            RECORDS_COUNTER.inc(len(records))
        self._report_lag()

    def _report_lag(self) -> None:
        if LAG_GAUGE is not None:
            LAG_GAUGE.set(self.lag_seconds)

    # ------------------------------------------------------------ checkpoints
    async def _checkpoint(self, state: ShardState, *, force: bool = False) -> None:
        if state.position == state.checkpointed and not (force and state.finished):
            return
        now = time.monotonic()
        if not force and now - state.last_checkpoint_at < self.checkpoint_interval:
            return
        try:
            await db.run_db(
                checkpoints.save,
                stream_arn=self.stream_arn,
                shard_id=state.shard_id,
                sequence_number=state.position,
                finished=state.finished,
            )
        except (PutError, ClientError, BotoCoreError) as exc:
            log.warning("checkpoint of shard %s failed (%s); will retry", state.shard_id, exc)
            return
        state.checkpointed = state.position
        state.last_checkpoint_at = now

    async def _checkpoint_all(self) -> None:
        for state in list(self.shards.values()):
            if state.position is not None and state.position != state.checkpointed:
                await asyncio.shield(self._checkpoint(state, force=True))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
