"""Configuration from `LOANGRAPH_*` environment variables (docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any, overload

PREFIX = "LOANGRAPH_"


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
@overload
def _env(name: str, default: str | None) -> str | None: ...
def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(PREFIX + name)
    return default if value is None or value == "" else value


def _bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _optional_int(name: str) -> int | None:
    value = _env(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{PREFIX}{name}={value!r} is not a number") from None


def env_region() -> str | None:
    """AWS_REGION, else AWS_DEFAULT_REGION (as boto3 reads them); None when neither is set."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = (os.environ.get(name) or "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # None: start the embedded DynamoDB Local, unless AWS_REGION or
    # AWS_DEFAULT_REGION is set: real AWS (see `database`).
    dynamodb_endpoint: str | None = None
    aws_region: str = "us-east-1"
    # Whether AWS_REGION or AWS_DEFAULT_REGION was set (not the default region).
    aws_region_set: bool = False
    table_prefix: str = "loangraph_"
    data_dir: str = ".data"
    # HS256 secret for development tokens. Never use the default in production.
    jwt_secret: str = "dev-secret-change-me-please-32bytes!"
    jwks: str | None = None
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    cursor_secret: str | None = None
    cursor_ttl_seconds: int = 7 * 24 * 3600
    redis_url: str | None = None
    rate_limit_points: int = 5000
    rate_limit_backend: str = "memory"
    cache_ttl_seconds: float = 5.0
    # The page cache (loaders.page_cache): rows held (a page weighs its rows + 1;
    # 0 turns it off) and how long a page may outlive a missed event.
    page_cache_size: int = 20_000
    page_cache_ttl_seconds: float = 60.0
    # apq (automatic persisted queries), allowlist (only registered documents run), off
    persisted_queries: str = "apq"
    # A persisted-documents manifest (JSON hash -> document) imported at start-up.
    persisted_documents: str | None = None
    webhook_allow_private: bool = False
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_horizon_seconds: float = 3 * 24 * 3600
    webhook_disable_after: int = 20
    # How long a worker's claim on a webhook delivery lasts.
    webhook_lease_seconds: float = 30.0
    # Lease of the one event dispatcher tailing the audit stream.
    stream_lease_seconds: float = 15.0
    # Whether a server runs the dispatcher and webhook delivery: auto (only without
    # Redis), always, never.
    server_events: str = "auto"
    create_tables: bool = True
    db_threads: int = 32
    # botocore retries of every DynamoDB call (core/retry.py): standard or adaptive
    # mode, attempts in all (first one included), socket timeouts in seconds.
    db_retry_mode: str = "standard"
    db_max_attempts: int = 5
    db_connect_timeout: float = 2.0
    db_read_timeout: float = 10.0
    log_level: str = "INFO"
    # json (one object per line) or text; every process (server, worker, CLI) uses it.
    log_format: str = "json"
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    # A WebSocket must send connection_init within this time (both protocols), or 4408.
    ws_init_timeout_seconds: float = 10.0
    # gc.freeze() each time a replica's subscriptions grow by this many (events/gc_freeze.py).
    gc_freeze_subscriptions: int = 200
    # /metrics on its own listener (same host) instead of the API port.
    metrics_port: int | None = None
    # When set, /metrics (wherever served) needs `Authorization: Bearer <token>`.
    metrics_token: str | None = None
    # Ed25519 key that signs acceptance receipts: a PEM (PKCS#8) file path or the
    # PEM text itself; unset: <data_dir>/receipt-key.pem, generated on first use.
    receipt_key: str | None = None
    # Retired receipt public keys still published (a JWKS file); unset:
    # <data_dir>/receipt-keys-retired.json when it exists (docs/evidence.md).
    receipt_retired_keys: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        d = cls()
        return cls(
            host=_env("HOST", d.host),
            port=int(_env("PORT", str(d.port))),
            dynamodb_endpoint=_env("DYNAMODB_ENDPOINT"),
            aws_region=env_region() or d.aws_region,
            aws_region_set=env_region() is not None,
            table_prefix=_env("TABLE_PREFIX", d.table_prefix),
            data_dir=_env("DATA_DIR", d.data_dir),
            jwt_secret=_env("JWT_SECRET", d.jwt_secret),
            jwks=_env("JWKS"),
            jwt_audience=_env("JWT_AUDIENCE"),
            jwt_issuer=_env("JWT_ISSUER"),
            cursor_secret=_env("CURSOR_SECRET"),
            cursor_ttl_seconds=int(_env("CURSOR_TTL_SECONDS", str(d.cursor_ttl_seconds))),
            redis_url=_env("REDIS_URL"),
            rate_limit_points=int(_env("RATE_LIMIT_POINTS", str(d.rate_limit_points))),
            rate_limit_backend=(
                _env("RATE_LIMIT_BACKEND", d.rate_limit_backend) or "memory"
            ).lower(),
            cache_ttl_seconds=float(_env("CACHE_TTL_SECONDS", str(d.cache_ttl_seconds))),
            page_cache_size=int(_env("PAGE_CACHE_SIZE", str(d.page_cache_size))),
            page_cache_ttl_seconds=float(
                _env("PAGE_CACHE_TTL_SECONDS", str(d.page_cache_ttl_seconds))
            ),
            persisted_queries=(_env("PERSISTED_QUERIES", d.persisted_queries) or "apq").lower(),
            persisted_documents=_env("PERSISTED_DOCUMENTS"),
            webhook_allow_private=_bool("WEBHOOK_ALLOW_PRIVATE", d.webhook_allow_private),
            webhook_retry_base_seconds=float(
                _env("WEBHOOK_RETRY_BASE_SECONDS", str(d.webhook_retry_base_seconds))
            ),
            webhook_retry_horizon_seconds=float(
                _env("WEBHOOK_RETRY_HORIZON_SECONDS", str(d.webhook_retry_horizon_seconds))
            ),
            webhook_disable_after=int(_env("WEBHOOK_DISABLE_AFTER", str(d.webhook_disable_after))),
            webhook_lease_seconds=float(
                _env("WEBHOOK_LEASE_SECONDS", str(d.webhook_lease_seconds))
            ),
            stream_lease_seconds=float(_env("STREAM_LEASE_SECONDS", str(d.stream_lease_seconds))),
            server_events=(_env("SERVER_EVENTS", d.server_events) or "auto").strip().lower(),
            create_tables=_bool("CREATE_TABLES", d.create_tables),
            db_threads=int(_env("DB_THREADS", str(d.db_threads))),
            db_retry_mode=(_env("DB_RETRY_MODE", d.db_retry_mode) or "standard").lower(),
            db_max_attempts=int(_env("DB_MAX_ATTEMPTS", str(d.db_max_attempts))),
            db_connect_timeout=float(_env("DB_CONNECT_TIMEOUT", str(d.db_connect_timeout))),
            db_read_timeout=float(_env("DB_READ_TIMEOUT", str(d.db_read_timeout))),
            log_level=_env("LOG_LEVEL", d.log_level),
            ws_init_timeout_seconds=float(
                _env("WS_INIT_TIMEOUT_SECONDS", str(d.ws_init_timeout_seconds))
            ),
            gc_freeze_subscriptions=int(
                _env("GC_FREEZE_SUBSCRIPTIONS", str(d.gc_freeze_subscriptions))
            ),
            log_format=(_env("LOG_FORMAT", d.log_format) or "json").strip().lower(),
            allowed_origins=tuple(
                o.strip() for o in (_env("ALLOWED_ORIGINS", "") or "").split(",") if o.strip()
            ),
            metrics_port=_optional_int("METRICS_PORT"),
            metrics_token=_env("METRICS_TOKEN"),
            receipt_key=_env("RECEIPT_KEY"),
            receipt_retired_keys=_env("RECEIPT_RETIRED_KEYS"),
        )

    def __post_init__(self) -> None:
        choices = {
            "rate_limit_backend": ("memory", "dynamodb"),
            "persisted_queries": ("apq", "allowlist", "off"),
            "server_events": ("auto", "always", "never"),
            "log_format": ("json", "text"),
            "db_retry_mode": ("standard", "adaptive"),
        }
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(
                    f"{PREFIX}{name.upper()}={value!r} is not one of: {', '.join(allowed)}"
                )
        if self.metrics_port is not None:
            if not 1 <= self.metrics_port <= 65535:
                raise ValueError(f"{PREFIX}METRICS_PORT={self.metrics_port} is not a TCP port")
            if self.metrics_port == self.port:
                raise ValueError(
                    f"{PREFIX}METRICS_PORT must differ from {PREFIX}PORT ({self.port}): it moves "
                    "/metrics off the API listener"
                )
        if self.metrics_token is not None and len(self.metrics_token) < 16:
            raise ValueError(f"{PREFIX}METRICS_TOKEN must be at least 16 characters")

    @property
    def database(self) -> str:
        """Which DynamoDB every command uses, decided here only: `endpoint`
        (LOANGRAPH_DYNAMODB_ENDPOINT), `aws` (no endpoint, AWS_REGION or
        AWS_DEFAULT_REGION set) or `embedded` (start DynamoDB Local)."""
        if self.dynamodb_endpoint:
            return "endpoint"
        return "aws" if self.aws_region_set else "embedded"

    @property
    def signing_secret(self) -> bytes:
        """Key for cursors and other server-signed tokens."""
        return (self.cursor_secret or self.jwt_secret + ":cursor").encode()

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env()


def reset_settings() -> None:
    get_settings.cache_clear()


SETTING_NAMES = [f.name for f in fields(Settings)]
