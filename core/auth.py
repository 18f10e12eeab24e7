"""Bearer JWT authentication: HS256 with a shared secret (development), RS256
with a JWKS file or URL (production). Claims: sub, email, roles."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import jwt

from core.settings import Settings

DEV_SECRET = Settings().jwt_secret


@dataclass(frozen=True)
class Viewer:
    user_id: str
    email: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)
    display_name: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


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


@lru_cache(maxsize=4)
def _jwks_client(source: str) -> jwt.PyJWKClient | jwt.PyJWKSet:
    if source.startswith(("http://", "https://")):
        return jwt.PyJWKClient(source, cache_keys=True, lifespan=300)
    return jwt.PyJWKSet.from_dict(json.loads(Path(source).read_text()))


def _rs256_key(token: str, source: str) -> object:
    keys = _jwks_client(source)
    if isinstance(keys, jwt.PyJWKClient):
        return keys.get_signing_key_from_jwt(token).key
    kid = jwt.get_unverified_header(token).get("kid")
    for key in keys.keys:
        if kid is None or key.key_id == kid:
            return key.key
    raise AuthError("no JWKS key matches the token's kid")


def decode_token(token: str, settings: Settings) -> Viewer:
    options = {"require": ["sub", "exp"], "verify_aud": settings.jwt_audience is not None}
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg == "RS256" and settings.jwks:
            key: object = _rs256_key(token, settings.jwks)
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
            key,  # type: ignore[arg-type]
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
    return Viewer(
        user_id=str(claims["sub"]),
        email=email.strip().lower() if email else None,
        roles=tuple(roles),
        display_name=claims.get("name") if isinstance(claims.get("name"), str) else None,
    )


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
