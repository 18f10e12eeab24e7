"""docs/subscriptions.md stays true: its client examples (examples/subscribe.mjs
with `graphql-ws`, examples/subscribe.py with `gql`, both protocols) run against a
real `loangraph serve`, print the loan's current state, then the update an
acceptance made through the API causes, and end cleanly when the loan is deleted."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from typing import Any

import pytest

from tests.ops.conftest import ROOT, LiveServer
from tests.subscriptions.client import ACCEPT, DELETE, http_gql, loan_with_invites, token_for

NODE = ["node", str(ROOT / "examples/subscribe.mjs")]
PYTHON = [str(ROOT / ".venv/bin/python"), str(ROOT / "examples/subscribe.py")]
CLIENTS = {
    "node-graphql-ws": NODE,
    "python-gql": PYTHON,
    "python-gql-legacy-protocol": [*PYTHON, "--protocol", "graphql-ws"],
}


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ws_url(server: LiveServer) -> str:
    return server.url.replace("http://", "ws://") + "/graphql"


class Example:
    """One example running as a subprocess; reads the JSON lines it prints."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(
        cls, cmd: list[str], args: list[str], env: dict[str, str] | None = None
    ) -> Example:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            *args,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc)

    async def update(self, timeout: float = 15.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            _, err = await self.finish()
            raise AssertionError(f"example exited {self.proc.returncode} early: {err}")
        return json.loads(line)

    async def finish(self, timeout: float = 15.0) -> tuple[str, str]:
        """Wait for the exit; (rest of stdout, stderr)."""
        out, err = await asyncio.wait_for(self.proc.communicate(), timeout)
        return out.decode(), err.decode()

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.communicate()


@pytest.mark.parametrize("client", CLIENTS)
async def test_example_prints_the_current_state_then_each_update(
    server: LiveServer, client: str
) -> None:
    borrower, lender = uid("b"), uid("l")
    tb, tl = (
        token_for(borrower, f"{borrower}@example.com"),
        token_for(lender, f"{lender}@example.com"),
    )
    loan, (pid,) = await loan_with_invites(server.url, borrower, [f"{lender}@example.com"])
    if client.startswith("node"):  # the documented environment variables
        example = await Example.start(
            CLIENTS[client],
            [],
            {"LOANGRAPH_WS_URL": ws_url(server), "LOANGRAPH_TOKEN": tl, "LOAN_ID": loan},
        )
    else:  # the documented arguments
        example = await Example.start(CLIENTS[client], [ws_url(server), tb, loan])
    try:
        first = await example.update()
        assert first["event"] == "LOAN_UPDATED"
        assert (
            first["totalFunded"],
            first["acceptedParticipantCount"],
            first["participantCount"],
        ) == ("0.00", 0, 1)

        d = await http_gql(server.url, ACCEPT, {"i": {"participantId": pid}}, tl)
        assert d["acceptInvitation"]["errors"] == []
        update = await example.update()
        assert update["event"] == "PARTICIPANT_ACCEPTED"
        assert (
            update["totalFunded"],
            update["fundingPercentage"],
            update["acceptedParticipantCount"],
        ) == (
            "10.00",
            "1.00",
            1,
        )

        d = await http_gql(server.url, DELETE, {"i": {"id": loan, "reason": "docs example"}}, tb)
        assert d["deleteLoan"]["errors"] == []
        last = await example.update()
        assert last["event"] == "LOAN_DELETED"
        out, err = await example.finish()
        assert example.proc.returncode == 0 and out == "", (out, err)  # `complete` ends it
    finally:
        await example.kill()


@pytest.mark.parametrize("client", CLIENTS)
async def test_example_reports_a_refused_token_and_a_forbidden_loan(
    server: LiveServer, client: str
) -> None:
    borrower, stranger = uid("b"), uid("s")
    loan, _ = await loan_with_invites(server.url, borrower, [])

    example = await Example.start(CLIENTS[client], [ws_url(server), "not-a-token", loan])
    out, err = await example.finish(timeout=30)
    assert example.proc.returncode == 1 and out == "", (out, err)
    # graphql-transport-ws closes with 4403; legacy graphql-ws answers connection_error.
    assert ("invalid token" if client.endswith("legacy-protocol") else "closed 4403") in err, err

    example = await Example.start(
        CLIENTS[client], [ws_url(server), token_for(stranger, f"{stranger}@example.com"), loan]
    )
    out, err = await example.finish(timeout=30)
    assert example.proc.returncode == 1 and out == "", (out, err)
    assert "error FORBIDDEN:" in err, err
