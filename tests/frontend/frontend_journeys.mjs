// The reference frontend's four journeys in Debian's headless chromium
// (playwright-core, never a downloaded browser), for one client build:
//   1. the borrower's loan list through two cursors ("Load more" twice);
//   2. the loan page follows a change made through the API by someone else
//      (the fundingProgress subscription);
//   3. a lender accepts an invitation and the loan page shows it without a
//      reload (the client's cache picks up the mutation's payload);
//   4. an expected refusal (payload UserError OVERFUNDED) is shown to the user.
// Every request body and WebSocket frame the page sends is recorded, so the test
// can check that no document text went on the wire (trusted documents).
//
// Usage: node frontend_journeys.mjs '<json config>'   (see test_frontend.py)
// Prints one JSON object (the result) as its last stdout line.
import { chromium } from 'playwright-core';

const cfg = JSON.parse(process.argv[2]);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];
const result = { ok: false, requests: [], offLoopback: [], bodies: [], frames: [], consoleErrors: [] };
const appUrl = `${cfg.base}/app/${cfg.client}/`;

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

function watch(page) {
  page.on('console', (msg) => { if (msg.type() === 'error') result.consoleErrors.push(msg.text()); });
  page.on('pageerror', (err) => result.consoleErrors.push(String(err)));
  page.on('request', (req) => {
    const url = req.url();
    result.requests.push(url);
    const u = new URL(url);
    if (!LOOPBACK.includes(u.hostname) && !['data:', 'blob:'].includes(u.protocol)) result.offLoopback.push(url);
    const body = req.postData();
    if (body) result.bodies.push(body);
    else if (u.pathname === '/graphql' && u.search) {
      // GraphQL over GET (urql's default for queries): the same fields, in the URL.
      const op = {};
      for (const [k, v] of u.searchParams) op[k] = ['variables', 'extensions'].includes(k) ? JSON.parse(v) : v;
      result.bodies.push(JSON.stringify(op));
    }
  });
  page.on('websocket', (ws) => {
    result.requests.push(ws.url());
    ws.on('framesent', (f) => {
      const frame = String(f.payload);
      // connection_init carries the token: keep its shape, not the secret.
      result.frames.push(frame.includes('"connection_init"') ? frame.replace(/Bearer [^"]+/, 'Bearer <redacted>') : frame);
    });
  });
}

async function signIn(token) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  watch(page);
  await page.goto(appUrl, { waitUntil: 'load' });
  await page.getByLabel('Access token').fill(`Bearer ${token}`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#nav:not([hidden])', { timeout: 15000 });
  await page.waitForSelector('#signin', { state: 'hidden', timeout: 5000 });
  // Set once: still there later means the page never reloaded.
  await page.evaluate(() => { window.__noReload = 'kept'; });
  return page;
}

const loanState = (page) => page.evaluate(() => ({
  id: document.getElementById('loan')?.dataset.id ?? null,
  title: document.getElementById('loan-title')?.textContent ?? null,
  funding: Number(document.getElementById('funding')?.getAttribute('value') ?? NaN),
  label: document.getElementById('funding-label')?.textContent ?? null,
  summary: document.getElementById('funding-summary')?.textContent ?? null,
  participants: [...document.querySelectorAll('#participants li')].map((li) => `${li.textContent}`),
  versions: document.querySelectorAll('#versions li').length,
  live: document.getElementById('live')?.dataset.state ?? null,
  noReload: window.__noReload ?? null,
  tokenStored: (sessionStorage.getItem('loangraph:app-token') || '').slice(0, 3),
  href: location.href,
}));

async function acceptThroughApi(participantId, token) {
  // Someone else, through the API, with the frontend's own trusted document.
  const r = await fetch(`${cfg.base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({
      variables: { input: { participantId } },
      extensions: { persistedQuery: { version: 1, sha256Hash: cfg.acceptHash } },
    }),
  });
  const body = await r.json();
  if (body.errors || body.data.acceptInvitation.errors.length) throw new Error(JSON.stringify(body));
}

try {
  // 1. the loan list, three pages through two cursors
  const borrower = await signIn(cfg.borrowerToken);
  await borrower.waitForSelector('#loan-list li', { timeout: 15000 });
  const pages = [];
  const ids = () => borrower.$$eval('#loan-list li', (lis) => lis.map((li) => li.dataset.id));
  pages.push(await ids());
  for (let i = 0; i < 2; i++) {
    const before = pages.at(-1).length;
    await borrower.getByRole('button', { name: 'Load more' }).click();
    await borrower.waitForFunction((n) => document.querySelectorAll('#loan-list li').length > n, before, { timeout: 15000 });
    pages.push(await ids());
  }
  result.list = {
    pages,
    loadMoreHidden: await borrower.locator('#load-more').isHidden(),
    titles: await borrower.$$eval('#loan-list li a', (as) => as.map((a) => a.textContent)),
  };
  await borrower.screenshot({ path: `${cfg.shots}/frontend-${cfg.client}-list.png`, fullPage: true });

  // 2. the loan page, live: an acceptance by someone else arrives by subscription
  await borrower.click(`#loan-list li[data-id="${cfg.loan}"] a`);
  await borrower.waitForSelector('#loan', { timeout: 15000 });
  await borrower.waitForSelector('#live[data-state="live"]', { timeout: 15000 });
  result.borrowerBefore = await loanState(borrower);
  const t0 = Date.now();
  await acceptThroughApi(cfg.subscriptionParticipant, cfg.otherLenderToken);
  await borrower.waitForFunction(() => Number(document.getElementById('funding')?.getAttribute('value')) === 25, null, { timeout: 15000 });
  result.subscriptionMs = Date.now() - t0;
  result.borrowerAfter = await loanState(borrower);
  await borrower.screenshot({ path: `${cfg.shots}/frontend-${cfg.client}-loan.png`, fullPage: true });

  // 3. a lender accepts; the loan page shows it without a reload
  const lender = await signIn(cfg.lenderToken);
  await lender.evaluate((gid) => { location.hash = `#/loan/${encodeURIComponent(gid)}`; }, cfg.loan);
  await lender.waitForSelector('#loan', { timeout: 15000 });
  await lender.waitForSelector('#live[data-state="live"]', { timeout: 15000 });
  result.lenderBefore = await loanState(lender);
  await lender.getByRole('link', { name: 'My invitations' }).click();
  const row = lender.locator(`#invitations li[data-loan="${cfg.loan}"]`);
  await row.getByRole('button', { name: 'Accept' }).click();
  await lender.waitForSelector('#message[data-kind="info"]', { timeout: 15000 });
  result.acceptMessage = await lender.locator('#message').innerText();
  const mark = result.bodies.length;
  // Back to the loan page: read what it shows on its first frame, before any
  // network answer could have come (the subscription is not live yet).
  result.lenderFirstFrame = await lender.evaluate((gid) => new Promise((resolve) => {
    const view = document.getElementById('view');
    const seen = () => {
      if (!document.getElementById('loan')) return false;
      observer.disconnect();
      resolve({
        participants: [...document.querySelectorAll('#participants li')].map((li) => li.dataset.status),
        funding: Number(document.getElementById('funding')?.getAttribute('value') ?? NaN),
        live: document.getElementById('live')?.dataset.state ?? null,
      });
      return true;
    };
    const observer = new MutationObserver(seen);
    observer.observe(view, { childList: true, subtree: true });
    setTimeout(() => { observer.disconnect(); resolve(null); }, 15000);
    location.hash = `#/loan/${encodeURIComponent(gid)}`;
  }), cfg.loan);
  await lender.waitForFunction(() => [...document.querySelectorAll('#participants li')].some((li) => li.dataset.status === 'ACCEPTED'), null, { timeout: 15000 });
  await lender.waitForFunction(() => Number(document.getElementById('funding')?.getAttribute('value')) === 50, null, { timeout: 15000 });
  result.lenderAfter = await loanState(lender);
  result.loanPageRefetched = result.bodies.slice(mark).some((b) => b.includes(cfg.loanPageHash));
  await lender.screenshot({ path: `${cfg.shots}/frontend-${cfg.client}-accepted.png`, fullPage: true });

  // 4. an expected refusal, shown to the user
  const late = await signIn(cfg.lateLenderToken);
  await late.getByRole('link', { name: 'My invitations' }).click();
  await late.locator(`#invitations li[data-loan="${cfg.fullLoan}"]`).getByRole('button', { name: 'Accept' }).click();
  await late.waitForSelector('#message[data-kind="user-error"]', { timeout: 15000 });
  result.refusal = {
    code: await late.locator('#message').getAttribute('data-code'),
    text: await late.locator('#message').innerText(),
    visible: await late.locator('#message').isVisible(),
    status: await late.locator(`#invitations li[data-loan="${cfg.fullLoan}"]`).getAttribute('data-status'),
  };
  await late.screenshot({ path: `${cfg.shots}/frontend-${cfg.client}-refusal.png`, fullPage: true });
  result.ok = true;
} catch (err) {
  result.error = String(err && err.stack || err);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
