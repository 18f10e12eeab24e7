"""A subscription run from GraphiQL in a real browser shows the funding move."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

from tests.subscriptions.client import loan_with_invites, token_for

ROOT = Path(__file__).resolve().parents[2]


async def test_graphiql_subscription_shows_funding_move(server):
    borrower, lender = f"b-{uuid.uuid4().hex[:6]}", f"l-{uuid.uuid4().hex[:6]}"
    loan, (pid,) = await loan_with_invites(server.url, borrower, [f"{lender}@example.com"])
    artifacts = ROOT / "tests/artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [
            "node",
            str(ROOT / "tests/subscriptions/graphiql_subscription.mjs"),
            server.url,
            token_for(borrower, f"{borrower}@example.com"),
            loan,
            token_for(lender, f"{lender}@example.com"),
            pid,
            str(artifacts / "graphiql-subscription.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    result = (
        json.loads(out.stdout.strip().splitlines()[-1])
        if out.stdout.strip()
        else {"stderr": out.stderr}
    )
    assert result.get("ok"), result
    assert result["acceptStatus"] == 200
    assert '"event": "PARTICIPANT_ACCEPTED"' in result["updated"]
    assert result["updateMs"] < 2000
