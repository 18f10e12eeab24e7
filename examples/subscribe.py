#!/usr/bin/env python
"""Watch a loan's funding live: Subscription.fundingProgress with `gql` over
WebSockets (docs/subscriptions.md).

    .venv/bin/python examples/subscribe.py [URL] [TOKEN] [LOAN_ID] [--protocol graphql-ws]

Each argument falls back to an environment variable:
  URL      LOANGRAPH_WS_URL  (default ws://127.0.0.1:8000/graphql)
  TOKEN    LOANGRAPH_TOKEN   (`.venv/bin/loangraph token --sub alice --email alice@example.com`)
  LOAN_ID  LOAN_ID           (the loan's global id, `Loan.id`)

Prints one JSON line per update: the loan's current state first (event
LOAN_UPDATED), then one per committed change. Exits 0 when the server completes
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
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport

FUNDING_PROGRESS = """
subscription FundingProgress($loanId: ID!) {
  fundingProgress(loanId: $loanId) {
    event totalFunded fundingPercentage participantCount acceptedParticipantCount
    isFullyFunded status version at
  }
}
"""


async def watch(url: str, token: str, loan_id: str, protocol: str) -> int:
    transport = WebsocketsTransport(
        url=url,
        # Sent in `connection_init`; a missing or invalid token closes the socket (4403).
        init_payload={"authorization": f"Bearer {token}"},
        # graphql-transport-ws (current) or graphql-ws (legacy, subscriptions-transport-ws).
        subprotocols=[protocol],
    )
    request = GraphQLRequest(
        FUNDING_PROGRESS, variable_values={"loanId": loan_id}, operation_name="FundingProgress"
    )
    try:
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            async for data in session.subscribe(request):
                print(json.dumps(data["fundingProgress"]), flush=True)
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
    return 0


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
