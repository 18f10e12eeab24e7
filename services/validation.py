"""Input validation: exact money and rates (never rounded), ISO 4217 currencies,
real email addresses, bounded text. Errors name the field as a path into the
mutation input, e.g. ["input", "invites", "2", "email"]."""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from core.errors import DomainError, DomainErrors

CENT = Decimal("0.01")
RATE_QUANTUM = Decimal("0.0001")
# 10^13 - 0.01: far above any private loan, well inside DynamoDB's 38 digits.
MAX_MONEY = Decimal("9999999999999.99")
MAX_TITLE = 200
MAX_REASON = 1000
MAX_TERM_MONTHS = 600

# ISO 4217 active codes (funds and precious metals excluded).
_ISO_4217_CODES = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
    IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL
    LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR
    NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
    SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX
    USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def path(*parts: object) -> list[str]:
    return [str(p) for p in parts]


def _decimal(value: Any, field: list[str], what: str) -> Decimal:
    if isinstance(value, bool | float):
        # Floats cannot carry money exactly; the API's Decimal scalar never sends one.
        raise DomainError("VALIDATION", f"{what} must be a decimal string, not a float", field)
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError("VALIDATION", f"{what} is not a number", field) from None
    if not d.is_finite():
        raise DomainError("VALIDATION", f"{what} must be a finite number", field)
    return d


def _places(d: Decimal) -> int:
    """Decimal places that matter ("1.50" has 1). Read from the digits, not with
    `normalize()`, which overflows the context for exponents like 1E+999999999."""
    _, digits, exp = d.as_tuple()
    if not isinstance(exp, int) or not any(digits):
        return 0
    trailing_zeros = len(digits) - len(bytes(digits).rstrip(b"\0"))
    return max(0, -(exp + trailing_zeros))


def money(value: Any, field: list[str], what: str = "Amount") -> Decimal:
    """> 0, at most 2 decimal places, stored quantized to cents."""
    d = _decimal(value, field, what)
    if d <= 0:
        raise DomainError("VALIDATION", f"{what} must be greater than 0", field)
    if _places(d) > 2:
        raise DomainError("VALIDATION", f"{what} must have at most 2 decimal places", field)
    if d > MAX_MONEY:
        raise DomainError("VALIDATION", f"{what} must be at most {MAX_MONEY}", field)
    return d.quantize(CENT)


def interest_rate(value: Any, field: list[str]) -> Decimal:
    """0..100 percent, at most 4 decimal places, stored with 4."""
    d = _decimal(value, field, "Interest rate")
    if d < 0 or d > 100:
        raise DomainError("VALIDATION", "Interest rate must be between 0 and 100", field)
    if _places(d) > 4:
        raise DomainError("VALIDATION", "Interest rate must have at most 4 decimal places", field)
    return d.quantize(RATE_QUANTUM)


def term_months(value: Any, field: list[str]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = int(value)
        else:
            raise DomainError("VALIDATION", "Term must be a whole number of months", field)
    if not 1 <= value <= MAX_TERM_MONTHS:
        raise DomainError(
            "VALIDATION", f"Term must be between 1 and {MAX_TERM_MONTHS} months", field
        )
    return value


def currency(value: Any, field: list[str]) -> str:
    code = str(value or "").strip().upper()
    if code not in ISO_4217:
        raise DomainError("VALIDATION", f"{value!r} is not an ISO 4217 currency code", field)
    return code


def title(value: Any, field: list[str]) -> str:
    text = str(value if value is not None else "").strip()
    if not 1 <= len(text) <= MAX_TITLE:
        raise DomainError("VALIDATION", f"Title must be 1 to {MAX_TITLE} characters", field)
    return text


def email(value: Any, field: list[str]) -> str:
    text = str(value if value is not None else "").strip()
    local, _, _domain = text.partition("@")
    if len(text) > 254 or len(local) > 64 or not _EMAIL.match(text):
        raise DomainError("VALIDATION", f"{value!r} is not a valid email address", field)
    return text.lower()


def reason(value: Any, field: list[str], *, required: bool, what: str = "Reason") -> str | None:
    text = str(value).strip() if value is not None else ""
    if not text:
        if required:
            raise DomainError("VALIDATION", f"{what} is required", field)
        return None
    if len(text) > MAX_REASON:
        raise DomainError("VALIDATION", f"{what} must be at most {MAX_REASON} characters", field)
    return text


def list_size(items: Sequence[Any], field: list[str], limit: int, what: str = "List") -> None:
    if len(items) > limit:
        raise DomainError(
            "VALIDATION", f"{what} holds {len(items)} items; at most {limit} allowed", field
        )
    if not items:
        raise DomainError("VALIDATION", f"{what} must not be empty", field)


class Collector:
    """Collect several validation errors and raise them together."""

    def __init__(self) -> None:
        self.errors: list[DomainError] = []

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DomainError as exc:
            self.errors.append(exc)
            return None

    def raise_if_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise DomainErrors(self.errors)
