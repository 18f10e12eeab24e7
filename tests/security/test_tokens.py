"""Identity attacks against real server processes (issue 10, items 3 and 7):
forged RS256 tokens with unknown key ids must not make the server fetch the JWKS
on the event loop (nor once per request), idempotency keys must not cross users,
and unsafe token settings must stop the app however it is started."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.jwks import JWKSServer
from tests.ops.conftest import ROOT, start_server
from tests.security.conftest import while_probing
from tests.subscriptions.client import token_for

ISSUER = "https://idp.example.com/"
AUDIENCE = "loangraph-api"
# A slow identity provider: each JWKS fetch takes 2 s. Before the fix a forged
# token stalled the loop for two fetches (4 s); a probe now never waits one
# fetch's time, with room for a loaded machine (1.45 s seen with 1 s fetches).
FETCH_DELAY = 2.0


@pytest.fixture(scope="module")
def rsa_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="real-key", use="sig", alg="RS256")
    return key, jwk


@pytest.fixture(scope="module")
def jwks_server(dynamodb_endpoint, tmp_path_factory, rsa_key):
    jwks = JWKSServer(rsa_key[1], delay=FETCH_DELAY)  # a slow identity provider
    server = start_server(
        dynamodb_endpoint,
        tmp_path_factory.mktemp("jwks"),
        LOANGRAPH_JWKS=jwks.url,
        LOANGRAPH_JWT_ISSUER=ISSUER,
        LOANGRAPH_JWT_AUDIENCE=AUDIENCE,
    )
    try:
        yield server, jwks
    finally:
        server.stop()
        jwks.close()


CREATE = (
    'mutation($t: String!) { createLoan(input: {title: $t, amount: "100", interestRate: "5", '
    "termMonths: 12}) { loan { title } } }"
)


def forged(kid: str) -> str:
    """An RS256 token signed by a key nobody published, naming an unknown kid."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "mallory", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600}
    return jwt.encode(claims, key, "RS256", {"kid": kid})


async def test_forged_tokens_never_stall_the_loop_nor_flood_the_jwks(jwks_server, rsa_key):
    server, jwks = jwks_server
    # A real token first: the JWKS is fetched once and cached.
    real = jwt.encode(
        {"sub": "ok-user", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600},
        rsa_key[0],
        "RS256",
        {"kid": "real-key"},
    )
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r = await c.post(
            "/graphql",
            json={"query": "{ viewer { userId } }"},
            headers={"authorization": f"Bearer {real}"},
        )
        assert r.json()["data"]["viewer"]["userId"] == "ok-user"
    before = jwks.fetches
    assert before >= 1
    tokens = [forged(f"kid-{i}") for i in range(40)]

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            return await asyncio.gather(
                *(
                    c.post(
                        "/graphql",
                        json={"query": CREATE, "variables": {"t": "forged"}},
                        headers={
                            "authorization": f"Bearer {t}",
                            "idempotency-key": uuid.uuid4().hex,
                        },
                    )
                    for t in tokens
                )
            )

    responses, latencies = await while_probing(server.url, flood())
    for r in responses:
        assert r.status_code == 200, r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", r.text
    # Before: two synchronous fetches per forged token, on the event loop
    # (2.75 s of stall each). Now: at most one fetch per 30 s, in a thread.
    assert jwks.fetches - before <= 1, jwks.fetches
    assert max(latencies) < FETCH_DELAY, latencies


async def test_idempotency_keys_are_namespaced_per_user(server):
    """User `team#a` with key `1` and user `team` with key `a#1` are two keys."""
    doc = CREATE
    suffix = uuid.uuid4().hex[:6]
    first = token_for(f"team{suffix}#a", f"a{suffix}@example.com")
    second = token_for(f"team{suffix}", f"b{suffix}@example.com")
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as c:
        r1 = await c.post(
            "/graphql",
            json={"query": doc, "variables": {"t": "first"}},
            headers={"authorization": f"Bearer {first}", "idempotency-key": "1"},
        )
        r2 = await c.post(
            "/graphql",
            json={"query": doc, "variables": {"t": "first"}},
            headers={"authorization": f"Bearer {second}", "idempotency-key": "a#1"},
        )
    assert r1.json()["data"]["createLoan"]["loan"]["title"] == "first"
    # Not a replay of the other user's response: a fresh execution of its own.
    assert "idempotent-replayed" not in r2.headers
    assert r2.json()["data"]["createLoan"]["loan"]["title"] == "first"


def _run_factory(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("LOANGRAPH_", "AWS_"))}
    environ.update(env)
    return subprocess.run(
        [
            str(ROOT / ".venv/bin/python"),
            "-m",
            "uvicorn",
            "--factory",
            "server:app_from_env",
            "--port",
            "0",
        ],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        # real AWS (a region, no endpoint) with the public development secret
        ({"AWS_REGION": "eu-west-1"}, "development JWT secret"),
        # a JWKS without issuer and audience
        (
            {"LOANGRAPH_DYNAMODB_ENDPOINT": "http://127.0.0.1:1", "LOANGRAPH_JWKS": "/dev/null"},
            "LOANGRAPH_JWT_ISSUER",
        ),
    ],
    ids=["dev-secret-on-aws", "jwks-without-iss-aud"],
)
def test_unsafe_token_settings_stop_uvicorn_factory_too(env, message):
    done = _run_factory(env)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr, done.stderr[-2000:]


@pytest.fixture(scope="module")
def server_env() -> dict[str, str]:
    return {}  # the defaults, not the security conftest's webhook settings
