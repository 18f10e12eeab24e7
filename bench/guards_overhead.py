"""Overhead of the guard rails (cost analysis, limits, rate limiter) per request.

    .venv/bin/python -m bench.guards_overhead [--iterations 3000]

Two measurements, no database needed (memory rate-limit backend):

* the guard work alone: list-input check, cost/depth/alias analysis and limit
  checks of a typical loan-page document, one rate-limiter spend, the
  `extensions.cost` block and the X-RateLimit headers;
* A/B through `Schema.execute`: the same document executed by a schema with
  `QueryGuards` and by one without it (both with parser and validation caches,
  so the figure is the guards' cost, hook machinery included, and not parsing).
  The request is unauthenticated, so the
  resolvers refuse at once and the difference is the guards' work.

`run(iterations)` returns the figures (microseconds) for `make bench`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics
import time
from typing import Any

from graphql import parse

LOAN_PAGE = """query LoanPage($id: ID!) {
  loan(id: $id) {
    id loanId title amount currency interestRate termMonths status version
    totalFunded fundingPercentage participantCount acceptedParticipantCount isFullyFunded
    borrower { userId displayName }
    participants(first: 20) {
      pageInfo { hasNextPage endCursor }
      edges { cursor node {
        id participantId lenderEmail contributionAmount status lender { userId displayName }
      } }
    }
    versions(last: 5) { edges { node { version changeReason changedAt } } }
  }
  rateLimit { limit cost remaining resetAt }
}"""
VARIABLES = {"id": "TG9hbjptaXNzaW5n"}


def _percentiles(samples: list[float]) -> dict[str, float]:
    samples = sorted(samples)
    return {
        "mean_us": round(statistics.fmean(samples) * 1e6, 1),
        "p50_us": round(samples[len(samples) // 2] * 1e6, 1),
        "p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
    }


def _setup() -> tuple[Any, dict[str, Any]]:
    from core.settings import Settings
    from guards import install

    settings = Settings(rate_limit_points=10**12)
    state: dict[str, Any] = {}
    install(state, settings)
    return settings, state


def _context(settings: Any, state: dict[str, Any]) -> Any:
    from starlette.responses import Response

    from resolvers.context import Context

    return Context(
        settings=settings, guards=state["guards"], response=Response(), ip_address="192.0.2.1"
    )


async def _guard_work(iterations: int) -> dict[str, float]:
    from guards.cost import actual_cost, analyze
    from guards.limits import check_analysis, check_list_inputs
    from schema import default_schema

    settings, state = _setup()
    guards = state["guards"]
    schema = default_schema()._schema
    document = parse(LOAN_PAGE)
    samples = []
    for _ in range(iterations):
        ctx = _context(settings, state)
        t0 = time.perf_counter()
        check_list_inputs(document, VARIABLES, guards.limits)
        a = analyze(schema, document, None, VARIABLES, max_depth=guards.limits.max_depth)
        check_analysis(a, guards.limits)
        st = await guards.limiter.spend(ctx, max(a.cost, 1))
        ctx.response.headers.update(st.headers())
        actual_cost(a.plan, {"loan": None, "rateLimit": {}})
        samples.append(time.perf_counter() - t0)
    return _percentiles(samples[iterations // 10 :])


async def _execute_ab(iterations: int) -> dict[str, Any]:
    from strawberry.extensions import ParserCache, ValidationCache

    from guards.extension import QueryGuards
    from schema import build_schema

    settings, state = _setup()
    # Both cache validation, so the difference is not drowned in graphql-core's
    # validation (about 1.5 ms for this document). Extension instances, as Strawberry
    # documents them (its hint names classes and factories).
    with_guards = build_schema([QueryGuards, ValidationCache(maxsize=256)])  # type: ignore[list-item]  # instances
    without = build_schema([ParserCache(maxsize=256), ValidationCache(maxsize=256)])  # type: ignore[list-item]  # instances
    out: dict[str, Any] = {}
    for name, schema in (
        ("without", without),
        ("with", with_guards),
        ("without2", without),
        ("with2", with_guards),
    ):
        samples = []
        for _ in range(iterations):
            ctx = _context(settings, state)
            t0 = time.perf_counter()
            result = await schema.execute(LOAN_PAGE, variable_values=VARIABLES, context_value=ctx)
            samples.append(time.perf_counter() - t0)
            assert result.errors  # Unauthenticated: the resolvers stop at once
        out[name] = _percentiles(samples[iterations // 10 :])
    base = min(out["without"]["p50_us"], out["without2"]["p50_us"])
    guarded = min(out["with"]["p50_us"], out["with2"]["p50_us"])
    return {
        "without_guards": out["without"] if out["without"]["p50_us"] == base else out["without2"],
        "with_guards": out["with"] if out["with"]["p50_us"] == guarded else out["with2"],
        "overhead_p50_us": round(guarded - base, 1),
    }


async def _dynamodb_spend(settings: Any, iterations: int) -> dict[str, float]:
    """One conditional UpdateItem per request (the shared backend), end to end."""
    from guards.ratelimit import RateLimiter

    limiter = RateLimiter(settings.with_(rate_limit_backend="dynamodb", rate_limit_points=10**12))
    ctx = _context(settings, {})
    samples = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        await limiter.spend(ctx, 11)
        samples.append(time.perf_counter() - t0)
    return _percentiles(samples[iterations // 10 :])


def run_dynamodb(settings: Any, iterations: int = 500) -> dict[str, float]:
    """The DynamoDB backend's spend against `settings`' (configured) database."""
    return asyncio.run(_dynamodb_spend(settings, iterations))


def run(iterations: int = 3000) -> dict[str, Any]:
    # Strawberry logs every resolver error; the refusals here are expected.
    logging.getLogger("strawberry.execution").setLevel(logging.CRITICAL)
    gc.collect()
    work = asyncio.run(_guard_work(iterations))
    ab = asyncio.run(_execute_ab(iterations))
    return {
        "document": "loan page (2 connections, 20 + 5 items)",
        "iterations": iterations,
        "guard_work": work,
        "execute_ab": ab,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=3000)
    parser.add_argument(
        "--dynamodb",
        action="store_true",
        help="also time the DynamoDB backend (starts DynamoDB Local unless "
        "LOANGRAPH_DYNAMODB_ENDPOINT is set)",
    )
    args = parser.parse_args()
    r = run(args.iterations)
    w, ab = r["guard_work"], r["execute_ab"]
    print(
        f"guard work (analysis + limits + memory rate limiter + headers): "
        f"p50 {w['p50_us']} us, mean {w['mean_us']} us, p99 {w['p99_us']} us"
    )
    print(
        f"Schema.execute without guards: p50 {ab['without_guards']['p50_us']} us; "
        f"with guards: p50 {ab['with_guards']['p50_us']} us; "
        f"overhead p50 {ab['overhead_p50_us']} us"
    )
    if args.dynamodb:
        _print_dynamodb()


def _print_dynamodb() -> None:
    import os
    import uuid

    from core.dynamodb_local import DynamoDBLocal
    from core.settings import Settings
    from models import tables

    endpoint = os.environ.get("LOANGRAPH_DYNAMODB_ENDPOINT")
    local = None if endpoint else DynamoDBLocal().start()
    if local is not None:
        endpoint = local.endpoint
    try:
        settings = Settings(
            dynamodb_endpoint=endpoint,
            table_prefix=f"bench{uuid.uuid4().hex[:6]}_",
        )
        tables.configure(settings)
        tables.create_tables(settings)
        d = run_dynamodb(settings)
        print(
            f"DynamoDB backend spend (one conditional UpdateItem): p50 {d['p50_us']} us, "
            f"p99 {d['p99_us']} us"
        )
    finally:
        if local is not None:
            local.stop()


if __name__ == "__main__":
    main()
