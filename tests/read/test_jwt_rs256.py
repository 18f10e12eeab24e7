"""RS256 tokens verified against a JWKS, from a file and from a URL; with a JWKS
configured the built-in development HS256 secret is refused."""

from __future__ import annotations

import json
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from core.auth import DEV_SECRET, mint_token
from server import create_app
from tests.graphql_client import gql
from tests.jwks import JWKSServer

ISSUER = "https://idp.example.com/"
AUDIENCE = "loangraph-api"


def keypair(kid: str):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid=kid, use="sig", alg="RS256")
    return key, jwk


def rs256(key, kid: str, sub: str = "rs-user", **claims) -> str:
    now = int(time.time())
    return jwt.encode(
        {
            "sub": sub,
            "email": f"{sub}@example.com",
            "email_verified": True,
            "exp": now + 600,
            "iss": ISSUER,
            "aud": AUDIENCE,
            **claims,
        },
        key,
        algorithm="RS256",
        headers={"kid": kid},
    )


@pytest.fixture(scope="module")
def keys():
    return keypair("k1"), keypair("k2")


async def viewer(settings, token: str) -> dict:
    app = create_app(settings, start_background=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
    ):
        return await gql(c, "{ viewer { userId email } }", token=token)


async def test_jwks_file(settings, keys, tmp_path):
    (k1, jwk1), (k2, _) = keys
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [jwk1]}))
    s = settings.with_(
        jwks=str(path), jwt_secret=DEV_SECRET, jwt_issuer=ISSUER, jwt_audience=AUDIENCE
    )
    r = await viewer(s, rs256(k1, "k1"))
    assert r["data"]["viewer"] == {"userId": "rs-user", "email": "rs-user@example.com"}
    # signed by a key the JWKS does not hold
    r = await viewer(s, rs256(k2, "k1"))
    assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # another issuer, another audience, or neither: refused
    for claims in ({"iss": "https://evil.example/"}, {"aud": "other-app"}):
        r = await viewer(s, rs256(k1, "k1", **claims))
        assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", claims
    no_aud = jwt.encode(
        {"sub": "x", "iss": ISSUER, "exp": int(time.time()) + 600}, k1, "RS256", {"kid": "k1"}
    )
    r = await viewer(s, no_aud)
    assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # an email the identity provider has not verified grants nothing
    for verified in (False, None, "true"):
        extra = {} if verified is None else {"email_verified": verified}
        token = rs256(k1, "k1", sub="unverified", **extra)
        if verified is None:
            claims = jwt.decode(token, options={"verify_signature": False})
            claims.pop("email_verified")
            token = jwt.encode(claims, k1, "RS256", {"kid": "k1"})
        r = await viewer(s, token)
        assert r["data"]["viewer"] == {"userId": "unverified", "email": None}, verified
    # the development secret is not accepted once a JWKS is configured
    r = await viewer(s, mint_token(s, sub="dev"))
    assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_jwks_url(settings, keys):
    (k1, jwk1), _ = keys
    server = JWKSServer(jwk1)
    try:
        s = settings.with_(jwks=server.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
        r = await viewer(s, rs256(k1, "k1", sub="url-user"))
        assert r["data"]["viewer"]["userId"] == "url-user"
        # an explicitly configured HS256 secret keeps working beside the JWKS
        r = await viewer(s, mint_token(s, sub="hs-user"))
        assert r["data"]["viewer"]["userId"] == "hs-user"
    finally:
        server.close()
