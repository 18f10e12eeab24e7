// Opens the live funding page in Debian's headless chromium (playwright-core,
// never a downloaded browser), pastes the token into the form, checks the loan
// renders, then waits for the test to make an acceptance through the API and
// measures how long the progress bar and the chart take to move.
//
// Usage: node live_page.mjs <base url> <loan gid> <borrower token> <lender token> <screenshot>
//          [<gid of a loan with more than 100 funding points, same borrower>]
// Protocol on stdio (one JSON object a line): prints {"phase":"ready",...}
// once the page is live; the test answers with any line after its acceptance
// returned; prints {"phase":"done",...} (the last line) at the end.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [base, gid, token, lenderToken, screenshot, bigGid] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const requests = [];
const offLoopback = [];
const consoleErrors = [];
const result = { phase: 'done', ok: false };
let signinShot = null;

function record(url) {
  requests.push(url);
  const u = new URL(url);
  if (!LOOPBACK.includes(u.hostname) && !['data:', 'blob:'].includes(u.protocol)) offLoopback.push(url);
}

async function openPage(context, withToken, loanGid = gid) {
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  page.on('request', (req) => record(req.url()));
  page.on('websocket', (ws) => record(ws.url()));
  await page.goto(`${base}/loans/${encodeURIComponent(loanGid)}/live`, { waitUntil: 'networkidle' });
  await page.waitForSelector('#token-form', { state: 'visible', timeout: 10000 });
  if (!signinShot) {
    // The first visit, before any sign-in: for inspection too.
    signinShot = screenshot.replace(/\.png$/, '-signin.png');
    await page.screenshot({ path: signinShot });
  }
  if (!result.badToken) {
    // A token the server refuses brings the form back with the reason.
    await page.getByLabel('Access token').fill('Bearer not-a-token');
    await page.getByRole('button', { name: 'Open the loan' }).click();
    await page.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: 10000 });
    result.badToken = {
      message: await page.locator('#message').innerText(),
      formVisible: await page.locator('#token-form').isVisible(),
      stored: await page.evaluate(() => sessionStorage.getItem('loangraph:token')),
    };
  }
  await page.getByLabel('Access token').fill(`Bearer ${withToken}`);
  await page.getByRole('button', { name: 'Open the loan' }).click();
  await page.waitForSelector('#loan:not([hidden])', { timeout: 10000 });
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
  return page;
}

const snapshot = (page) => page.evaluate(() => ({
  title: document.getElementById('loan-title').textContent,
  terms: [...document.querySelectorAll('.terms div')].map((d) => d.innerText.replace(/\s+/g, ' ').trim()),
  progress: document.getElementById('progress').value,
  progressMax: document.getElementById('progress').max,
  progressLabel: document.querySelector('label[for="progress"]')?.innerText,
  summary: document.getElementById('funding-summary').textContent,
  chartPoints: Number(document.getElementById('chart').dataset.points),
  chartLast: document.getElementById('chart').dataset.last,
  chartPath: document.querySelector('#chart path.line')?.getAttribute('d') || '',
  chartDesc: document.getElementById('chart-desc').textContent,
  chartBucket: document.getElementById('chart').dataset.bucket,
  chartCaption: document.getElementById('chart-caption').textContent,
  historyRows: document.querySelectorAll('#history tbody tr').length,
  participants: [...document.querySelectorAll('#participants tbody tr')].map((tr) => tr.innerText.replace(/\s+/g, ' ').trim()),
  participantsNote: document.getElementById('participants-note').hidden ? '' : document.getElementById('participants-note').textContent,
  tokenStored: (sessionStorage.getItem('loangraph:token') || '').slice(0, 3),
  tokenField: document.getElementById('token').value,
  href: window.location.href,
  conn: document.getElementById('conn').dataset.state,
  chartCardHidden: document.getElementById('chart-card').hidden,
  historyNote: document.getElementById('history-note').hidden ? '' : document.getElementById('history-note').textContent,
  chartPointsNow: Number(document.getElementById('chart').dataset.points || 0),
}));

try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.includes(url.hostname) || url.protocol === 'data:') return route.continue();
    offLoopback.push(route.request().url());
    return route.abort();
  });
  const page = await openPage(context, token);
  result.before = await snapshot(page);

  // A reload keeps the session: the token comes back from sessionStorage.
  await page.reload({ waitUntil: 'networkidle' });
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 10000 });
  result.afterReload = await snapshot(page);
  result.formHiddenAfterReload = await page.locator('#signin').isHidden();

  say({ phase: 'ready', before: result.before });
  const go = await lines.next();
  if (go.done) throw new Error('stdin closed before the acceptance');
  const t0 = Date.now();
  const { progress, chartPoints, chartPath } = result.afterReload;
  await page.waitForFunction(([p, n, d]) => {
    const bar = document.getElementById('progress');
    const chart = document.getElementById('chart');
    return bar.value !== p && Number(chart.dataset.points) > n
      && document.querySelector('#chart path.line')?.getAttribute('d') !== d;
  }, [progress, chartPoints, chartPath], { timeout: 2000, polling: 25 });
  result.elapsedMs = Date.now() - t0;
  // The participants follow on the page's own re-read of the loan.
  const accepted = (rows) => rows.filter((r) => r.endsWith(' Accepted')).length;
  await page.waitForFunction(
    (n) => document.querySelectorAll('#participants .pill[data-status="ACCEPTED"]').length > n,
    accepted(result.afterReload.participants), { timeout: 5000 });
  result.after = await snapshot(page);
  await page.locator('details').evaluate((d) => { d.open = true; });
  await page.screenshot({ path: screenshot, fullPage: true });

  // A lender, in a fresh browser session, sees only their own participation.
  const lenderContext = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  await lenderContext.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (LOOPBACK.includes(url.hostname) || url.protocol === 'data:') return route.continue();
    offLoopback.push(route.request().url());
    return route.abort();
  });
  const lenderPage = await openPage(lenderContext, lenderToken);
  result.lender = await snapshot(lenderPage);

  // A loan with more funding points than one page: the chart falls back to buckets.
  if (bigGid) {
    const bigPage = await openPage(context, token, bigGid);
    result.big = await snapshot(bigPage);
  }
  result.ok = true;
} catch (e) {
  result.error = String((e && e.stack) || e);
} finally {
  result.requests = requests;
  result.offLoopback = offLoopback;
  result.consoleErrors = consoleErrors;
  await browser.close();
}
say(result);
process.exit(0);
