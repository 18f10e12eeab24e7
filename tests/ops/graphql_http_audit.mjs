// Runs graphql-http's server audits against a running loangraph server and
// prints one JSON line: [{id, name, status, reason?}] (status ok|warn|error).
// Usage: node tests/ops/graphql_http_audit.mjs http://127.0.0.1:PORT/graphql
import { auditServer } from 'graphql-http';

const url = process.argv[2];
if (!url) {
  console.error('usage: graphql_http_audit.mjs <url>');
  process.exit(2);
}
const results = await auditServer({ url });
const out = [];
for (const r of results) {
  const item = { id: r.id, name: r.name, status: r.status };
  if (r.status !== 'ok') {
    item.reason = r.reason;
    try {
      item.response = { status: r.response.status, body: await r.response.text() };
    } catch (e) { /* body already read */ }
  }
  out.push(item);
}
console.log(JSON.stringify(out));
