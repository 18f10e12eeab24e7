// GraphiQL in Debian's headless chromium runs the fundingProgress subscription
// with the token from its Headers editor; an acceptance is made through the API
// and the response panel must show the new total.
// Usage: node graphiql_subscription.mjs <base> <borrower token> <loan id> <lender token> <participant id> <screenshot>
import { chromium } from 'playwright-core';

const [base, token, loanId, lenderToken, participantId, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const result = { ok: false };
try {
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  await page.goto(base + '/graphql', { waitUntil: 'networkidle' });
  await page.waitForSelector('.graphiql-container', { timeout: 15000 });
  const query = `subscription Watch { fundingProgress(loanId: "${loanId}") { event totalFunded acceptedParticipantCount } }`;
  const ok = await page.evaluate(([headers, q]) => {
    const editors = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')].map((el) => el.CodeMirror);
    const headerEditor = editors.find((cm) => cm.getValue().includes('"Authorization"'));
    if (!headerEditor) return false;
    headerEditor.setValue(headers);
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
    return true;
  }, [JSON.stringify({ Authorization: `Bearer ${token}` }), query]);
  if (!ok) throw new Error('no Headers editor');
  await page.waitForTimeout(800); // GraphiQL debounces editor changes (and persists the headers)
  await page.locator('.graphiql-execute-button').click();
  const panel = () => document.querySelector('.graphiql-response')?.innerText || '';
  await page.waitForFunction((p) => (document.querySelector('.graphiql-response')?.innerText || '').includes('"totalFunded": "0.00"'), null, { timeout: 15000 });
  result.initial = await page.evaluate(panel);
  const accept = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${lenderToken}` },
    body: JSON.stringify({ query: 'mutation($i: RespondToInvitationInput!) { acceptInvitation(input: $i) { errors { code } } }', variables: { i: { participantId } } }),
  });
  result.acceptStatus = accept.status;
  const t0 = Date.now();
  await page.waitForFunction(() => (document.querySelector('.graphiql-response')?.innerText || '').includes('"totalFunded": "10.00"'), null, { timeout: 10000 });
  result.updateMs = Date.now() - t0;
  result.updated = await page.evaluate(panel);
  await page.screenshot({ path: screenshot, fullPage: true });
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
