"""Opaque, signed cursors on DynamoDB's own keys.

A cursor is base64url(JSON payload) + "." + truncated HMAC-SHA256. The payload
holds the item's key (as DynamoDB returns it in LastEvaluatedKey), a fingerprint
of the query it came from (field, parent, filter, viewer) and an expiry, so a
tampered, foreign or expired cursor is refused with BAD_USER_INPUT instead of
silently reading another list.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from core.errors import BadUserInput

_SIG_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fingerprint(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode_cursor(key: dict[str, Any], query_fp: str, secret: bytes, ttl_seconds: int) -> str:
    payload = {"k": key, "q": query_fp, "x": int(time.time()) + ttl_seconds}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    sig = _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest()[:_SIG_BYTES])
    return f"{body}.{sig}"


def decode_cursor(cursor: str, query_fp: str, secret: bytes, argument: str) -> dict[str, Any]:
    """The DynamoDB key inside a cursor this server issued for this very query."""
    body, sep, sig = cursor.partition(".")
    try:
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()[:_SIG_BYTES]
        if not sep or not hmac.compare_digest(_unb64(sig), expected):
            raise ValueError("signature")
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadUserInput(f"Invalid cursor in `{argument}`", argument=argument) from None
    if payload.get("q") != query_fp:
        raise BadUserInput(
            f"The cursor in `{argument}` belongs to a different query or filter", argument=argument
        )
    if int(payload.get("x", 0)) < time.time():
        raise BadUserInput(f"The cursor in `{argument}` has expired", argument=argument)
    key = payload.get("k")
    if not isinstance(key, dict):
        raise BadUserInput(f"Invalid cursor in `{argument}`", argument=argument)
    return key
