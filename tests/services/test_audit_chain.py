"""The tamper-evident audit chain: every change extends it in its own
transaction, concurrent writers cannot fork it, `loangraph verify-audit` (the
real CLI process) names every altered, deleted, inserted or reordered entry
and a bad head, and `loangraph backfill-audit-chain` chains existing data."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from models import AuditEntry, Loan
from services import chain
from services.loans import delete_loan, restore_loan, update_loan_terms
from services.participants import accept_invitation, decline_invitation
from tests.ops.conftest import run_cli
from tests.services.conftest import create, fresh_loan, invite, person


@pytest.fixture(scope="module")
def settings(fresh_settings):
    return fresh_settings


async def story(borrower):
    """A loan with invitations, an acceptance, a decline, a terms change, a
    deletion and a restore: entries on the loan and on two participants."""
    loan = await create(borrower, amount="1000.00")
    a, b = person("lender"), person("lender")
    pa = await invite(borrower, loan, a, "300.00")
    pb = await invite(borrower, loan, b, "200.00")
    await accept_invitation(a, loan.loan_id, pa.participant_id, 1)
    await decline_invitation(b, loan.loan_id, pb.participant_id, 1)
    await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="longer", term_months=24
    )
    await delete_loan(borrower, loan.loan_id, "paused")
    await restore_loan(borrower, loan.loan_id)
    return loan.loan_id


def ordered(loan_id: str) -> list[AuditEntry]:
    return sorted(chain.loan_entries(loan_id), key=chain.commit_key)


def cli(settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("LOANGRAPH_") and k != "AWS_REGION"
    }
    env.update(
        LOANGRAPH_DYNAMODB_ENDPOINT=settings.dynamodb_endpoint,
        LOANGRAPH_TABLE_PREFIX=settings.table_prefix,
        AWS_ACCESS_KEY_ID="local",
        AWS_SECRET_ACCESS_KEY="local",
    )
    return run_cli(*args, env=env)


def findings(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------ format
def test_canonical_serialization_is_the_documented_bytes():
    # given an entry with every kind of value (non-ASCII text, nulls, nesting)
    e = AuditEntry(
        record_key="loans#L1",
        sk="2026-01-02T03:04:05.000006Z#A1",
        audit_id="A1",
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
        table_name="loans",
        record_id="L1",
        action="UPDATE",
        event="LOAN_UPDATED",
        loan_id="L1",
        actor_id="u1",
        before={"title": "Caf\u00e9", "amount": "10.00"},
        after={"title": "Caf\u00e9 \U0001f600", "amount": "10.00"},
        changed_fields=["title"],
        ip_address=None,
        user_agent="ua",
        request_id="r1",
        context={"loan_seq": 2, "tx": {"index": 0, "size": 1}},
    )
    # then the bytes are exactly the ones docs/evidence.md specifies
    expected = (
        b'{"action":"UPDATE","actorId":"u1","after":{"amount":"10.00","title":"Caf\\u00e9 '
        b'\\ud83d\\ude00"},"auditId":"A1","before":{"amount":"10.00","title":"Caf\\u00e9"},'
        b'"changedFields":["title"],"context":{"loan_seq":2,"tx":{"index":0,"size":1}},'
        b'"event":"LOAN_UPDATED","ipAddress":null,"loanId":"L1","previousHash":"ab",'
        b'"recordId":"L1","recordKey":"loans#L1","requestId":"r1",'
        b'"sk":"2026-01-02T03:04:05.000006Z#A1","tableName":"loans",'
        b'"timestamp":"2026-01-02T03:04:05.000006Z","userAgent":"ua","v":1}'
    )
    assert chain.canonical_bytes(e, "ab") == expected
    assert chain.entry_hash(e, "ab") == hashlib.sha256(expected).hexdigest()
    # and the previous hash is part of what is hashed
    assert chain.entry_hash(e, "ac") != chain.entry_hash(e, "ab")


# ------------------------------------------------------------------ writing
async def test_every_change_extends_the_chain_and_moves_the_head(borrower):
    loan_id = await story(borrower)
    entries = ordered(loan_id)
    # the story touched the loan and both participants
    assert {e.table_name for e in entries} == {"loans", "participants"}
    assert len(entries) >= 8
    # each entry links to the one before it in commit order, the first to nothing
    assert entries[0].previous_hash is None and entries[0].action == "CREATE"
    for prev, e in zip(entries, entries[1:], strict=False):
        assert e.previous_hash == prev.hash
    for e in entries:
        assert e.hash == chain.entry_hash(e, e.previous_hash)
    # and the loan's head is the newest entry's hash
    assert fresh_loan(loan_id).audit_head == entries[-1].hash
    assert chain.verify_loan(loan_id).ok


async def test_concurrent_writers_cannot_fork_the_chain(borrower, race_at_the_database):
    loan = await create(borrower, amount="100000.00")
    lenders = [person("lender") for _ in range(8)]
    invites = [await invite(borrower, loan, who, "100.00") for who in lenders]
    # when eight lenders accept at once, racing at the database
    await asyncio.gather(
        *(
            accept_invitation(who, loan.loan_id, p.participant_id, 1)
            for who, p in zip(lenders, invites, strict=True)
        )
    )
    entries = ordered(loan.loan_id)
    # then no two entries chain from the same predecessor, and it verifies
    prevs = [e.previous_hash for e in entries]
    assert len(prevs) == len(set(prevs)) == 1 + 8 + 8
    assert chain.verify_loan(loan.loan_id).ok
    assert fresh_loan(loan.loan_id).total_funded == Decimal("800")


# ------------------------------------------------------------------ verify-audit
async def test_verify_audit_cli_names_each_tampering(settings, borrower):
    intact = await story(borrower)
    altered, deleted, inserted, reordered, bad_head, last_deleted = [
        await story(borrower) for _ in range(6)
    ]
    # an audit row edited in place (the amount a lender accepted)
    victim = [e for e in ordered(altered) if e.event == "PARTICIPANT_ACCEPTED"][0]
    after = dict(victim.after)
    after["contribution_amount"] = "30.00"
    victim.update(actions=[AuditEntry.after.set(after)])
    # a row in the middle deleted
    gone_d = ordered(deleted)
    gone_d[3].delete()
    # a forged row inserted after the third, with a correctly computed hash
    base = ordered(inserted)[2]
    forged = AuditEntry(
        record_key=base.record_key,
        # a key of its own right after the base row's (never equal to it, which
        # would overwrite the base instead of inserting)
        sk=base.sk + "~forged",
        audit_id="forged-" + base.audit_id,
        timestamp=base.timestamp,
        table_name=base.table_name,
        record_id=base.record_id,
        action="UPDATE",
        event="LOAN_UPDATED",
        loan_id=inserted,
        actor_id="mallory",
        before=base.after,
        after=base.after,
        changed_fields=[],
        context={**base.context, "tx": {"index": 5, "size": 6}},
    )
    forged.previous_hash = base.hash
    forged.hash = chain.entry_hash(forged, base.hash)
    forged.save()
    # two rows swapped in the recorded order (their sequence numbers exchanged)
    r = ordered(reordered)
    first, second = r[3], r[4]
    s1, s2 = first.context["loan_seq"], second.context["loan_seq"]
    first.update(actions=[AuditEntry.context.set({**first.context, "loan_seq": s2})])
    second.update(actions=[AuditEntry.context.set({**second.context, "loan_seq": s1})])
    # the head on the loan rewritten
    Loan(loan_id=bad_head).update(actions=[Loan.audit_head.set("0" * 64)])
    # the newest row deleted
    newest = ordered(last_deleted)[-1]
    newest.delete()

    # then the intact loan verifies: exit 0
    ok = cli(settings, "verify-audit", "--loan", intact, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert findings(ok) == [] and "all chains intact" in ok.stderr

    def run(loan_id: str) -> list[dict]:
        proc = cli(settings, "verify-audit", "--loan", loan_id, "--json")
        assert proc.returncode == 1, proc.stdout + proc.stderr
        return findings(proc)

    assert [(f["kind"], f["auditId"]) for f in run(altered)] == [("ALTERED", victim.audit_id)]
    # a deletion names the entry whose predecessor is missing
    assert [(f["kind"], f["auditId"]) for f in run(deleted)] == [("DELETED", gone_d[4].audit_id)]
    assert [(f["kind"], f["auditId"]) for f in run(inserted)] == [("INSERTED", forged.audit_id)]
    got = {(f["kind"], f["auditId"]) for f in run(reordered)}
    assert ("REORDERED", second.audit_id) in got
    assert {k for k, _ in got} == {"ALTERED", "REORDERED"}
    assert [f["kind"] for f in run(bad_head)] == ["BAD_HEAD"]
    tail = run(last_deleted)
    assert [f["kind"] for f in tail] == ["BAD_HEAD"] and "deleted" in tail[0]["message"]

    # and without --loan every loan is checked, in human-readable lines
    every = cli(settings, "verify-audit")
    assert every.returncode == 1
    assert victim.audit_id in every.stdout and forged.audit_id in every.stdout
    assert "6 loan(s) failed" in every.stdout


# ------------------------------------------------------------------ backfill
def strip_chain(loan_id: str) -> list[AuditEntry]:
    """Make a loan look like data written before the chain existed."""
    entries = ordered(loan_id)
    for e in entries:
        e.update(actions=[AuditEntry.hash.remove(), AuditEntry.previous_hash.remove()])
    Loan(loan_id=loan_id).update(actions=[Loan.audit_head.remove()])
    return entries


async def test_backfill_chains_existing_data_resumably_and_audited(settings, borrower):
    legacy, partial, tampered = [await story(borrower) for _ in range(3)]
    strip_chain(legacy)
    entries = strip_chain(partial)
    # a backfill that stopped halfway through `partial`
    prev = None
    for e in entries:
        prev_next = chain.entry_hash(e, prev)
        if e is entries[len(entries) // 2]:
            break
        e.update(
            actions=[AuditEntry.hash.set(prev_next)]
            + ([AuditEntry.previous_hash.set(prev)] if prev else [])
        )
        prev = prev_next
    before = cli(settings, "verify-audit", "--loan", legacy, "--json")
    assert before.returncode == 1 and findings(before)[0]["kind"] == "UNCHAINED"
    seq_before = int(fresh_loan(legacy).seq)
    # when the backfill runs (the tampered loan's chain exists and fails)
    victim = ordered(tampered)[2]
    victim.update(actions=[AuditEntry.actor_id.set("mallory")])
    run = cli(settings, "backfill-audit-chain")
    # then it refuses to rechain the tampered loan (exit 1) and chains the others
    assert run.returncode == 1, run.stdout + run.stderr
    assert f"chained {legacy}" in run.stdout and f"chained {partial}" in run.stdout
    assert f"refused {tampered}" in run.stdout
    for loan_id in (legacy, partial):
        assert chain.verify_loan(loan_id).ok
        # the backfill is itself the chain's newest, audited link
        newest = ordered(loan_id)[-1]
        assert newest.actor_id == chain.SYSTEM_BACKFILL
        assert newest.context["backfill"]["entries"] == len(ordered(loan_id)) - 1
        assert fresh_loan(loan_id).audit_head == newest.hash
    assert int(fresh_loan(legacy).seq) == seq_before + 1
    assert not chain.verify_loan(tampered).ok
    # and running it again changes nothing
    again = cli(settings, "backfill-audit-chain", "--loan", legacy)
    assert again.returncode == 0 and "0 loan(s) chained, 1 already intact" in again.stdout
    assert len(ordered(legacy)) == len(entries) + 1
