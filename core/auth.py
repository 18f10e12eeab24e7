"""Bearer JWT authentication: HS256 with a shared secret (development), RS256
with a JWKS file or URL (production). Claims: sub, email, roles.

A verified token is remembered (`TOKENS`, keyed by its exact text and the
settings that verify it) until its `exp` or for `TokenCache.MAX_AGE` seconds,
whichever comes first, so a client sending the same token on every request
costs one signature check per token, not one per request. What it caches is
who the token says the caller is, never what they may do (that is decided per
request). Never past `exp` (stricter than a fresh check, which allows 30 s of
clock skew). An RS256 token is served from it only while the JWKS still serves
the very key that verified it for its `kid` (looked up as a fresh check would:
a rotated-out key, an unknown kid, a refetch, all behave as before)."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from cachetools import LRUCache
from jwt.types import Options

from core.settings import Settings

DEV_SECRET = Settings().jwt_secret
log = logging.getLogger("loangraph.auth")


@dataclass(frozen=True)
class Viewer:
    user_id: str
    email: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)
    display_name: str | None = None
    # The token's `exp` (Unix seconds): sockets end their session then.
    expires_at: float | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def expired(self, now: float | None = None) -> bool:
        return self.expires_at is not None and (now or time.time()) >= self.expires_at


class AuthError(Exception):
    """The request carried a token that is missing a claim, expired or forged."""


EXPIRED = (
    "invalid token: the token has expired. In development mint a new one with "
    "`.venv/bin/loangraph token --sub <user id> --email <email>` (valid 24 h; --ttl SECONDS "
    "for longer); in production ask your identity provider for a fresh token"
)


def bearer_token(header_value: str | None) -> str | None:
    if not header_value:
        return None
    scheme, _, token = header_value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("Authorization header must be 'Bearer <token>'")
    return token.strip()


class JWKSCache:
    """The keys of a JWKS URL, fetched at most once per `min_interval` seconds
    whatever callers ask: a token with an unknown `kid` (a forgery, or a key not
    yet published) and a failed fetch are answered from the cache until then, so
    a flood of forged tokens cannot become a flood of fetches. Known keys are
    refreshed after `ttl` and kept while the JWKS cannot be fetched. One fetch at
    a time (callers run in worker threads, never on the event loop)."""

    def __init__(
        self, url: str, *, ttl: float = 300.0, min_interval: float = 30.0, timeout: float = 5.0
    ) -> None:
        self.url = url
        self.ttl = ttl
        self.min_interval = min_interval
        self._client = jwt.PyJWKClient(url, cache_keys=False, cache_jwk_set=False, timeout=timeout)
        self._keys: dict[str | None, Any] = {}
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._lock = threading.Lock()
        self.fetches = 0

    def key(self, kid: str | None) -> Any:
        now = time.monotonic()
        with self._lock:
            fresh = now - self._fetched_at < self.ttl
            if not (fresh and kid in self._keys) and now - self._attempted_at >= self.min_interval:
                self._attempted_at = now
                self._refresh(now)
            key = self._keys.get(kid)
        if key is None:
            raise AuthError("no JWKS key matches the token's kid")
        return key

    def _refresh(self, now: float) -> None:
        self.fetches += 1
        try:
            jwk_set = self._client.get_jwk_set(refresh=True)
        except jwt.PyJWKClientError as exc:
            log.warning("JWKS fetch from %s failed: %s", self.url, exc)
            return
        keys: dict[str | None, Any] = {k.key_id: k.key for k in jwk_set.keys}
        if len(jwk_set.keys) == 1:
            keys.setdefault(None, jwk_set.keys[0].key)  # a token without kid, one key
        self._keys = keys
        self._fetched_at = now


class _JWKSFile:
    def __init__(self, path: str) -> None:
        self._set = jwt.PyJWKSet.from_dict(json.loads(Path(path).read_text()))

    def key(self, kid: str | None) -> Any:
        for key in self._set.keys:
            if kid is None or key.key_id == kid:
                return key.key
        raise AuthError("no JWKS key matches the token's kid")


@lru_cache(maxsize=4)
def jwks_keys(source: str) -> JWKSCache | _JWKSFile:
    if is_url(source):
        return JWKSCache(source)
    return _JWKSFile(source)


def is_url(source: str | None) -> bool:
    return source is not None and source.startswith(("http://", "https://"))


def _rs256_key(token: str, source: str) -> Any:  # a PyJWK's key (cryptography's public key)
    kid = jwt.get_unverified_header(token).get("kid")
    if kid is not None and not isinstance(kid, str):
        raise AuthError("invalid token: 'kid' must be a string")
    return jwks_keys(source).key(kid)


class UnsafeConfiguration(RuntimeError):
    """Settings that must never serve real traffic (checked by every way of starting the app)."""


def check_token_settings(settings: Settings) -> None:
    """Refuse settings under which anyone could mint or replay tokens:
    - real AWS (no DynamoDB endpoint) with the public development HS256 secret and
      no JWKS: the secret is in this repository, so anyone could sign tokens;
    - a JWKS without an issuer and an audience: any token the identity provider
      signs for any other application would be accepted here."""
    if not settings.dynamodb_endpoint and settings.jwt_secret == DEV_SECRET and not settings.jwks:
        raise UnsafeConfiguration(
            "refusing to serve real AWS with the development JWT secret: set LOANGRAPH_JWKS "
            "(RS256, with LOANGRAPH_JWT_ISSUER and LOANGRAPH_JWT_AUDIENCE) or "
            "LOANGRAPH_JWT_SECRET"
        )
    if settings.jwks and not (settings.jwt_issuer and settings.jwt_audience):
        raise UnsafeConfiguration(
            "LOANGRAPH_JWKS needs LOANGRAPH_JWT_ISSUER and LOANGRAPH_JWT_AUDIENCE: tokens "
            "are accepted only from that issuer, for this audience"
        )


@dataclass(frozen=True, slots=True)
class _Verified:
    viewer: Viewer
    until: float  # Unix seconds: min(exp, verified at + MAX_AGE)
    kid: str | None
    key: object | None  # RS256: the JWKS key that verified it; HS256: None


class TokenCache:
    """Verified tokens by their exact text (and the settings that verified them)."""

    MAX_AGE = 300.0
    MAX_TOKEN_CHARS = 8192  # longer ones are verified every time (memory bound)

    def __init__(self, maxsize: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._entries: LRUCache[tuple[str, ...], _Verified] = LRUCache(maxsize=maxsize)
        self.hits = self.misses = 0

    @staticmethod
    def key(token: str, settings: Settings) -> tuple[Any, ...]:
        return (
            token,
            settings.jwt_secret,
            settings.jwt_issuer,
            settings.jwt_audience,
            settings.jwks,
        )

    def get(self, key: tuple[Any, ...], now: float) -> _Verified | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now >= found.until:
                del self._entries[key]
                found = None
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return found

    def put(self, key: tuple[Any, ...], entry: _Verified) -> None:
        if len(key[0]) <= self.MAX_TOKEN_CHARS:
            with self._lock:
                self._entries[key] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


TOKENS = TokenCache()


def decode_token(token: str, settings: Settings) -> Viewer:
    """The viewer a bearer token names, or AuthError."""
    key = TokenCache.key(token, settings)
    hit = TOKENS.get(key, time.time())
    if hit is not None:
        if hit.key is None:
            return hit.viewer
        # RS256: only while the JWKS serves the same key for this kid (raises as
        # a fresh check would when the kid is no longer known).
        if jwks_keys(settings.jwks).key(hit.kid) is hit.key:
            return hit.viewer
    viewer, kid, used = _verify(token, settings)
    if viewer.expires_at is not None:
        until = min(viewer.expires_at, time.time() + TokenCache.MAX_AGE)
        TOKENS.put(key, _Verified(viewer, until, kid, used))
    return viewer


def _verify(token: str, settings: Settings) -> tuple[Viewer, str | None, object | None]:
    """The full check: signature, algorithm, exp (30 s leeway), issuer, audience, claims."""
    require = ["sub", "exp"]
    if settings.jwt_issuer:
        require.append("iss")
    if settings.jwt_audience:
        require.append("aud")
    options: Options = {"require": require, "verify_aud": settings.jwt_audience is not None}
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        kid = header.get("kid")
        used: object | None = None
        if alg == "RS256" and settings.jwks:
            key: Any = _rs256_key(token, settings.jwks)
            used = key
            algorithms = ["RS256"]
        elif (
            alg == "HS256"
            and settings.jwt_secret
            and not (settings.jwks and settings.jwt_secret == DEV_SECRET)
        ):
            # With a JWKS configured (production), the built-in development
            # secret is never accepted: only a secret set on purpose is.
            key = settings.jwt_secret
            algorithms = ["HS256"]
        else:
            raise AuthError(f"token algorithm {alg!r} is not accepted")
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options=options,
            leeway=30,
        )
    except jwt.ExpiredSignatureError:
        raise AuthError(EXPIRED) from None
    except jwt.PyJWTError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    roles = claims.get("roles") or []
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise AuthError("invalid token: 'roles' must be a list of strings")
    email = claims.get("email")
    if email is not None and not isinstance(email, str):
        raise AuthError("invalid token: 'email' must be a string")
    if algorithms == ["RS256"] and claims.get("email_verified") is not True:
        # An identity provider's unverified email proves nothing: it would let
        # anyone who types a lender's address read that lender's invitations.
        email = None
    exp = claims.get("exp")
    viewer = Viewer(
        user_id=str(claims["sub"]),
        email=email.strip().lower() if email else None,
        roles=tuple(roles),
        display_name=claims.get("name") if isinstance(claims.get("name"), str) else None,
        expires_at=float(exp) if isinstance(exp, int | float) else None,
    )
    return viewer, kid if isinstance(kid, str) else None, used


def mint_token(
    settings: Settings,
    *,
    sub: str,
    email: str | None = None,
    admin: bool = False,
    name: str | None = None,
    ttl_seconds: int = 24 * 3600,
) -> str:
    """A development HS256 token (`loangraph token`)."""
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "iat": now, "exp": now + ttl_seconds, "roles": []}
    if email:
        claims["email"] = email
    if admin:
        claims["roles"] = ["admin"]
    if name:
        claims["name"] = name
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
