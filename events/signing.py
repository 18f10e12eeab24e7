"""Webhook signatures: `X-Loangraph-Signature: t=<unix seconds>,v1=<hex>` where
hex = HMAC-SHA256(secret, "<t>.<raw body>"). Receivers check the HMAC in
constant time and reject timestamps more than 5 minutes from their clock
(replay protection). Several `v1=` entries may appear (secret rotation): any
one matching is enough."""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Loangraph-Signature"
EVENT_ID_HEADER = "X-Loangraph-Event-Id"
EVENT_TYPE_HEADER = "X-Loangraph-Event-Type"
DEFAULT_TOLERANCE_SECONDS = 300


class InvalidSignature(Exception):
    """The signature header is missing, malformed, stale or does not match."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def compute(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    """Hex HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
    message = str(int(timestamp)).encode() + b"." + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, timestamp: int | None = None) -> str:
    """The `X-Loangraph-Signature` header value for `body`."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={compute(secret, t, body)}"


def parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in (header or "").split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise InvalidSignature("malformed timestamp") from None
        elif key == "v1":
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        raise InvalidSignature("signature header needs t= and v1=")
    return timestamp, signatures


def verify(
    secret: str | bytes,
    body: str | bytes,
    header: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> int:
    """Check a signature header against the raw body; returns its timestamp.

    Raises InvalidSignature when it does not match or is outside `tolerance`."""
    timestamp, signatures = parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise InvalidSignature("timestamp outside the tolerance window")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, s) for s in signatures):
        raise InvalidSignature("signature does not match")
    return timestamp


def is_valid(secret: str | bytes, body: str | bytes, header: str, **kwargs: float) -> bool:
    try:
        verify(secret, body, header, **kwargs)
    except InvalidSignature:
        return False
    return True
