"""The crash test: `loangraph worker` is killed with SIGKILL in the middle of
deliveries and restarted; every event still reaches the receiver (at least once)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core import db
from services.webhooks import register_webhook
from tests.events.conftest import eventually, new_id, write_audit
from tests.events.test_webhooks import actor

pytestmark = pytest.mark.slow  # a worker process killed and restarted

ROOT = Path(__file__).resolve().parents[2]


def start_worker(settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "LOANGRAPH_DYNAMODB_ENDPOINT": settings.dynamodb_endpoint,
        "LOANGRAPH_TABLE_PREFIX": settings.table_prefix,
        "LOANGRAPH_WEBHOOK_ALLOW_PRIVATE": "true",
        "LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS": "0.2",
        # Short leases so the restarted worker takes over quickly.
        "LOANGRAPH_WEBHOOK_LEASE_SECONDS": "2",
        "LOANGRAPH_STREAM_LEASE_SECONDS": "2",
        "LOANGRAPH_LOG_LEVEL": "INFO",
    }
    env.pop("LOANGRAPH_REDIS_URL", None)
    exe = ROOT / ".venv/bin/loangraph"
    cmd = [str(exe), "worker"] if exe.exists() else [sys.executable, str(ROOT / "cli.py"), "worker"]
    with log.open("ab") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_sigkill_mid_delivery_loses_nothing(settings, receiver, tmp_path) -> None:
    r = receiver(delay=0.3)  # slow receiver: the kill lands while requests are in flight
    owner = actor()
    await db.run_db(register_webhook, owner, r.url, ["LOAN_UPDATED", "PARTICIPANT_ACCEPTED"])
    loan = new_id()
    log = tmp_path / "worker.log"
    worker = start_worker(settings, log)
    try:
        expected: set[str] = set()
        for seq in range(1, 31):
            event = "LOAN_UPDATED" if seq % 3 else "PARTICIPANT_ACCEPTED"
            e = await db.run_db(write_audit, loan, seq, event, borrower_id=owner.user_id)
            expected.add(e.audit_id)
        # Kill it while deliveries are under way (some received, not all).
        await eventually(lambda: len(r.requests) >= 5, timeout=30)
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
        received_before = set(r.event_ids())
        assert received_before < expected, "the kill should land mid-delivery"
        # Changes committed while no worker runs.
        for seq in range(31, 41):
            e = await db.run_db(write_audit, loan, seq, "LOAN_UPDATED", borrower_id=owner.user_id)
            expected.add(e.audit_id)
        worker = start_worker(settings, log)
        await eventually(lambda: expected <= set(r.event_ids()), timeout=60, interval=0.2)
        ids = r.event_ids()
        assert set(ids) == expected  # every event, nothing foreign
        assert len(ids) - len(expected) <= 20  # at least once: a few duplicates at most
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        print(log.read_text()[-3000:])
    assert worker.returncode in (0, -signal.SIGTERM, -signal.SIGKILL)
    await asyncio.sleep(0)
