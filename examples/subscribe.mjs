#!/usr/bin/env node
// Watch a loan's funding live: Subscription.fundingProgress over graphql-transport-ws
// with the `graphql-ws` client (docs/subscriptions.md).
//
//   node examples/subscribe.mjs [URL] [TOKEN] [LOAN_ID]
//
// Each argument falls back to an environment variable:
//   URL      LOANGRAPH_WS_URL  (default ws://127.0.0.1:8000/graphql)
//   TOKEN    LOANGRAPH_TOKEN   (`.venv/bin/loangraph token --sub alice --email alice@example.com`)
//   LOAN_ID  LOAN_ID           (the loan's global id, `Loan.id`)
//
// Prints one JSON line per update: the loan's current state first (event
// LOAN_UPDATED), then one per committed change; after a dropped connection it
// reconnects with the last `cursor` and gets every missed change exactly once. Exits 0 when the server completes
// the subscription (the loan was deleted), 1 on an error, and closes cleanly on Ctrl-C.
import { createClient } from "graphql-ws";

// Node 22+ has a global WebSocket; Node 20 needs the `ws` package (in package.json).
const WebSocketImpl = globalThis.WebSocket ?? (await import("ws")).WebSocket;

const [url, token, loanId] = [
  process.argv[2] || process.env.LOANGRAPH_WS_URL || "ws://127.0.0.1:8000/graphql",
  process.argv[3] || process.env.LOANGRAPH_TOKEN,
  process.argv[4] || process.env.LOAN_ID,
];
if (!token || !loanId) {
  console.error("usage: node examples/subscribe.mjs [URL] TOKEN LOAN_ID (or LOANGRAPH_TOKEN, LOAN_ID)");
  process.exit(2);
}

const FUNDING_PROGRESS = `
  subscription FundingProgress($loanId: ID!, $after: String) {
    fundingProgress(loanId: $loanId, after: $after) {
      cursor event totalFunded fundingPercentage participantCount acceptedParticipantCount
      isFullyFunded status version at
    }
  }`;

// Close codes a retry cannot fix: bad token, forbidden, bad request.
const FINAL_CLOSE_CODES = new Set([4400, 4401, 4403, 4409, 4429]);

const client = createClient({
  url,
  webSocketImpl: WebSocketImpl,
  // Sent in `connection_init`: browsers and most clients cannot set WebSocket headers.
  connectionParams: { authorization: `Bearer ${token}` },
  // Reconnect when the socket drops, e.g. 1012 from a server restarting, but not
  // when the token is refused. graphql-ws resends the same payload object, whose
  // `after` holds the last cursor seen: the server replays what was missed, once.
  // A refused connection (the server restarting) is retried too.
  retryAttempts: 10,
  shouldRetry: (event) => !(typeof event?.code === "number" && FINAL_CLOSE_CODES.has(event.code)),
});

process.on("SIGINT", async () => {
  await client.dispose();
  process.exit(130);
});

let status = 0;
try {
  const payload = {
    query: FUNDING_PROGRESS,
    variables: { loanId, after: null },
    operationName: "FundingProgress",
  };
  const updates = client.iterate(payload);
  for await (const result of updates) {
    if (result.errors) {
      // e.g. FORBIDDEN: not the borrower, not invited, or no such loan.
      for (const e of result.errors) console.error(`error ${e.extensions?.code ?? ""}: ${e.message}`);
      status = 1;
      break;
    }
    payload.variables.after = result.data.fundingProgress.cursor;
    console.log(JSON.stringify(result.data.fundingProgress));
  }
} catch (err) {
  // A close event (4403: bad or missing token) or a list of GraphQL errors
  // (an `error` message: invalid document, RATE_LIMITED, TOO_MANY_SUBSCRIPTIONS).
  const detail = Array.isArray(err)
    ? err.map((e) => `${e.extensions?.code ?? ""} ${e.message}`).join("; ")
    : err?.code
      ? `closed ${err.code} ${err.reason ?? ""}`
      : err?.message ?? err?.error?.message ?? err?.type ?? String(err);
  console.error(`error: ${detail}`);
  status = 1;
} finally {
  await client.dispose();
}
process.exit(status);
