"""The live funding page (/loans/<gid>/live) in a real browser: Debian's
chromium, headless, driven by playwright-core from tests/live/live_page.mjs,
against `loangraph serve`. The page loads from the server alone, shows the
loan, and its progress bar and chart move within 2 s of an acceptance made
through the API."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from tests.ops.conftest import ARTIFACTS, ROOT, LiveServer
from tests.subscriptions.client import ACCEPT, CREATE, http_gql, loan_with_invites, token_for

SCRIPT = ROOT / "tests/live/live_page.mjs"
ASSETS = ("/assets/live/live.js", "/assets/live/live.css", "/assets/graphql-ws/graphql-ws.min.js")
BATCH = """mutation($i: InviteParticipantsInput!) {
  inviteParticipants(input: $i) {
    results { participant { id } errors { code message } } } }"""
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = pytest.mark.slow


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def loan_with_many_points(base: str, borrower: str, invites: int, accepts: int) -> str:
    """A loan whose funding history holds invites + accepts points (a loan holds
    at most 97 participants, so acceptances make up the rest)."""
    token = token_for(borrower, f"{borrower}@example.com")
    d = await http_gql(
        base,
        CREATE,
        {"i": {"title": "Busy", "amount": "100000", "interestRate": "4", "termMonths": 24}},
        token,
    )
    loan = d["createLoan"]["loan"]["id"]
    lenders = [uid("m") for _ in range(invites)]
    items = [{"email": f"{m}@example.com", "amount": "10"} for m in lenders]
    d = await http_gql(base, BATCH, {"i": {"loanId": loan, "invites": items}}, token)
    results = d["inviteParticipants"]["results"]
    assert [r["errors"] for r in results if r["errors"]] == []
    for m, r in list(zip(lenders, results, strict=True))[:accepts]:
        d = await http_gql(
            base,
            ACCEPT,
            {"i": {"participantId": r["participant"]["id"]}},
            token_for(m, f"{m}@example.com"),
        )
        assert d["acceptInvitation"]["errors"] == []
    return loan


async def read_json_line(stream: asyncio.StreamReader, timeout: float) -> dict:
    while True:
        line = await asyncio.wait_for(stream.readline(), timeout)
        if not line:
            raise AssertionError("the browser script ended early")
        text = line.decode().strip()
        if text.startswith("{"):
            return json.loads(text)


def test_route_serves_the_page_and_its_assets_only_for_loan_ids(server: LiveServer) -> None:
    gid = "TG9hbjoxMjM="  # base64 of "Loan:123"
    page = httpx.get(f"{server.url}/loans/{gid}/live")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert '<label for="token">Access token</label>' in page.text
    for asset in ASSETS:
        assert asset in page.text
        assert httpx.get(server.url + asset).status_code == 200, asset
    # not a Loan id, or not an id at all
    user_gid = "VXNlcjp1LTE="  # base64 of "User:u-1"
    assert httpx.get(f"{server.url}/loans/{user_gid}/live").status_code == 404
    assert httpx.get(f"{server.url}/loans/not-an-id/live").status_code == 404


async def test_live_page_follows_an_acceptance_within_two_seconds(server: LiveServer) -> None:
    # given a loan with two invitations, viewed by its borrower
    borrower, lender, other = uid("b"), uid("l"), uid("l")
    loan, pids = await loan_with_invites(
        server.url,
        borrower,
        [f"{lender}@example.com", f"{other}@example.com"],
        amount="1000",
        each="250",
    )
    big = await loan_with_many_points(server.url, borrower, 60, 41)  # 101 points
    screenshot = ARTIFACTS / "live-page.png"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot.unlink(missing_ok=True)
    borrower_token = token_for(borrower, f"{borrower}@example.com")
    lender_token = token_for(lender, f"{lender}@example.com")

    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        server.url,
        loan,
        borrower_token,
        lender_token,
        str(screenshot),
        big,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM_PATH": CHROMIUM, "HOME": str(ARTIFACTS)},
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        # when the page is open and live (or the script reports why not)
        ready = await read_json_line(proc.stdout, 60)
        assert ready["phase"] == "ready", ready.get("error")

        # and a lender accepts through the API
        d = await http_gql(server.url, ACCEPT, {"i": {"participantId": pids[0]}}, lender_token)
        assert d["acceptInvitation"]["errors"] == []
        proc.stdin.write(b"accepted\n")
        await proc.stdin.drain()
        result = await read_json_line(proc.stdout, 60)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    stderr = (await proc.stderr.read()).decode() if proc.stderr else ""
    assert result["ok"], f"{result.get('error')}\n{stderr}"

    # then everything came from the server: no request left loopback
    assert result["offLoopback"] == [], "requests left loopback"
    assert result["requests"], "no request was recorded"
    assert any(
        u.startswith("ws://127.0.0.1") and u.endswith("/graphql") for u in result["requests"]
    )
    assert result["consoleErrors"] == []

    # and the page showed the loan, its terms, its participants and its history
    before = result["before"]
    assert before["title"] == "Live"
    assert before["terms"] == [
        "Amount 1,000.00 USD",
        "Interest rate 5.00% a year",
        "Term 12 months",
        "Status Pending",
    ]
    assert (before["progress"], before["progressMax"]) == (0, 100)
    assert before["progressLabel"] == "Funded: 0.00%"
    assert before["summary"] == "0.00 USD of 1,000.00 USD · 0 of 2 participants accepted"
    assert sorted(before["participants"]) == sorted(
        [f"{lender}@example.com 250.00 USD Pending", f"{other}@example.com 250.00 USD Pending"]
    )
    assert before["participantsNote"] == ""
    assert before["chartPoints"] >= 1 and before["historyRows"] == before["chartPoints"]
    assert before["chartDesc"].startswith("Step chart of the percent funded.")
    assert before["chartBucket"] == "RAW"

    # and a refused token brought the form back, with the reason, and was not kept
    bad = result["badToken"]
    assert bad["message"].startswith("The token was not accepted")
    assert bad["formVisible"] and bad["stored"] is None

    # and the token was taken once, kept in sessionStorage, never in the URL or any request URL
    assert before["tokenStored"] == "eyJ" and before["tokenField"] == ""
    assert borrower_token not in before["href"]
    assert not any(borrower_token in u or lender_token in u for u in result["requests"])
    assert result["formHiddenAfterReload"] and result["afterReload"]["title"] == "Live"

    # and within 2 s of the acceptance the bar and the chart moved
    after = result["after"]
    assert result["elapsedMs"] < 2000
    assert after["progress"] == 25
    assert after["progressLabel"] == "Funded: 25.00%"
    assert after["chartPoints"] > result["afterReload"]["chartPoints"]
    assert after["chartLast"] == "25.00"
    assert after["chartPath"] != result["afterReload"]["chartPath"]
    assert after["historyRows"] == after["chartPoints"]
    assert f"{lender}@example.com 250.00 USD Accepted" in after["participants"]
    assert after["summary"] == "250.00 USD of 1,000.00 USD · 1 of 2 participants accepted"

    # and the lender, in their own session, sees only their own participation
    seen = result["lender"]
    assert seen["title"] == "Live" and seen["progress"] == 25
    assert seen["participants"] == [f"{lender}@example.com 250.00 USD Accepted"]
    assert seen["participantsNote"].startswith("As a lender you see only your own participation")
    # and no funding history: its steps would reveal the other lender's amount
    assert seen["chartCardHidden"] is True and seen["chartPointsNow"] == 0
    assert seen["historyNote"].startswith("The funding history is shown to the borrower only")
    assert seen["conn"] == "live"
    assert before["chartCardHidden"] is False and before["historyNote"] == ""

    # and a loan with more points than one page is charted by the hour (or day), whole
    big_view = result["big"]
    assert big_view["chartBucket"] == "HOUR"
    assert 1 <= big_view["chartPoints"] <= 2  # 101 changes, maybe across an hour boundary
    assert "One point per hour (UTC)" in big_view["chartCaption"]
    assert "One point per hour (UTC)" in big_view["chartDesc"]
    assert big_view["chartLast"] == "0.41"  # 41 x 10 of 100000
    assert len(big_view["participants"]) == 60

    # and a screenshot is there for inspection
    assert Path(screenshot).stat().st_size > 10_000
