"""Verified tokens are cached (core.auth.TOKENS) without changing who gets in:
never past `exp`, never across settings, never for a key the JWKS no longer
serves, never for a token that failed its check."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from core.auth import DEV_SECRET, TOKENS, AuthError, TokenCache, decode_token, jwks_keys, mint_token
from server import create_app
from tests.graphql_client import gql
from tests.read.test_jwt_rs256 import AUDIENCE, ISSUER, keypair, rs256


def test_a_cached_token_never_outlives_its_exp(settings):
    token = mint_token(settings, sub="short", ttl_seconds=60)
    viewer = decode_token(token, settings)
    key = TokenCache.key(token, settings)
    hits = TOKENS.hits
    assert decode_token(token, settings) == viewer
    assert TOKENS.hits == hits + 1  # the second check came from the cache
    assert viewer.expires_at is not None
    entry = TOKENS.get(key, viewer.expires_at - 1)
    assert entry is not None and entry.until <= viewer.expires_at
    assert TOKENS.get(key, viewer.expires_at) is None  # expired: gone
    misses = TOKENS.misses
    assert decode_token(token, settings) == viewer  # verified again (not expired yet)
    assert TOKENS.misses == misses + 1


def test_a_long_lived_token_is_verified_again_after_max_age(settings):
    token = mint_token(settings, sub="long", ttl_seconds=24 * 3600)
    before = time.time()
    decode_token(token, settings)
    entry = TOKENS.get(TokenCache.key(token, settings), time.time())
    assert entry is not None
    assert entry.until <= time.time() + TokenCache.MAX_AGE
    assert TOKENS.get(TokenCache.key(token, settings), before + TokenCache.MAX_AGE + 1) is None


def test_a_token_cached_under_one_setting_is_checked_under_another(settings):
    token = mint_token(settings, sub="moved")
    assert decode_token(token, settings).user_id == "moved"
    with pytest.raises(AuthError):
        decode_token(token, settings.with_(jwt_secret="another-secret-0123456789abcdef0123"))
    with pytest.raises(AuthError):
        decode_token(token, settings.with_(jwt_audience="another-app"))
    dev = settings.with_(jwt_secret=DEV_SECRET)
    dev_token = mint_token(dev, sub="dev")
    assert decode_token(dev_token, dev).user_id == "dev"
    # with a JWKS configured the development secret is refused, cached or not
    with pytest.raises(AuthError):
        decode_token(dev_token, dev.with_(jwks="/nonexistent/jwks.json"))


def test_failed_tokens_are_not_cached(settings):
    token = mint_token(settings, sub="forged")
    head, body, sig = token.split(".")
    forged = f"{head}.{body}.{sig[:-4]}AAAA"
    for _ in range(2):
        with pytest.raises(AuthError):
            decode_token(forged, settings)
    assert TOKENS.get(TokenCache.key(forged, settings), time.time()) is None
    expired = mint_token(settings, sub="late", ttl_seconds=-60)
    for _ in range(2):
        with pytest.raises(AuthError, match="expired"):
            decode_token(expired, settings)


class _JWKS:
    """A JWKS URL whose keys the test replaces (a rotation at the identity provider)."""

    def __init__(self, jwk: dict) -> None:
        self.body = json.dumps({"keys": [jwk]}).encode()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"


async def test_a_rotated_out_key_ends_its_cached_tokens(settings):
    (k1, jwk1), (_, jwk2) = keypair("r1"), keypair("r2")
    idp = _JWKS(jwk1)
    try:
        s = settings.with_(jwks=idp.url, jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
        token = rs256(k1, "r1", sub="rotated")
        app = create_app(s, start_background=False)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            for _ in range(2):
                r = await gql(c, "{ viewer { userId } }", token=token)
                assert r["data"]["viewer"]["userId"] == "rotated"
            assert TOKENS.get(TokenCache.key(token, s), time.time()) is not None
            # the identity provider drops r1; the next lookup refetches the JWKS
            idp.body = json.dumps({"keys": [jwk2]}).encode()
            keys = jwks_keys(idp.url)
            keys.ttl = keys.min_interval = 0.0
            r = await gql(c, "{ viewer { userId } }", token=token)
            assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", r
            r = await gql(c, "{ viewer { userId } }", token=token)
            assert r["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    finally:
        idp.httpd.shutdown()
        idp.httpd.server_close()
