#!/usr/bin/env python
"""Watch a loan's funding live: Subscription.fundingProgress with `gql` over
WebSockets (docs/subscriptions.md).

    .venv/bin/python examples/subscribe.py [URL] [TOKEN] [LOAN_ID] [--protocol graphql-ws]

Each argument falls back to an environment variable:
  URL      LOANGRAPH_WS_URL  (default ws://127.0.0.1:8000/graphql)
  TOKEN    LOANGRAPH_TOKEN   (`.venv/bin/loangraph token --sub alice --email alice@example.com`)
  LOAN_ID  LOAN_ID           (the loan's global id, `Loan.id`)

Prints one JSON line per update: the loan's current state first (event
LOAN_UPDATED), then one per committed change. When the connection drops it
reconnects with the last `cursor` it printed and gets every missed change
exactly once, in order. Exits 0 when the server completes
the subscription (the loan was deleted), 1 on an error. Needs `gql[websockets]`
(requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from gql import Client, GraphQLRequest
from gql.transport.exceptions import (
    TransportClosed,
    TransportConnectionFailed,
    TransportError,
    TransportQueryError,
)
from gql.transport.websockets import WebsocketsTransport

FUNDING_PROGRESS = """
subscription FundingProgress($loanId: ID!, $after: String) {
  fundingProgress(loanId: $loanId, after: $after) {
    cursor event totalFunded fundingPercentage participantCount acceptedParticipantCount
    isFullyFunded status version at
  }
}
"""
# Reconnect this many times in a row after a dropped connection (resuming from
# the last cursor), waiting 0.5 s, 1 s, 2 s, 4 s, then 5 s between attempts.
RECONNECT_ATTEMPTS = 10
# Close codes a retry cannot fix: bad token, forbidden, bad request.
FINAL_CLOSE_CODES = {4400, 4401, 4403, 4409, 4429}


async def watch(url: str, token: str, loan_id: str, protocol: str) -> int:
    transport = WebsocketsTransport(
        url=url,
        # Sent in `connection_init`; a missing or invalid token closes the socket (4403).
        init_payload={"authorization": f"Bearer {token}"},
        # graphql-transport-ws (current) or graphql-ws (legacy, subscriptions-transport-ws).
        subprotocols=[protocol],
    )
    seen: dict[str, str | None] = {"cursor": None}  # the last cursor printed
    failures = 0
    while True:
        before = seen["cursor"]
        try:
            await stream(transport, loan_id, seen)
            return 0  # the server completed the subscription (the loan was deleted)
        except (TransportClosed, TransportConnectionFailed, OSError) as exc:
            failures = 1 if seen["cursor"] != before else failures + 1
            if _close_number(exc) in FINAL_CLOSE_CODES or failures > RECONNECT_ATTEMPTS:
                return report(exc)
            # Resume from the last cursor: the server replays what was missed, once.
            print(f"connection lost ({close_code(exc) or exc}); resuming", file=sys.stderr)
            await asyncio.sleep(min(5.0, 0.5 * 2 ** (failures - 1)))
        except TransportError as exc:
            return report(exc)


async def stream(transport: WebsocketsTransport, loan_id: str, seen: dict[str, str | None]) -> None:
    """One connection: print each update, remembering its cursor in `seen`."""
    request = GraphQLRequest(
        FUNDING_PROGRESS,
        variable_values={"loanId": loan_id, "after": seen["cursor"]},
        operation_name="FundingProgress",
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for data in session.subscribe(request):
            update = data["fundingProgress"]
            seen["cursor"] = update["cursor"]
            print(json.dumps(update), flush=True)


def report(exc: BaseException) -> int:
    """Print why the subscription ended; 1."""
    try:
        raise exc
    except TransportQueryError as exc:
        # GraphQL errors for this subscription, e.g. FORBIDDEN (not the borrower, not
        # invited, or no such loan), RATE_LIMITED, TOO_MANY_SUBSCRIPTIONS.
        for error in exc.errors or [{"message": str(exc)}]:
            code = (error.get("extensions") or {}).get("code", "")
            print(f"error {code}: {error.get('message')}", file=sys.stderr)
        return 1
    except (TransportError, OSError) as exc:
        # Refused connection_init (4403 or, on graphql-ws, connection_error), network errors.
        print(f"error: {close_code(exc) or f'{type(exc).__name__}: {exc}'}", file=sys.stderr)
        return 1


def _close_number(exc: BaseException | None) -> int | None:
    while exc is not None:
        frame = getattr(exc, "rcvd", None)
        if frame is not None:
            return int(frame.code)
        exc = exc.__cause__ or exc.__context__
    return None


def close_code(exc: BaseException | None) -> str | None:
    """'closed 4403 Forbidden' when the server closed the socket with a code."""
    while exc is not None:
        frame = getattr(exc, "rcvd", None)  # websockets.exceptions.ConnectionClosed
        if frame is not None:
            return f"closed {frame.code} {frame.reason}".strip()
        exc = exc.__cause__ or exc.__context__
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "url",
        nargs="?",
        default=os.environ.get("LOANGRAPH_WS_URL") or "ws://127.0.0.1:8000/graphql",
    )
    parser.add_argument("token", nargs="?", default=os.environ.get("LOANGRAPH_TOKEN"))
    parser.add_argument("loan_id", nargs="?", default=os.environ.get("LOAN_ID"))
    parser.add_argument(
        "--protocol", choices=["graphql-transport-ws", "graphql-ws"], default="graphql-transport-ws"
    )
    args = parser.parse_args()
    if not args.token or not args.loan_id:
        parser.error("TOKEN and LOAN_ID are required (arguments, or LOANGRAPH_TOKEN and LOAN_ID)")
    try:
        return asyncio.run(watch(args.url, args.token, args.loan_id, args.protocol))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
