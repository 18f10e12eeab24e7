"""The reference frontend (frontend/, docs/frontend.md): typed documents that
fail the build when they stop matching the schema, trusted documents (the
codegen manifest imported by the CLI and at start-up, allow-list mode, hashes
over HTTP and WebSocket), and both builds (Apollo Client, urql) driven through
four journeys in headless Chromium against a real `loangraph serve`.

(Over 400 lines on purpose: the gates and journeys share one server in
allow-list mode and its imported manifest, set up once for the module.)"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from guards.apq import sha256_hex
from tests.ops.conftest import ARTIFACTS, ROOT, LiveServer, start_server
from tests.subscriptions.client import (
    CREATE,
    INVITE,
    http_gql,
    recv,
    token_for,
    ws_connect,
)

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SCRIPT = ROOT / "tests/frontend/frontend_journeys.mjs"
MANIFEST = ROOT / "frontend/dist/persisted-documents.json"
CLI = str(ROOT / ".venv/bin/loangraph")
# What only the test's set-up sends (imported as a manifest of its own).
SETUP_DOCS = [CREATE, INVITE]


def manifest() -> dict[str, str]:
    return json.loads(MANIFEST.read_text())


def hash_of(operation: str) -> str:
    """The manifest hash of the frontend's operation `operation` (e.g. 'query Viewer')."""
    found = [k for k, doc in manifest().items() if re.search(rf"\b{operation}\b", doc)]
    assert len(found) == 1, (operation, found)
    return found[0].removeprefix("sha256:")


def cli(endpoint: str, prefix: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LOANGRAPH_DYNAMODB_ENDPOINT": endpoint,
        "LOANGRAPH_TABLE_PREFIX": prefix,
    }
    return subprocess.run(
        [CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"f{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="module")
def server_env(prefix: str) -> dict[str, str]:
    """Allow-list mode, the frontend's manifest loaded at start-up."""
    return {
        "LOANGRAPH_TABLE_PREFIX": prefix,
        "LOANGRAPH_PERSISTED_QUERIES": "allowlist",
        "LOANGRAPH_PERSISTED_DOCUMENTS": str(MANIFEST),
    }


@pytest.fixture(scope="module")
def setup_docs_imported(
    server: LiveServer,
    dynamodb_endpoint: str,
    prefix: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The set-up's own documents join the allow-list through the CLI, in one
    manifest with the frontend's, which the server already loaded at start-up."""
    path = tmp_path_factory.mktemp("manifest") / "setup.json"
    docs = {**manifest(), **{f"sha256:{sha256_hex(d)}": d for d in SETUP_DOCS}}
    path.write_text(json.dumps(docs))
    run = cli(dynamodb_endpoint, prefix, "persisted-queries", "import", str(path))
    assert run.returncode == 0, run.stderr
    stored = len(manifest())
    assert run.stdout.strip() == f"imported {len(SETUP_DOCS)} document(s); {stored} already stored"


def test_codegen_fails_when_an_operation_stops_matching_the_schema(tmp_path: Path) -> None:
    # given the schema without a field the frontend selects (Loan.fundingPercentage)
    sdl = (ROOT / "schema/schema.graphql").read_text()
    loan_type = re.search(r"type Loan implements Node \{.*?\n\}", sdl, re.S)
    assert loan_type is not None
    # (the field and its description)
    broken = re.sub(
        r'\n\n  """[^\n]*"""\n  fundingPercentage: Decimal!\n', "\n", loan_type.group(0)
    )
    assert broken != loan_type.group(0)
    (tmp_path / "schema.graphql").write_text(sdl.replace(loan_type.group(0), broken))
    env = {
        **os.environ,
        "CODEGEN_SCHEMA": str(tmp_path / "schema.graphql"),
        "CODEGEN_OUT": str(tmp_path / "gql") + "/",
    }
    # when the frontend's codegen runs against it
    run = subprocess.run(
        ["node", "frontend/build.mjs", "--check-only"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    # then the build fails and names the field
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "fundingPercentage" in out, out[-3000:]
    assert not (tmp_path / "gql/persisted-documents.json").exists()


def test_the_manifest_is_the_sha256_of_each_document_with_typenames() -> None:
    docs = manifest()
    ops = r"\b(?:query|mutation|subscription) \w+"
    names = sorted(name for d in docs.values() for name in re.findall(ops, d))
    assert names == [
        "mutation AcceptInvitation",
        "mutation DeclineInvitation",
        "query LoanPage",
        "query MyInvitations",
        "query MyLoans",
        "query Viewer",
        "subscription FundingProgress",
    ]
    for key, doc in docs.items():
        assert key == f"sha256:{sha256_hex(doc)}"
        assert "__typename" in doc


def test_import_refuses_a_bad_manifest_and_stores_nothing(
    dynamodb_endpoint: str, tmp_path: Path
) -> None:
    prefix = f"g{uuid.uuid4().hex[:8]}_"
    good = "query Viewer { viewer { id } }"
    wrong_hash = tmp_path / "wrong.json"
    wrong_hash.write_text(json.dumps({"sha256:" + "0" * 64: good}))
    r = cli(dynamodb_endpoint, prefix, "persisted-queries", "import", str(wrong_hash))
    assert r.returncode == 2
    assert "is not the sha256 of its document" in r.stderr
    assert "Traceback" not in r.stderr

    stale = "query Old { viewer { noSuchField } }"
    mixed = tmp_path / "stale.json"
    mixed.write_text(json.dumps({sha256_hex(good): good, sha256_hex(stale): stale}))
    r = cli(dynamodb_endpoint, prefix, "persisted-queries", "import", str(mixed))
    assert r.returncode == 2
    assert "does not match the schema" in r.stderr and "noSuchField" in r.stderr

    # nothing of the refused manifests was stored: the good one imports in full
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({sha256_hex(good): good}))
    r = cli(dynamodb_endpoint, prefix, "persisted-queries", "import", str(ok))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "imported 1 document(s); 0 already stored"


def test_a_bad_manifest_at_start_up_stops_the_server(
    dynamodb_endpoint: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sha256:" + "0" * 64: "query Viewer { viewer { id } }"}))
    try:
        s = start_server(dynamodb_endpoint, tmp_path, LOANGRAPH_PERSISTED_DOCUMENTS=str(bad))
    except RuntimeError as exc:
        assert "is not the sha256 of its document" in str(exc)  # noqa: PT017
    else:
        s.stop()
        pytest.fail("the server started with a bad manifest")


def test_allow_list_serves_the_frontend_by_hash_and_refuses_other_text(
    server: LiveServer,
) -> None:
    token = token_for("u-" + uuid.uuid4().hex[:6], "viewer@example.com")
    headers = {"Authorization": f"Bearer {token}"}
    # the page and its bundles come from the server, with a strict CSP
    for client in ("apollo", "urql"):
        page = httpx.get(f"{server.url}/app/{client}/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert f'src="/app/assets/{client}.js"' in page.text
        js = httpx.get(f"{server.url}/app/assets/{client}.js")
        assert js.status_code == 200 and len(js.content) > 10_000
    assert httpx.get(f"{server.url}/app/other/").status_code == 404
    assert httpx.get(f"{server.url}/app/assets/persisted-documents.json").status_code == 404

    # a manifest hash runs with no document text (loaded at start-up)
    r = httpx.post(
        f"{server.url}/graphql",
        json={
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash_of("query Viewer")}}
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["viewer"]["email"] == "viewer@example.com"

    # any other document is refused with the existing code
    r = httpx.post(
        f"{server.url}/graphql", json={"query": "{ viewer { id email } }"}, headers=headers
    )
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
    assert "data" not in r.json() or r.json()["data"] is None


async def test_subscriptions_run_by_hash_over_the_socket(
    server: LiveServer, setup_docs_imported: None
) -> None:
    borrower = "b-" + uuid.uuid4().hex[:6]
    tb = token_for(borrower, f"{borrower}@example.com")
    d = await http_gql(
        server.url,
        CREATE,
        {"i": {"title": "Socket", "amount": "500", "interestRate": "3", "termMonths": 6}},
        tb,
    )
    loan = d["createLoan"]["loan"]["id"]
    ws = await ws_connect(server.url, "graphql-transport-ws")
    try:
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {tb}"}})
        )
        assert (await recv(ws))["type"] == "connection_ack"

        def subscribe(op_id: str, sha: str) -> str:
            return json.dumps(
                {
                    "id": op_id,
                    "type": "subscribe",
                    "payload": {
                        "query": "",
                        "variables": {"loanId": loan},
                        "extensions": {"persistedQuery": {"version": 1, "sha256Hash": sha}},
                    },
                }
            )

        # an unknown hash: an error message with the allow-list's code
        await ws.send(subscribe("1", "f" * 64))
        msg = await recv(ws)
        assert (msg["type"], msg["id"]) == ("error", "1")
        assert msg["payload"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"
        # the frontend's subscription by hash: the loan's current state at once
        await ws.send(subscribe("2", hash_of("subscription FundingProgress")))
        msg = await recv(ws)
        assert msg["type"] == "next", msg
        update = msg["payload"]["data"]["fundingProgress"]
        assert update["loan"]["id"] == loan and update["loan"]["title"] == "Socket"
    finally:
        await ws.close()


async def _journey_data(base: str, tag: str) -> dict[str, object]:
    """A borrower with 7 loans; loan L (1000) invites three lenders at 250; loan M
    (1000) invites two at 600, one of whom has accepted (so the other overfunds)."""

    def user(role: str) -> tuple[str, str]:
        sub = f"{role}-{tag}-{uuid.uuid4().hex[:6]}"
        return sub, token_for(sub, f"{sub}@example.com")

    borrower, tb = user("borrower")
    other, t_other = user("other")
    lender, t_lender = user("lender")
    first, t_first = user("first")
    late, t_late = user("late")
    loans = []
    for n in range(1, 8):
        d = await http_gql(
            base,
            CREATE,
            {"i": {"title": f"Loan {n}", "amount": "1000", "interestRate": "5", "termMonths": 12}},
            tb,
        )
        loans.append(d["createLoan"]["loan"]["id"])
    loan, full = loans[1], loans[4]

    async def invite(loan_id: str, who: str, amount: str) -> str:
        d = await http_gql(
            base,
            INVITE,
            {"i": {"loanId": loan_id, "email": f"{who}@example.com", "amount": amount}},
            tb,
        )
        assert d["inviteParticipant"]["errors"] == [], d
        return d["inviteParticipant"]["participant"]["id"]

    p_other = await invite(loan, other, "250")
    await invite(loan, lender, "250")
    p_first = await invite(full, first, "600")
    await invite(full, late, "600")
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post(
            "/graphql",
            json={
                "variables": {"input": {"participantId": p_first}},
                "extensions": {
                    "persistedQuery": {
                        "version": 1,
                        "sha256Hash": hash_of("mutation AcceptInvitation"),
                    }
                },
            },
            headers={"Authorization": f"Bearer {t_first}"},
        )
        assert r.json()["data"]["acceptInvitation"]["errors"] == [], r.text
    return {
        "loans": loans,
        "loan": loan,
        "fullLoan": full,
        "borrowerToken": tb,
        "otherLenderToken": t_other,
        "subscriptionParticipant": p_other,
        "lenderToken": t_lender,
        "lenderEmail": f"{lender}@example.com",
        "lateLenderToken": t_late,
    }


@pytest.mark.parametrize("client", ["apollo", "urql"])
async def test_browser_journeys(server: LiveServer, setup_docs_imported: None, client: str) -> None:
    data = await _journey_data(server.url, client)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cfg = {
        **data,
        "base": server.url,
        "client": client,
        "shots": str(ARTIFACTS),
        "acceptHash": hash_of("mutation AcceptInvitation"),
        "loanPageHash": hash_of("query LoanPage"),
    }
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        json.dumps(cfg),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM_PATH": CHROMIUM, "HOME": str(ARTIFACTS)},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 150)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = [x for x in out.decode().splitlines() if x.startswith("{")]
    assert lines, err.decode()[-3000:]
    result = json.loads(lines[-1])
    (ARTIFACTS / f"frontend-{client}-result.json").write_text(json.dumps(result, indent=1))
    assert result["ok"], f"{result.get('error')}\n{err.decode()[-3000:]}"
    assert result["consoleErrors"] == []
    assert result["offLoopback"] == []

    # 1. three pages through two cursors: every loan once, in order, then no more
    pages = result["list"]["pages"]
    assert [len(p) for p in pages] == [3, 6, 7]
    assert pages[-1] == data["loans"] and len(set(pages[-1])) == 7
    assert pages[1][:3] == pages[0] and pages[2][:6] == pages[1]
    assert result["list"]["titles"] == [f"Loan {n}" for n in range(1, 8)]
    assert result["list"]["loadMoreHidden"]

    # 2. the borrower's loan page moved with an acceptance made by someone else
    before, after = result["borrowerBefore"], result["borrowerAfter"]
    assert before["id"] == data["loan"] and before["title"] == "Loan 2"
    assert before["funding"] == 0 and before["live"] == "live"
    assert after["funding"] == 25 and after["label"] == "Funded: 25.00%"
    assert after["summary"] == "250.00 USD of 1,000.00 USD · 1 of 2 participants accepted"
    assert sum("Accepted" in p for p in after["participants"]) == 1
    assert after["noReload"] == "kept"
    assert before["tokenStored"] == "eyJ"
    assert not any(data["borrowerToken"] in u for u in result["requests"])  # type: ignore[operator]

    # 3. the lender's acceptance shows on the loan page without a reload
    lb, la = result["lenderBefore"], result["lenderAfter"]
    assert lb["participants"] == [f"{data['lenderEmail']} 250.00 USD Pending"]
    assert result["acceptMessage"] == "Accepted: Loan 2"
    assert la["participants"] == [f"{data['lenderEmail']} 250.00 USD Accepted"]
    assert la["funding"] == 50 and la["noReload"] == "kept"
    first = result["lenderFirstFrame"]
    if client == "apollo":
        # the normalized cache already held the mutation's payload: the page's
        # first frame shows it, before the subscription is live, with no refetch
        assert first == {"participants": ["ACCEPTED"], "funding": 50, "live": "connecting"}
        assert result["loanPageRefetched"] is False
    else:
        # urql's document cache dropped the stale page (the payload is a Loan) and
        # fetched it again
        assert result["loanPageRefetched"] is True

    # 4. OVERFUNDED is shown to the user as a payload error, not thrown
    refusal = result["refusal"]
    assert refusal["visible"] and refusal["code"] == "OVERFUNDED"
    assert refusal["text"].startswith("OVERFUNDED: ")
    assert refusal["status"] == "PENDING"

    # and no document text went on the wire: hashes only, over HTTP and the socket
    sent = result["bodies"] + result["frames"]
    assert any('"subscribe"' in f for f in result["frames"])
    for raw in sent:
        body = json.loads(raw)
        for op in body if isinstance(body, list) else [body]:
            payload = op.get("payload") if isinstance(op.get("payload"), dict) else op
            assert not payload.get("query"), raw
    for shot in ("list", "loan", "accepted", "refusal"):
        assert (ARTIFACTS / f"frontend-{client}-{shot}.png").stat().st_size > 5_000
