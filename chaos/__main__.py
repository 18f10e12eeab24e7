"""`python -m chaos [--duration 180] [--clients 6] [--fault-rate 0.02] [--seed 1]`:
exits 1 when an invariant is broken."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from chaos.soak import run


def main() -> None:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--fault-rate", type=float, default=0.02, help="probability per fault kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--dynamodb-endpoint", help="an existing DynamoDB Local (default: start one)"
    )
    parser.add_argument("--memory-bound-mb", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    report = asyncio.run(
        run(
            duration=args.duration,
            clients=args.clients,
            fault_rate=args.fault_rate,
            seed=args.seed,
            dynamodb_endpoint=args.dynamodb_endpoint,
            memory_bound_mb=args.memory_bound_mb,
        )
    )
    print(report.table())
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
