"""Signed acceptance receipts (docs/evidence.md).

When a lender accepts, the acceptance's transaction stores on the participant
a receipt: a canonical JSON payload (`services.chain.canonical_json`) naming
the loan, the participant, the lender, the amount, the terms version and the
SHA-256 of those terms, the time, and the hash of the acceptance's audit
entry, signed with Ed25519. Anyone holding the published public keys
(`/.well-known/receipt-keys.json`, a JWKS) can verify it offline.

Keys: the signing key is `LOANGRAPH_RECEIPT_KEY` (a PEM file path or PEM
text); unset, `<data_dir>/receipt-key.pem`, generated on first use. A key's
id is its RFC 7638 JWK thumbprint. Retired public keys stay published from
`LOANGRAPH_RECEIPT_RETIRED_KEYS` (a JWKS file; default
`<data_dir>/receipt-keys-retired.json`), so a rotation (`loangraph
rotate-receipt-key`) keeps every old receipt verifiable."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.settings import Settings
from services.chain import canonical_json
from services.common import decimal_text, iso

ALGORITHM = "Ed25519"
PAYLOAD_TYPE = "loangraph.acceptance-receipt"
TERM_FIELDS = ("title", "amount", "currency", "interest_rate", "term_months")
DEFAULT_KEY_FILE = "receipt-key.pem"
DEFAULT_RETIRED_FILE = "receipt-keys-retired.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------ keys
def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    # RFC 7638 thumbprint: SHA-256 over the required members, sorted, no spaces.
    thumb = hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest()
    return {**jwk, "kid": b64url(thumb), "alg": "EdDSA", "use": "sig"}


def generate_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_path(settings: Settings) -> Path:
    return Path(settings.data_dir) / DEFAULT_KEY_FILE


def retired_path(settings: Settings) -> Path:
    return Path(settings.receipt_retired_keys or Path(settings.data_dir) / DEFAULT_RETIRED_FILE)


def ensure_key_file(path: Path) -> bool:
    """Create a fresh private key at `path` unless one exists (atomic: two
    processes starting at once end up with the same key). True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(generate_pem())
    try:
        os.link(tmp, path)  # fails if another process won the race
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _load_private(settings: Settings) -> Ed25519PrivateKey:
    value = settings.receipt_key
    if value and value.lstrip().startswith("-----BEGIN"):
        pem = value.encode()
    else:
        path = Path(value) if value else key_path(settings)
        if not value:
            ensure_key_file(path)
        pem = path.read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("LOANGRAPH_RECEIPT_KEY is not an Ed25519 private key")
    return key


def _load_retired(settings: Settings) -> list[dict[str, str]]:
    path = retired_path(settings)
    if not path.exists():
        return []
    return [k for k in json.loads(path.read_text()).get("keys", []) if k.get("kty") == "OKP"]


@dataclass(frozen=True)
class Keyring:
    private: Ed25519PrivateKey
    current: dict[str, str]
    retired: tuple[dict[str, str], ...]

    def jwks(self) -> dict[str, Any]:
        seen = {self.current["kid"]}
        keys = [self.current]
        for k in self.retired:
            if k.get("kid") not in seen:
                seen.add(k["kid"])
                keys.append(k)
        return {"keys": keys}


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], Keyring] = {}


def keyring(settings: Settings) -> Keyring:
    cache_key = (settings.receipt_key, settings.receipt_retired_keys, settings.data_dir)
    with _lock:
        ring = _cache.get(cache_key)
        if ring is None:
            private = _load_private(settings)
            ring = Keyring(
                private, public_jwk(private.public_key()), tuple(_load_retired(settings))
            )
            _cache[cache_key] = ring
        return ring


def reset_cache() -> None:
    with _lock:
        _cache.clear()


def rotate(settings: Settings) -> tuple[str, str]:
    """Retire the default key file's key (its public half stays published) and
    generate a new one. Returns (old kid, new kid)."""
    if settings.receipt_key:
        raise ValueError(
            "LOANGRAPH_RECEIPT_KEY is set: rotate it where it is kept, and add the old "
            "public key to LOANGRAPH_RECEIPT_RETIRED_KEYS"
        )
    path = key_path(settings)
    ensure_key_file(path)
    old = keyring(settings).current
    retired = retired_path(settings)
    doc = json.loads(retired.read_text()) if retired.exists() else {"keys": []}
    if old["kid"] not in {k.get("kid") for k in doc["keys"]}:
        doc["keys"].append(old)
    tmp = retired.with_name(retired.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(retired)
    new = path.with_name(path.name + ".new")
    new.unlink(missing_ok=True)
    ensure_key_file(new)
    new.replace(path)
    reset_cache()
    return old["kid"], keyring(settings).current["kid"]


# ------------------------------------------------------------------ receipts
def terms_digest(terms: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical terms of a LoanVersion: its snapshot's
    title, amount, currency, interest_rate, term_months, as stored (amount at
    cents, the rate at four decimals, both as strings)."""
    return hashlib.sha256(canonical_json({k: terms.get(k) for k in TERM_FIELDS})).hexdigest()


def terms_of(loan: Any) -> dict[str, Any]:
    """The loan's current terms in snapshot form (equal to its LoanVersion's)."""
    out: dict[str, Any] = {}
    for name in TERM_FIELDS:
        value = getattr(loan, name)
        out[name] = decimal_text(name, value) if name in ("amount", "interest_rate") else value
    out["term_months"] = int(out["term_months"])
    return out


def payload_for(
    *,
    loan: Any,
    participant: Any,
    accepted_at: datetime,
    audit_hash: str,
) -> bytes:
    return canonical_json(
        {
            "v": 1,
            "type": PAYLOAD_TYPE,
            "loanId": participant.loan_id,
            "participantId": participant.participant_id,
            "lenderId": participant.lender_id,
            "lenderEmail": participant.lender_email,
            "amount": decimal_text("amount", participant.contribution_amount),
            "currency": loan.currency,
            "termsVersion": int(participant.accepted_version),
            "termsDigest": terms_digest(terms_of(loan)),
            "acceptedAt": iso(accepted_at),
            "auditHash": audit_hash,
        }
    )


def sign(ring: Keyring, payload: bytes) -> dict[str, str]:
    return {
        "payload": payload.decode("ascii"),
        "signature": b64url(ring.private.sign(payload)),
        "keyId": ring.current["kid"],
        "algorithm": ALGORITHM,
    }


class ReceiptInvalid(Exception):
    pass


def verify(receipt: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
    """Check a receipt against a JWKS; returns the parsed payload or raises
    ReceiptInvalid with the reason."""
    try:
        if receipt.get("algorithm") != ALGORITHM:
            raise ReceiptInvalid(f"algorithm {receipt.get('algorithm')!r} is not Ed25519")
        key = next((k for k in jwks.get("keys", []) if k.get("kid") == receipt.get("keyId")), None)
        if key is None:
            raise ReceiptInvalid(f"no published key with kid {receipt.get('keyId')!r}")
        if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
            raise ReceiptInvalid("the key is not an Ed25519 key")
        pub = Ed25519PublicKey.from_public_bytes(b64url_decode(key["x"]))
        payload = str(receipt["payload"]).encode("utf-8")
        pub.verify(b64url_decode(str(receipt["signature"])), payload)
        return json.loads(payload)
    except InvalidSignature:
        raise ReceiptInvalid("the signature does not match the payload") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ReceiptInvalid(f"malformed receipt: {exc}") from None
