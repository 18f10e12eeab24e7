"""Benchmarks (`make bench`). Results go to docs/PERFORMANCE.md."""

from core.settings import Settings

BENCH_SECRET = "bench-secret-0123456789abcdef0123456789"


def bench_settings(endpoint: str, prefix: str = "bench_") -> Settings:
    """Settings of a benchmark run on its own DynamoDB Local: no rate limit in
    the way, tables created by the caller (`models.tables`)."""
    return Settings(
        dynamodb_endpoint=endpoint,
        table_prefix=prefix,
        rate_limit_points=10**9,
        create_tables=False,
        jwt_secret=BENCH_SECRET,
    )
