"""Signatures, event typing, the SSRF guard and the ordering of subscriptions
(no database needed beyond model serialization)."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.ssrf import UnsafeURL, check_url, classify
from events.broker import MemoryBroker
from events.signing import InvalidSignature, compute, sign, verify
from events.types import EVENT_TYPES, DomainEvent, wire_type
from events.webhooks.retry import retry_schedule
from tests.events.conftest import audit_entry


# ---------------------------------------------------------------- signing
def test_sign_and_verify() -> None:
    body = b'{"id":"e1","type":"loan.funded"}'
    header = sign("whsec_x", body)
    assert header.startswith("t=") and ",v1=" in header
    assert verify("whsec_x", body, header) == int(header.split(",")[0][2:])
    with pytest.raises(InvalidSignature):
        verify("whsec_x", body + b" ", header)
    with pytest.raises(InvalidSignature):
        verify("other", body, header)
    with pytest.raises(InvalidSignature):
        verify("whsec_x", body, "garbage")


def test_signature_tolerance_and_rotation() -> None:
    body = "{}"
    old = int(time.time()) - 301
    with pytest.raises(InvalidSignature, match="tolerance"):
        verify("s", body, sign("s", body, old))
    assert verify("s", body, sign("s", body, old + 2))
    t = int(time.time())
    rotated = f"t={t},v1={compute('old-secret', t, body)},v1={compute('s', t, body)}"
    assert verify("s", body, rotated) == t


# ---------------------------------------------------------------- event typing
def test_wire_types() -> None:
    assert [wire_type(e) for e in EVENT_TYPES] == [
        "loan.created",
        "loan.updated",
        "loan.funded",
        "loan.deleted",
        "loan.restored",
        "participant.invited",
        "participant.accepted",
        "participant.declined",
        "participant.removed",
    ]


def _record(entry, name: str = "INSERT") -> dict:
    return {"eventName": name, "dynamodb": {"NewImage": entry.serialize(), "SequenceNumber": "42"}}


def test_event_from_stream_record() -> None:
    entry = audit_entry(
        "loan-1",
        7,
        "PARTICIPANT_ACCEPTED",
        borrower_id="b-1",
        tx_index=0,
        participant={
            "participant_id": "p-1",
            "lender_email": "Ann@Example.com",
            "lender_id": "u-ann",
            "contribution_amount": "250.50",
            "status": "ACCEPTED",
        },
    )
    event = DomainEvent.from_stream_record(_record(entry))
    assert event is not None
    assert (event.id, event.type, event.wire_type) == (
        entry.audit_id,
        "PARTICIPANT_ACCEPTED",
        "participant.accepted",
    )
    assert (event.loan_id, event.seq, event.borrower_id) == ("loan-1", 7, "b-1")
    assert event.participant_email == "ann@example.com" and event.participant_lender_id == "u-ann"
    assert event.stream_sequence == "42"
    body = event.webhook_body()
    assert set(body) == {"id", "type", "createdAt", "data"}
    assert body["createdAt"].endswith("Z")
    data = body["data"]
    assert data["loan"]["totalFunded"] == "70.00" and data["loan"]["seq"] == 7
    assert data["participant"]["contributionAmount"] == "250.50"  # exact decimal string
    assert DomainEvent.from_json(event.to_json()) == event
    # Only INSERTs are events (TTL deletions on DynamoDB Local are UNKNOWN_TO_SDK_VERSION).
    assert DomainEvent.from_stream_record(_record(entry, "UNKNOWN_TO_SDK_VERSION")) is None
    assert DomainEvent.from_stream_record(_record(entry, "REMOVE")) is None
    entry.event = None
    assert DomainEvent.from_stream_record(_record(entry)) is None


# ---------------------------------------------------------------- SSRF guard
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.169.254/",
        "https://[fd00:ec2::254]/",
        "https://[::ffff:169.254.169.254]/",
        "https://0.0.0.0/",
    ],
)
def test_metadata_and_unspecified_always_refused(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(UnsafeURL):
            check_url(url, allow_private=allow)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://10.1.2.3/",
        "https://192.168.0.10/",
        "https://172.16.5.4/",
        "https://169.254.10.10/",
        "https://[::1]/",
        "https://[fe80::1]/",
        "https://[fc00::1]/",
        "https://100.64.0.1/",
    ],
)
def test_private_refused_unless_allowed(url: str) -> None:
    with pytest.raises(UnsafeURL):
        check_url(url, allow_private=False)
    check_url(url, allow_private=True)


def test_scheme_rules() -> None:
    assert check_url("https://93.184.215.14/x", allow_private=False).addresses == ("93.184.215.14",)
    with pytest.raises(UnsafeURL, match="https"):
        check_url("http://93.184.215.14/x", allow_private=False)
    with pytest.raises(UnsafeURL, match="https"):
        check_url("http://10.0.0.1/x", allow_private=True)  # http only to loopback
    assert check_url("http://127.0.0.1:9/x", allow_private=True).port == 9
    for bad in (
        "ftp://93.184.215.14/",
        "https://user:pw@93.184.215.14/",
        "https:///x",
        "not a url",
        "https://nonexistent.invalid/",
    ):
        with pytest.raises(UnsafeURL):
            check_url(bad, allow_private=True)
    assert classify("8.8.8.8") == "public" and classify("::ffff:10.0.0.1") == "private"


def test_retry_schedule_defaults() -> None:
    sched = retry_schedule(30, 3 * 24 * 3600)
    assert sched[:4] == [0, 30, 90, 210]
    assert sched[-1] <= 3 * 24 * 3600 and 15 <= len(sched) <= 25


# ---------------------------------------------------------------- ordering
def _ev(loan: str, seq: int, idx: int = 0) -> DomainEvent:
    entry = audit_entry(loan, seq, "LOAN_UPDATED", tx_index=idx)
    ev = DomainEvent.from_audit_entry(entry)
    assert ev is not None
    return ev


async def _take(sub, n: int, timeout: float = 2.0) -> list[DomainEvent]:
    return [await asyncio.wait_for(sub.__anext__(), timeout) for _ in range(n)]


async def test_subscription_reorders_and_deduplicates() -> None:
    broker = MemoryBroker(gap_wait=1.0)
    sub = broker.subscribe("L", after_seq=0)
    other = broker.subscribe("M")
    events = [_ev("L", s) for s in (1, 2, 3, 4, 5)]
    for i in (2, 0, 2, 1, 4, 3, 0):  # out of order, with duplicates
        await broker.publish(events[i])
    got = await _take(sub, 5)
    assert [e.seq for e in got] == [1, 2, 3, 4, 5]
    assert not other._inbox and broker.subscriber_count == 2
    # An event behind the position is late: dropped.
    await broker.publish(_ev("L", 2))
    await broker.publish(_ev("L", 6))
    assert [e.seq for e in await _take(sub, 1)] == [6]
    assert sub.dropped_late == 1
    sub.close()
    other.close()
    assert broker.subscriber_count == 0


async def test_gap_is_skipped_after_gap_wait() -> None:
    broker = MemoryBroker(gap_wait=0.2)
    sub = broker.subscribe("L", after_seq=10)
    await broker.publish(_ev("L", 13))
    await broker.publish(_ev("L", 11))
    t0 = time.monotonic()
    assert sub.gaps_skipped == 0
    got = await _take(sub, 2)
    assert [e.seq for e in got] == [11, 13]
    assert time.monotonic() - t0 >= 0.15  # 13 waited for 12
    # Counted, so a reader that decides from the events it saw (a lender's
    # access re-check, resolvers/subscriptions.py) decides anew.
    assert sub.gaps_skipped == 1
    # Same-seq entries of one transaction come in tx order.
    a, b = _ev("L", 14, idx=1), _ev("L", 14, idx=0)
    await broker.publish(a)
    await broker.publish(b)
    got = await _take(sub, 2)
    assert {e.id for e in got} == {a.id, b.id}
    sub.advance_to(20)
    await broker.publish(_ev("L", 19))
    await broker.publish(_ev("L", 21))
    assert [e.seq for e in await _take(sub, 1)] == [21]
    await broker.stop()
    with pytest.raises(StopAsyncIteration):
        await sub.__anext__()


# ---------------------------------------------------------------- settings
def test_event_settings_come_from_the_settings_object(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.settings import Settings
    from events.runtime import EventRuntime

    defaults = Settings()
    assert defaults.server_events == "auto"
    assert (defaults.stream_lease_seconds, defaults.webhook_lease_seconds) == (15.0, 30.0)
    monkeypatch.setenv("LOANGRAPH_SERVER_EVENTS", "Never")
    monkeypatch.setenv("LOANGRAPH_STREAM_LEASE_SECONDS", "2.5")
    monkeypatch.setenv("LOANGRAPH_WEBHOOK_LEASE_SECONDS", "4")
    s = Settings.from_env()
    assert (s.server_events, s.stream_lease_seconds, s.webhook_lease_seconds) == ("never", 2.5, 4.0)

    # The runtime reads the object it is given, not the environment.
    monkeypatch.delenv("LOANGRAPH_SERVER_EVENTS")
    never = EventRuntime.for_server(s, broker=MemoryBroker())
    assert never.dispatcher is None and never.deliverer is None
    rt = EventRuntime.for_server(s.with_(server_events="always"), broker=MemoryBroker())
    assert rt.dispatcher is not None and rt.dispatcher.lease.ttl == 2.5
    assert rt.deliverer is not None and rt.deliverer.lease_seconds == 4.0
    assert EventRuntime.for_server(defaults, broker=MemoryBroker()).dispatcher is not None
    assert (
        EventRuntime.for_server(
            defaults.with_(redis_url="redis://127.0.0.1:1/0"), broker=MemoryBroker()
        ).dispatcher
        is None
    )
