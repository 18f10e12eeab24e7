"""The bounded chaos soak: 15 s of mixed load with DynamoDB faults on every
operation and a kill -9 of a replica, the worker and redis-server; every
invariant must hold (see docs/reliability.md; `make chaos` runs it for minutes)."""

from __future__ import annotations

import pytest

from chaos.soak import run


@pytest.mark.slow
async def test_bounded_chaos_soak(dynamodb_endpoint, tmp_path) -> None:
    report = await run(
        duration=15,
        clients=4,
        fault_rate=0.03,
        seed=7,
        dynamodb_endpoint=dynamodb_endpoint,
        workdir=tmp_path,
        log=lambda *_: None,
    )
    print(report.table())
    assert report.kills == ["replica A", "worker", "redis-server"]
    assert report.proxy["injected_total"] > 0
    assert sum(1 for c in report.calls if c.outcome == "ok") > 10
    broken = {k: v for k, (held, v) in report.invariants.items() if not held}
    assert not broken, report.table()
    assert len(report.invariants) == 8
