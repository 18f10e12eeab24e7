"""The service under a database outage and a shutdown: a dedicated DynamoDB
Local on a fixed port and a real `loangraph serve` on it.

* DynamoDB stopped: GraphQL answers SERVICE_UNAVAILABLE quickly (no hang, no
  500, no traceback) and /readyz is 503.
* DynamoDB back on the same port (in memory: tables recreated): the server
  recovers by itself.
* SIGTERM: an in-flight request finishes; open subscriptions are closed with
  1012 (service restart: reconnect elsewhere); the process exits cleanly.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from core.auth import mint_token
from core.dynamodb_local import DynamoDBLocal, free_port
from core.settings import Settings
from models import tables
from tests.conftest import TEST_JWT_SECRET
from tests.ops.conftest import LiveServer, start_server

CREATE_LOAN = """
mutation Create($input: CreateLoanInput!) {
  createLoan(input: $input) { loan { id } errors { code message } }
}
"""
MY_LOANS = "query MyLoans { viewer { userId } loans(first: 5) { edges { node { id } } } }"
FUNDING = "subscription Funding($id: ID!) { fundingProgress(loanId: $id) { totalFunded } }"


def token_for(sub: str) -> str:
    return mint_token(Settings(jwt_secret=TEST_JWT_SECRET), sub=sub, email=f"{sub}@example.com")


def post(
    server: LiveServer, query: str, token: str, variables: dict | None = None, timeout: float = 30
) -> httpx.Response:
    return httpx.post(
        server.url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


def create_tables(endpoint: str, prefix: str) -> None:
    settings = Settings(dynamodb_endpoint=endpoint, table_prefix=prefix, jwt_secret=TEST_JWT_SECRET)
    tables.configure(settings)
    tables.create_tables(settings)


@pytest.fixture
def outage_env(tmp_path: Path, settings: Settings):
    """A DynamoDB Local of our own on a fixed port and a server on it. (Depends on
    `settings` only to restore the shared models' configuration afterwards.)"""
    port = free_port()
    ddb = DynamoDBLocal(port=port).start()
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    server = start_server(ddb.endpoint, tmp_path, LOANGRAPH_TABLE_PREFIX=prefix)
    state = {"ddb": ddb, "port": port, "prefix": prefix, "server": server}
    try:
        yield state
    finally:
        server.stop(signal.SIGKILL)
        state["ddb"].stop()
        tables.configure(settings)


@pytest.mark.slow
def test_database_outage_and_recovery(outage_env) -> None:
    server: LiveServer = outage_env["server"]
    alice = token_for("alice-" + uuid.uuid4().hex[:6])
    r = post(server, MY_LOANS, alice)
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    assert httpx.get(server.url + "/readyz").status_code == 200

    # when DynamoDB stops
    outage_env["ddb"].stop()

    # then /readyz fails fast
    started = time.monotonic()
    ready = httpx.get(server.url + "/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert time.monotonic() - started < 5

    # and queries, by a known user and by a new one, are SERVICE_UNAVAILABLE: no hang, no 500
    # (a page not read before: the one alice read may still be served from the
    # page cache, which no commit can have made stale while the database is down)
    for who in (alice, token_for("newcomer-" + uuid.uuid4().hex[:6])):
        started = time.monotonic()
        r = post(server, MY_LOANS.replace("first: 5", "first: 4"), who)
        elapsed = time.monotonic() - started
        assert r.status_code == 200, r.text
        body = r.json()
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"SERVICE_UNAVAILABLE"}, body
        assert "Traceback" not in r.text and "botocore" not in r.text
        assert elapsed < 10, f"took {elapsed:.1f}s"
    assert "SERVICE_UNAVAILABLE" in server.log()

    # when DynamoDB is back on the same port (in memory, so the tables are recreated)
    outage_env["ddb"] = DynamoDBLocal(port=outage_env["port"]).start()
    create_tables(outage_env["ddb"].endpoint, outage_env["prefix"])

    # then the server recovers by itself
    deadline = time.monotonic() + 20
    while httpx.get(server.url + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "did not become ready again"
        time.sleep(0.2)
    r = post(server, MY_LOANS, alice)
    assert r.status_code == 200 and "errors" not in r.json(), r.text

    # and /metrics saw the failed DynamoDB calls
    metrics = httpx.get(server.url + "/metrics").text
    assert (
        'loangraph_dynamodb_errors_total{code="EndpointConnectionError"' in metrics
        or "loangraph_dynamodb_errors_total{code=" in metrics
    )


@pytest.mark.slow
def test_graceful_shutdown(outage_env) -> None:
    server: LiveServer = outage_env["server"]
    ddb: DynamoDBLocal = outage_env["ddb"]
    borrower = token_for("borrower-" + uuid.uuid4().hex[:6])
    created = post(
        server,
        CREATE_LOAN,
        borrower,
        {
            "input": {
                "title": "Shutdown test",
                "amount": "1000.00",
                "interestRate": "5.0",
                "termMonths": 12,
            }
        },
    ).json()
    loan_id = created["data"]["createLoan"]["loan"]["id"]

    async def scenario() -> tuple[int | None, httpx.Response]:
        url = server.url.replace("http", "ws") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"authorization": f"Bearer {borrower}"}}
                )
            )
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": FUNDING, "variables": {"id": loan_id}},
                    }
                )
            )
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["type"] == "next", first

            # given a request in flight (the database is paused under it)
            assert ddb.proc is not None
            os.kill(ddb.proc.pid, signal.SIGSTOP)
            box: dict[str, httpx.Response] = {}
            worker = threading.Thread(
                target=lambda: box.setdefault("r", post(server, MY_LOANS, borrower, timeout=30))
            )
            worker.start()
            await asyncio.sleep(0.5)

            # when the server is asked to stop, and the database resumes a moment later
            server.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.7)
            os.kill(ddb.proc.pid, signal.SIGCONT)

            # then the subscription is closed with 1012 (service restart)
            code = None
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 15)
            except websockets.ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
            await asyncio.to_thread(worker.join, 30)
            return code, box["r"]

    code, in_flight = asyncio.run(scenario())
    assert code == 1012
    # and the in-flight request completed normally
    assert in_flight.status_code == 200, in_flight.text
    assert "errors" not in in_flight.json(), in_flight.text
    # and the process exits by itself, cleanly (uvicorn re-raises SIGTERM after its
    # graceful shutdown, so the status is "terminated by SIGTERM", not a crash)
    assert server.proc.wait(timeout=20) in (0, -signal.SIGTERM)
    assert "Traceback" not in server.log()
