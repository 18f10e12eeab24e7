"""How the tailer reports DynamoDB's TrimmedDataAccessException, on a real
DynamoDB Local stream: nothing alarming when there was no checkpoint yet (a
fresh table: nothing was read, nothing can be lost), an ERROR when a real
checkpoint fell past the stream's retention (records in between are lost).

DynamoDB Local keeps its records for 24 h like AWS, so the trim itself is
injected: the real streams client, except that the first iterator request of
the given kind fails as AWS fails it. (tests/docs/test_getting_started.py sees
the fresh-table case happen on a real `loangraph serve`.)"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from core import db
from events.stream import StreamTailer, streams_client
from tests.events.conftest import eventually, new_id, write_audit
from tests.events.test_stream import Collector

STREAM_LOG = "loangraph.events.stream"


class TrimOnce:
    """The real streams client; the first GetShardIterator of `kind` is trimmed."""

    def __init__(self, kind: str) -> None:
        self.real = streams_client()
        self.kind = kind
        self.trimmed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def get_shard_iterator(self, **kwargs: Any) -> Any:
        if kwargs.get("ShardIteratorType") == self.kind and not self.trimmed:
            self.trimmed += 1
            raise ClientError(
                {"Error": {"Code": "TrimmedDataAccessException", "Message": "trimmed"}},
                "GetShardIterator",
            )
        return self.real.get_shard_iterator(**kwargs)


async def tail_until(tailer: StreamTailer, collector: Collector, loan: str, n: int) -> None:
    task = asyncio.create_task(tailer.run())
    try:
        await eventually(lambda: len(collector.ids_for(loan)) >= n)
    finally:
        tailer.stop()
        await task


async def test_first_read_without_a_checkpoint_is_not_an_error(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    loan = new_id()
    await db.run_db(write_audit, loan, 1)
    client = TrimOnce("TRIM_HORIZON")
    collector = Collector()
    with caplog.at_level(logging.INFO, logger=STREAM_LOG):
        await tail_until(
            StreamTailer(collector, poll_interval=0.05, client=client), collector, loan, 1
        )
    assert client.trimmed == 1
    records = [r for r in caplog.records if r.name == STREAM_LOG and "TRIM_HORIZON" in r.message]
    assert records, caplog.text
    assert all(r.levelno <= logging.INFO for r in records), caplog.text
    assert "no checkpoint yet" in records[0].message


async def test_a_checkpoint_past_retention_is_an_error(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    loan = new_id()
    await db.run_db(write_audit, loan, 1)
    first = Collector()
    await tail_until(
        StreamTailer(first, poll_interval=0.05, checkpoint_interval=0.0), first, loan, 1
    )

    await db.run_db(write_audit, loan, 2)
    client = TrimOnce("AFTER_SEQUENCE_NUMBER")  # the checkpoint is older than the retention
    second = Collector()
    with caplog.at_level(logging.INFO, logger=STREAM_LOG):
        await tail_until(StreamTailer(second, poll_interval=0.05, client=client), second, loan, 1)
    assert client.trimmed == 1
    (error,) = [r for r in caplog.records if r.name == STREAM_LOG and r.levelno == logging.ERROR]
    assert "is older than the stream's retention" in error.message
    assert "records in between are lost" in error.message
    assert "position None" not in error.message
