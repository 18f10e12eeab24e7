"""The issue's "done when", against `loangraph serve` as `make serve` runs it
(embedded DynamoDB Local, data under the data directory): the receipt key is
generated on first start; a receipt copied out of the API verifies offline
with the published keys (`loangraph verify-receipt`) and fails with one byte
changed; editing an audit row directly in DynamoDB makes `loangraph
verify-audit` exit 1 and name the entry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import boto3
import httpx

from core.auth import mint_token
from core.dynamodb_local import free_port
from core.settings import Settings
from tests.cli.test_serve_embedded import SECRET, env, start
from tests.ops.conftest import run_cli


def gql(port: int, query: str, variables: dict, sub: str) -> dict:
    token = mint_token(Settings(jwt_secret=SECRET), sub=sub, email=f"{sub}@example.com")
    r = httpx.post(
        f"http://127.0.0.1:{port}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )
    body = r.json()
    assert "errors" not in body, body
    return body["data"]


def loangraph(data: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env(data, port))


def test_evidence_against_make_serve(tmp_path: Path) -> None:
    data, port, log = tmp_path / "data", free_port(), tmp_path / "serve.log"
    server = start(data, port, log)
    try:
        assert (data / "receipt-key.pem").is_file()
        assert "generated receipt signing key" in log.read_text()
        d = gql(
            port,
            "mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id loanId } } }",
            {"i": {"title": "Oven", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            "bo",
        )
        loan, loan_id = d["createLoan"]["loan"]["id"], d["createLoan"]["loan"]["loanId"]
        d = gql(
            port,
            "mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) "
            "{ participant { id } } }",
            {"i": {"loanId": loan, "email": "le@example.com", "amount": "250"}},
            "bo",
        )
        pid = d["inviteParticipant"]["participant"]["id"]
        d = gql(
            port,
            "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { participant "
            "{ receipt { payload signature keyId algorithm } } } }",
            {"i": {"participantId": pid}},
            "le",
        )
        receipt = d["acceptInvitation"]["participant"]["receipt"]
        jwks = httpx.get(f"http://127.0.0.1:{port}/.well-known/receipt-keys.json").json()

        # a receipt copied out of the API verifies offline with the published key
        (tmp_path / "keys.json").write_text(json.dumps(jwks))
        (tmp_path / "receipt.json").write_text(json.dumps(receipt))
        ok = loangraph(
            data,
            port,
            "verify-receipt",
            str(tmp_path / "receipt.json"),
            "--keys",
            str(tmp_path / "keys.json"),
        )
        assert ok.returncode == 0 and "VALID" in ok.stdout, ok.stderr
        changed = dict(receipt, payload=receipt["payload"].replace('"250.00"', '"260.00"'))
        assert changed["payload"] != receipt["payload"]
        (tmp_path / "changed.json").write_text(json.dumps(changed))
        bad = loangraph(
            data,
            port,
            "verify-receipt",
            str(tmp_path / "changed.json"),
            "--keys",
            str(tmp_path / "keys.json"),
        )
        assert bad.returncode == 1 and "INVALID" in bad.stderr

        # the chain verifies; then an audit row edited directly in DynamoDB does not
        intact = loangraph(data, port, "verify-audit")
        assert intact.returncode == 0, intact.stdout + intact.stderr
        ddb = boto3.client(
            "dynamodb",
            endpoint_url=(data / "dynamodb.endpoint").read_text().strip(),
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        table = "loangraph_audit_log"
        rows = ddb.query(
            TableName=table,
            IndexName="loan-sk-index",
            KeyConditionExpression="loan_id = :l",
            ExpressionAttributeValues={":l": {"S": loan_id}},
        )["Items"]
        victim = next(
            r
            for r in rows
            if r["table_name"]["S"] == "participants"
            and r.get("event", {}).get("S") == "PARTICIPANT_ACCEPTED"
        )
        after = json.loads(victim["after"]["S"])
        after["contribution_amount"] = "25.00"
        ddb.update_item(
            TableName=table,
            Key={"record_key": victim["record_key"], "sk": victim["sk"]},
            UpdateExpression="SET #a = :a",
            ExpressionAttributeNames={"#a": "after"},
            ExpressionAttributeValues={":a": {"S": json.dumps(after)}},
        )
        tampered = loangraph(data, port, "verify-audit")
        assert tampered.returncode == 1
        assert f"ALTERED loan {loan_id} entry {victim['audit_id']['S']}" in tampered.stdout
    finally:
        server.terminate()
        server.wait(30)
    # the key survives a restart (receipts keep verifying with the same key)
    server = start(data, port, log)
    try:
        again = httpx.get(f"http://127.0.0.1:{port}/.well-known/receipt-keys.json").json()
        assert again == jwks
    finally:
        server.terminate()
        server.wait(30)
