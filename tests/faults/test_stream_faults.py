"""The audit stream tailer behind the fault proxy: expired and throttled
iterators, partial pages, 5xx and dropped connections on GetRecords. Every
record arrives once, in order; renewals resume after the last handled record."""

from __future__ import annotations

import asyncio

from core import db
from events.stream import ITERATOR_RENEWALS, StreamTailer
from tests.events.conftest import eventually, new_id, write_audit
from tests.events.test_stream import Collector


def renewals(reason: str) -> float:
    return ITERATOR_RENEWALS.labels(reason)._value.get()


async def test_tailer_survives_every_stream_fault(settings, fault_proxy) -> None:
    loan = new_id()
    written = [await db.run_db(write_audit, loan, i) for i in range(1, 41)]
    expired0, throttled0 = renewals("expired"), renewals("throttled")
    fault_proxy.set_rules(
        [
            # More 500s in a row than botocore's 4 attempts: the tailer backs off.
            {"kind": "internal_error", "targets": ["GetRecords"], "first": 5},
            {"kind": "expired_iterator", "every": 3, "max": 4},
            {"kind": "throttling", "targets": ["GetRecords"], "every": 4, "max": 3},
            {"kind": "drop", "targets": ["GetRecords"], "every": 5, "max": 2},
            {"kind": "partial_records", "keep": 3},
        ],
        seed=3,
    )
    c = Collector()
    tailer = StreamTailer(c, poll_interval=0.05, checkpoint_interval=0.0)
    task = asyncio.create_task(tailer.run())
    try:
        await eventually(lambda: len(c.ids_for(loan)) >= 40, timeout=60, interval=0.1)
        await asyncio.sleep(0.5)
    finally:
        tailer.stop()
        await task
    assert c.ids_for(loan) == [e.audit_id for e in written]  # all, once, in order
    assert fault_proxy.injected("expired_iterator") == 4
    assert fault_proxy.injected("internal_error") == 5
    assert fault_proxy.injected("partial_records") >= 10  # pages of at most 3
    assert renewals("expired") - expired0 == 4
    assert renewals("throttled") - throttled0 >= 1
