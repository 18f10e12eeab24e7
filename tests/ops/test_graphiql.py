"""GraphiQL in a real browser: Debian's chromium, headless, driven by
playwright-core from tests/ops/graphiql_browser.mjs, against `loangraph serve`."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from core.auth import mint_token
from core.settings import Settings
from tests.conftest import TEST_JWT_SECRET
from tests.ops.conftest import ROOT, LiveServer

SCRIPT = ROOT / "tests/ops/graphiql_browser.mjs"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.slow
def test_graphiql_runs_a_query_offline(server: LiveServer, artifacts) -> None:
    # given a token, as `loangraph token --sub browser-user --email ...` prints it
    token = mint_token(
        Settings(jwt_secret=TEST_JWT_SECRET), sub="browser-user", email="browser-user@example.com"
    )
    screenshot = artifacts / "graphiql.png"
    screenshot.unlink(missing_ok=True)

    # when GraphiQL is opened, the token put in the Headers editor and a query run
    out = subprocess.run(
        ["node", str(SCRIPT), server.url, token, str(screenshot)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
        env={"PATH": "/usr/bin:/bin", "CHROMIUM_PATH": CHROMIUM, "HOME": str(artifacts)},
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])

    # then the page loaded from the server alone and the result rendered
    assert result["ok"], result.get("error")
    assert result["offLoopback"] == [], "requests left loopback"
    assert result["title"] == "loangraph · GraphiQL"
    assert result["defaultQueryShown"], "the default query is missing"
    # the default tab walks the lending story in order, with its variables
    story = ["CreateLoan", "InviteBob", "WatchFunding", "MyInvitations", "Accept", "MyLoans"]
    found = [
        re.search(rf"\b(query|mutation|subscription) {name}\b", result["defaultQuery"])
        for name in story
    ]
    positions = [m.start() if m else -1 for m in found]
    assert -1 not in positions and positions == sorted(positions), result["defaultQuery"]
    assert json.loads(result["defaultVariables"])["loan"]["title"] == "Bakery oven"
    assert result["status"] == 200
    assert result["sentAuthorization"].startswith("Bearer ey")
    assert '"userId": "browser-user"' in result["rendered"].replace("\xa0", " ")
    assert result["consoleErrors"] == []
    assert screenshot.stat().st_size > 10_000

    # the token lives in the tab's sessionStorage only: never in localStorage, and
    # what an older page left there (a token included) is removed
    full_token = f"Bearer {token}"
    for stage in ("afterQuery", "afterReload"):
        stores = result[stage]
        assert token not in stores["local"], stage
        assert "OLD-TOKEN" not in stores["local"], stage
        assert "graphiql:" not in stores["local"], stage
        assert token in stores["session"], stage
        assert stores["violations"] == [], stage
    assert full_token in result["headersAfterReload"]

    # a strict CSP: nothing inline runs unless hashed, no framing
    csp = dict((d.strip().split(" ", 1) + [""])[:2] for d in result["csp"].split(";") if d.strip())
    assert csp["default-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert "'unsafe-inline'" not in csp["style-src"]
    assert csp["connect-src"] == "'self'"
    assert result["framedHasGraphiQL"] is False
