// Opens GraphiQL in Debian's headless chromium (playwright-core, never a
// downloaded browser), puts a token in the Headers editor, runs a query and
// checks the result renders. Fails when any request leaves loopback.
// Usage: node graphiql_browser.mjs <base url> <token> <screenshot path>
import { chromium } from 'playwright-core';

const [base, token, screenshot] = process.argv.slice(2);
const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
const offLoopback = [];
const consoleErrors = [];
const result = { ok: false };
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) || url.protocol === 'data:') {
      return route.continue();
    }
    offLoopback.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  page.on('console', (msg) => { if (msg.type() === 'error') consoleErrors.push(msg.text()); });
  page.on('request', (req) => {
    const url = new URL(req.url());
    if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname) && !['data:', 'blob:'].includes(url.protocol)) {
      offLoopback.push(req.url());
    }
  });
  page.on('pageerror', (err) => consoleErrors.push(String(err)));
  // What an older GraphiQL page left behind in this origin's localStorage.
  await page.goto(base + '/healthz');
  await page.evaluate(() => localStorage.setItem('graphiql:headers', '{"Authorization": "Bearer OLD-TOKEN"}'));
  const pageResponse = await page.goto(base + '/graphql', { waitUntil: 'networkidle' });
  result.csp = pageResponse.headers()['content-security-policy'] || '';
  await page.evaluate(() => {
    window.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
      `${e.violatedDirective} ${e.blockedURI}`));
  });
  await page.waitForSelector('.graphiql-container', { timeout: 15000 });
  result.title = await page.title();
  // CodeMirror renders only the visible lines: read the editors' values.
  [result.defaultQuery, result.defaultVariables] = await page.evaluate(() => [
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.getValue(),
    [...document.querySelectorAll('.CodeMirror')].map((el) => el.CodeMirror.getValue())
      .find((v) => v.includes('"loan"')) || '',
  ]);
  result.defaultQueryShown = result.defaultQuery.includes('query MyLoans');

  // The Headers editor (open by default, holding the example) gets a real token,
  // the query editor a small query. CodeMirror's own API: typing would trigger
  // its bracket auto-closing.
  const replaced = await page.evaluate(([headers, query]) => {
    const editors = [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
      .map((el) => el.CodeMirror);
    const headerEditor = editors.find((cm) => cm.getValue().includes('"Authorization"'));
    if (!headerEditor) return false;
    headerEditor.setValue(headers);
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(query);
    return true;
  }, [JSON.stringify({ Authorization: `Bearer ${token}` }), 'query BrowserCheck { viewer { userId email } }']);
  if (!replaced) throw new Error('no Headers editor with the Authorization example');
  // GraphiQL debounces editor changes into its state: wait until the tab's
  // operation name follows the new query.
  await page.waitForFunction(() => document.querySelector('.graphiql-tab-active, .graphiql-tab')
    ?.innerText.includes('BrowserCheck') ?? true, null, { timeout: 5000 }).catch(() => {});
  await page.waitForTimeout(700);
  const response = page.waitForResponse((r) => r.url().endsWith('/graphql') && r.request().method() === 'POST'
    && (r.request().postData() || '').includes('BrowserCheck'));
  await page.locator('.graphiql-execute-button').click();
  const resp = await response;
  result.status = resp.status();
  result.requestBody = resp.request().postData();
  result.sentAuthorization = (resp.request().headers().authorization || '').slice(0, 12);
  result.responseBody = await resp.text();
  await page.waitForFunction(
    () => (document.querySelector('.graphiql-response')?.innerText || '').includes('"userId"'),
    null, { timeout: 15000 });
  result.rendered = await page.locator('.graphiql-response').innerText();
  await page.screenshot({ path: screenshot, fullPage: true });
  // Where the token went: GraphiQL's debounced storage writes first.
  await page.waitForTimeout(700);
  const stores = () => page.evaluate(() => ({
    local: JSON.stringify(Object.entries(localStorage)),
    session: JSON.stringify(Object.entries(sessionStorage)),
    violations: window.__cspViolations || [],
  }));
  result.afterQuery = await stores();
  // A reload in the same tab keeps the token (sessionStorage); localStorage stays clean.
  await page.reload({ waitUntil: 'networkidle' });
  await page.waitForSelector('.graphiql-container', { timeout: 15000 });
  result.headersAfterReload = await page.evaluate(() => [...document.querySelectorAll('.graphiql-editor-tool .CodeMirror')]
    .map((el) => el.CodeMirror.getValue()).join('\n'));
  result.afterReload = await stores();
  // frame-ancestors 'none': another page cannot frame GraphiQL.
  const framer = await context.newPage();
  framer.on('console', (msg) => { if (msg.type() === 'error') result.framerErrors = (result.framerErrors || []).concat(msg.text()); });
  await framer.setContent(`<iframe id="f" src="${base}/graphql" width="600" height="400"></iframe>`);
  await framer.waitForTimeout(2000);
  const frame = framer.frames().find((f) => f !== framer.mainFrame());
  result.framedHasGraphiQL = frame ? await frame.evaluate(() => !!document.querySelector('#graphiql')).catch(() => false) : false;
  await framer.close();
  result.ok = true;
} catch (e) {
  result.error = String(e && e.stack || e);
} finally {
  result.offLoopback = offLoopback;
  result.consoleErrors = consoleErrors;
  await browser.close();
}
console.log(JSON.stringify(result));
