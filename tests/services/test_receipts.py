"""Signed acceptance receipts: written by the acceptance's transaction, read
through the API by the lender, the borrower and admins only, verified offline
(the real `loangraph verify-receipt`, and the Python and Node verifiers printed
in docs/evidence.md) against the published JWKS, and still verifiable after a
key rotation."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.ids import to_global_id
from models import AuditEntry, LoanVersion
from services import receipts
from services.chain import canonical_json
from services.loans import update_loan_terms
from services.participants import accept_invitation
from tests.conftest import make_settings
from tests.graphql_client import gql
from tests.services.conftest import create, invite, person

ROOT = Path(__file__).resolve().parents[2]
READ = """query($id: ID!) { node(id: $id) { ... on Participant {
  status receipt { payload signature keyId algorithm } } } }"""


def tok(token, who) -> str:
    return token(who.user_id, who.viewer.email, admin=who.viewer.is_admin)


def doc_block(marker: str) -> str:
    text = (ROOT / "docs/evidence.md").read_text()
    m = re.search(rf"<!-- verifier:{marker} -->\s*```\w+\n(.*?)```", text, re.S)
    assert m, marker
    return m.group(1)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )


def one_byte_changed(receipt: dict) -> dict:
    p = receipt["payload"]
    i = p.index('"amount":"') + len('"amount":"')
    return {**receipt, "payload": p[:i] + ("9" if p[i] != "9" else "8") + p[i + 1 :]}


async def test_receipt_from_the_api_verifies_offline_and_fails_when_changed(
    settings, client, token, tmp_path, borrower
):
    # given a loan at version 2 and two invitations, one accepted
    loan = await create(borrower, amount="1000.00")
    await update_loan_terms(
        borrower, loan.loan_id, expected_version=1, change_reason="r", term_months=18
    )
    lender, other = person("lender"), person("lender")
    p = await invite(borrower, loan, lender, "300.00")
    q = await invite(borrower, loan, other, "200.00")
    part, _ = await accept_invitation(lender, loan.loan_id, p.participant_id, 2)
    gid = to_global_id("Participant", f"{loan.loan_id}/{p.participant_id}")

    # when the lender reads the receipt through the API
    r = await gql(client, READ, {"id": gid}, token=tok(token, lender))
    receipt = r["data"]["node"]["receipt"]
    assert receipt["algorithm"] == "Ed25519"
    # then the payload says what was accepted, against what terms and entry
    payload = json.loads(receipt["payload"])
    entry = [
        e
        for e in AuditEntry.query(f"participants#{loan.loan_id}/{p.participant_id}")
        if e.event == "PARTICIPANT_ACCEPTED"
    ][0]
    v2 = LoanVersion.get(loan.loan_id, 2)
    terms = {k: v2.snapshot[k] for k in receipts.TERM_FIELDS}
    assert payload == {
        "v": 1,
        "type": "loangraph.acceptance-receipt",
        "loanId": loan.loan_id,
        "participantId": p.participant_id,
        "lenderId": lender.user_id,
        "lenderEmail": lender.viewer.email,
        "amount": "300.00",
        "currency": "USD",
        "termsVersion": 2,
        "termsDigest": hashlib.sha256(canonical_json(terms)).hexdigest(),
        "acceptedAt": payload["acceptedAt"],
        "auditHash": entry.hash,
    }
    assert payload["acceptedAt"] == part.responded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # and the payload is byte for byte its canonical form
    assert receipt["payload"].encode() == canonical_json(payload)

    # and the borrower and an admin read the same receipt; another lender and a
    # stranger do not (the other lender cannot see the participant at all)
    for who in (borrower, person("admin", admin=True)):
        r = await gql(client, READ, {"id": gid}, token=tok(token, who))
        assert r["data"]["node"]["receipt"] == receipt
    r = await gql(client, READ, {"id": gid}, token=tok(token, other))
    assert not (r.get("data") or {}).get("node")
    # a pending participant has no receipt yet
    qid = to_global_id("Participant", f"{loan.loan_id}/{q.participant_id}")
    r = await gql(client, READ, {"id": qid}, token=tok(token, borrower))
    assert r["data"]["node"] == {"status": "PENDING", "receipt": None}

    # the published keys
    resp = await client.get("/.well-known/receipt-keys.json")
    assert resp.status_code == 200
    jwks = resp.json()
    [key] = [k for k in jwks["keys"] if k["kid"] == receipt["keyId"]]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and len(key["x"]) == 43

    keys_file = tmp_path / "receipt-keys.json"
    keys_file.write_text(json.dumps(jwks))
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt))
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(one_byte_changed(receipt)))
    bad_sig = tmp_path / "bad-sig.json"
    sig = receipt["signature"]
    bad_sig.write_text(
        json.dumps({**receipt, "signature": ("A" if sig[0] != "A" else "B") + sig[1:]})
    )
    py = tmp_path / "verify_receipt.py"
    py.write_text(doc_block("python"))
    js = tmp_path / "verify_receipt.js"
    js.write_text(doc_block("node"))
    assert len(doc_block("python").strip().splitlines()) <= 25
    assert len(doc_block("node").strip().splitlines()) <= 25

    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANGRAPH_")}
    cli = str(ROOT / ".venv/bin/loangraph")
    ok = run(cli, "verify-receipt", str(good), "--keys", str(keys_file), env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("VALID"), ok.stdout + ok.stderr
    assert p.participant_id in ok.stdout
    for tampered in (bad, bad_sig):
        no = run(cli, "verify-receipt", str(tampered), "--keys", str(keys_file), env=env)
        assert no.returncode == 1 and "INVALID" in no.stderr, no.stdout + no.stderr
    # the verifiers printed in the docs, with nothing but their standard crypto
    for prog in ([sys.executable, str(py)], ["node", str(js)]):
        assert run(*prog, str(good), str(keys_file)).returncode == 0
        assert run(*prog, str(bad), str(keys_file)).returncode == 1
        assert run(*prog, str(bad_sig), str(keys_file)).returncode == 1
    out = run(sys.executable, str(py), str(good), str(keys_file))
    assert out.stdout.startswith("VALID") and '"termsVersion": 2' in out.stdout


def test_rotation_keeps_old_receipts_verifiable(tmp_path):
    s = make_settings("http://unused", data_dir=str(tmp_path))
    receipts.reset_cache()
    # a key is generated on first use, under the data directory, private
    ring = receipts.keyring(s)
    key_file = tmp_path / "receipt-key.pem"
    assert key_file.exists() and (key_file.stat().st_mode & 0o077) == 0
    old = receipts.sign(ring, b'{"v":1}')
    # when the key is rotated
    old_kid, new_kid = receipts.rotate(s)
    assert old_kid == old["keyId"] != new_kid
    ring2 = receipts.keyring(s)
    new = receipts.sign(ring2, b'{"v":2}')
    # then both keys are published and both receipts verify
    jwks = ring2.jwks()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]
    assert receipts.verify(old, jwks) == {"v": 1}
    assert receipts.verify(new, jwks) == {"v": 2}
    # and a receipt signed by an unknown key does not
    with pytest.raises(receipts.ReceiptInvalid):
        receipts.verify({**old, "keyId": "nope"}, jwks)
    # a key from configuration (PEM text) overrides the file
    pem = receipts.generate_pem().decode()
    s3 = s.with_(receipt_key=pem)
    assert receipts.keyring(s3).current["kid"] not in {old_kid, new_kid}
    receipts.reset_cache()
