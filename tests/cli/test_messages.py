"""Messages a newcomer meets say what to do, read from real processes: a real
`loangraph serve` for ids and tokens, the CLI for a busy port, the worker and
other commands for their logs, and the AWS region variables."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from core.auth import mint_token
from core.dynamodb_local import free_port
from core.settings import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.ops.conftest import ROOT, LiveServer

LOANGRAPH = str(ROOT / ".venv/bin/loangraph")


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOANGRAPH_") and k not in ("AWS_REGION", "AWS_DEFAULT_REGION")
    }
    env.update(extra)
    return env


def gql(server: LiveServer, query: str, variables: dict | None = None, token: str | None = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    r = httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=headers,
        timeout=15,
    )
    return r.json()


def tok(sub: str, **kw) -> str:  # type: ignore[no-untyped-def]
    return mint_token(
        Settings(jwt_secret=TEST_JWT_SECRET), sub=sub, email=f"{sub}@example.com", **kw
    )


# ---------------------------------------------------------------- ids
def test_a_bare_uuid_as_loan_id_names_the_field_to_use(server: LiveServer) -> None:
    raw = str(uuid.uuid4())
    body = gql(server, "query($id: ID!) { loan(id: $id) { id } }", {"id": raw}, tok("ids-a"))
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    message = error["message"]
    assert f"Malformed Loan id: '{raw}' is a bare uuid, not a global id." in message, message
    assert "`Loan.id`" in message and "opaque base64" in message, message


def test_participant_uuid_and_wrong_type_ids_name_participant_id(server: LiveServer) -> None:
    borrower, lender = tok("ids-b"), tok("ids-l")
    created = gql(
        server,
        "mutation($i: CreateLoanInput!) { createLoan(input: $i) { loan { id } } }",
        {"i": {"title": "Ids", "amount": "1000", "interestRate": "5", "termMonths": 12}},
        borrower,
    )
    loan_id = created["data"]["createLoan"]["loan"]["id"]
    invited = gql(
        server,
        "mutation($i: InviteParticipantInput!) { inviteParticipant(input: $i) "
        "{ participant { id participantId amount contributionAmount } errors { code } } }",
        {"i": {"loanId": loan_id, "email": "ids-l@example.com", "amount": "250"}},
        borrower,
    )
    participant = invited["data"]["inviteParticipant"]["participant"]
    # `amount` on the way out is the same value as `contributionAmount`
    assert participant["amount"] == participant["contributionAmount"] == "250.00"
    accept = (
        "mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) "
        "{ errors { field code message } } }"
    )

    # the newcomer's guess: the bare uuid from `participantId`
    body = gql(server, accept, {"i": {"participantId": participant["participantId"]}}, lender)
    (error,) = body["data"]["acceptInvitation"]["errors"]
    assert error["code"] == "VALIDATION" and error["field"] == ["input", "participantId"]
    assert "is a bare uuid, not a global id" in error["message"], error
    assert "`Participant.id`" in error["message"], error
    assert "not the bare uuid in `Participant.participantId`" in error["message"], error

    # a global id of the wrong type
    body = gql(server, accept, {"i": {"participantId": loan_id}}, lender)
    (error,) = body["data"]["acceptInvitation"]["errors"]
    assert error["message"].startswith(
        "Expected a Participant id, got a Loan id: pass the value of `Participant.id`"
    ), error

    # and the right one works
    body = gql(server, accept, {"i": {"participantId": participant["id"]}}, lender)
    assert body["data"]["acceptInvitation"]["errors"] == []


def test_a_newcomers_guess_gets_a_did_you_mean(server: LiveServer) -> None:
    body = gql(
        server,
        'mutation { inviteParticipant(input: {loanId: "x", email: "a@example.com", '
        'contributionAmount: "10"}) { participant { contribution } } }',
        token=tok("guess-b"),
    )
    messages = [e["message"] for e in body["errors"]]
    assert any(
        "unknown field 'contributionAmount'" in m and m.endswith("Did you mean 'amount'?")
        for m in messages
    ), messages
    assert "Cannot query field 'contribution' on type 'Participant'. Did you mean 'amount'?" in (
        messages
    )


# ---------------------------------------------------------------- tokens
def test_an_expired_token_says_how_to_mint_a_new_one(server: LiveServer) -> None:
    expired = tok("expired-user", ttl_seconds=-120)  # past the 30 s leeway
    body = gql(server, "{ viewer { userId } }", token=expired)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "the token has expired" in error["message"], error
    assert "`.venv/bin/loangraph token --sub <user id> --email <email>`" in error["message"], error


# ---------------------------------------------------------------- busy port
def test_a_busy_port_is_one_line_naming_loangraph_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [LOANGRAPH, "serve"],
            cwd=ROOT,
            env=base_env(LOANGRAPH_PORT=str(port), LOANGRAPH_DATA_DIR=str(tmp_path / "data")),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"loangraph: port {port} on 127.0.0.1 is not available"), lines
    assert f"LOANGRAPH_PORT={port + 1} make serve" in lines[0], lines
    assert "GraphiQL and the API at" not in r.stderr + r.stdout  # no URL announced
    assert not (tmp_path / "data").exists()  # nor a database started


# ---------------------------------------------------------------- one behaviour
def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_the_worker_logs_json_like_the_server(dynamodb_endpoint: str, tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    env = base_env(
        LOANGRAPH_DYNAMODB_ENDPOINT=dynamodb_endpoint,
        LOANGRAPH_TABLE_PREFIX=f"w{uuid.uuid4().hex[:8]}_",
        LOANGRAPH_LOG_FORMAT="json",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [LOANGRAPH, "worker"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "delivering webhooks" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    records = json_lines(log.read_text())  # every line is one JSON object
    messages = [r["msg"] for r in records]
    assert "worker: events via in-memory (no LOANGRAPH_REDIS_URL); delivering webhooks" in messages
    assert "worker: stopping" in messages
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records), records


def test_cli_commands_honour_the_log_format(tmp_path: Path) -> None:
    """`create-tables` with the embedded database logs its start like the server."""
    for fmt in ("json", "text"):
        r = subprocess.run(
            [LOANGRAPH, "create-tables"],
            cwd=ROOT,
            env=base_env(LOANGRAPH_DATA_DIR=str(tmp_path / fmt), LOANGRAPH_LOG_FORMAT=fmt),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("created "), r.stdout
        if fmt == "json":
            (started,) = [
                x for x in json_lines(r.stderr) if x["msg"].startswith("DynamoDB Local on")
            ]
            assert started["level"] == "info" and started["logger"] == "loangraph.cli"
        else:
            assert " INFO loangraph.cli: DynamoDB Local on http://127.0.0.1:" in r.stderr, r.stderr
            assert not r.stderr.lstrip().startswith("{")


def test_a_bad_log_format_is_refused_by_every_command() -> None:
    r = subprocess.run(
        [LOANGRAPH, "token", "--sub", "x"],
        cwd=ROOT,
        env=base_env(LOANGRAPH_LOG_FORMAT="xml"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert r.stderr == "loangraph: LOANGRAPH_LOG_FORMAT='xml' is not one of: json, text\n"


# ---------------------------------------------------------------- region
@pytest.mark.parametrize("variable", ["AWS_REGION", "AWS_DEFAULT_REGION"])
def test_either_region_variable_means_real_aws(variable: str, tmp_path: Path) -> None:
    """Either variable, no endpoint: `serve` targets AWS (so it refuses the public
    development secret) instead of starting the embedded database."""
    r = subprocess.run(
        [LOANGRAPH, "serve"],
        cwd=ROOT,
        env=base_env(
            **{variable: "eu-west-1"},
            LOANGRAPH_PORT=str(free_port()),
            LOANGRAPH_DATA_DIR=str(tmp_path / "data"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2, r.stderr
    assert "refusing to serve real AWS with the development JWT secret" in r.stderr
    assert not (tmp_path / "data").exists()  # no embedded DynamoDB Local


@pytest.mark.parametrize(
    ("env", "database", "region"),
    [
        ({}, "embedded", "us-east-1"),
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, "aws", "eu-west-1"),
        ({"AWS_REGION": "ap-south-1", "AWS_DEFAULT_REGION": "eu-west-1"}, "aws", "ap-south-1"),
        (
            {"AWS_REGION": "eu-west-1", "LOANGRAPH_DYNAMODB_ENDPOINT": "http://x:1"},
            "endpoint",
            "eu-west-1",
        ),
    ],
)
def test_the_database_is_decided_in_one_place(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], database: str, region: str
) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "LOANGRAPH_DYNAMODB_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.database, settings.aws_region) == (database, region)
