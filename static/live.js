// The live funding page (/loans/<loan global id>/live): the loan over HTTP,
// then fundingProgress over graphql-transport-ws (graphql-ws's UMD client,
// served by the server from node_modules). No framework, no network beyond
// this origin. The token lives in sessionStorage, never in the URL.
(() => {
  'use strict';

  const TOKEN_KEY = 'loangraph:token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  // Standard base64 may hold '/' and '+': everything between /loans/ and /live.
  const gid = decodeURIComponent((window.location.pathname.match(/^\/loans\/(.+)\/live\/?$/) || [])[1] || '');
  const httpUrl = '/graphql';
  const wsUrl = (window.location.protocol === 'https:' ? 'wss:' : 'ws:') + '//' + window.location.host + '/graphql';

  // RAW while the newest 100 points cover the loan's whole life, else one
  // point per hour, else per day (fundingHistory's bucket argument).
  const BUCKETS = ['RAW', 'HOUR', 'DAY'];
  const LOAN_QUERY = `query LiveLoan($id: ID!) {
  viewer { userId email }
  loan(id: $id) {
    id title amount currency interestRate termMonths status
    totalFunded fundingPercentage participantCount acceptedParticipantCount
    borrower { userId displayName }
    participants(first: 100) {
      pageInfo { hasNextPage }
      edges { node { lenderEmail contributionAmount status } }
    }
  }
}`;
  // Its own operation: the series is the borrower's and admins' only (each step
  // can reveal one lender's contribution), and a lender's FORBIDDEN must not
  // take the loan with it (fundingHistory is non-null).
  const HISTORY_QUERY = `query LiveHistory($id: ID!, $bucket: FundingBucket) {
  loan(id: $id) {
    fundingHistory(last: 100, bucket: $bucket) {
      pageInfo { hasPreviousPage }
      edges { node { timestamp totalFunded fundingPercentage event } }
    }
  }
}`;
  // `after`: the cursor of the last update seen. graphql-ws resends this same
  // payload object when it reconnects, so a dropped socket resumes where it
  // stopped (every missed change, once, in order) instead of starting over.
  const SUBSCRIPTION = `subscription LiveFunding($id: ID!, $after: String) {
  fundingProgress(loanId: $id, after: $after) {
    cursor loanId event totalFunded fundingPercentage participantCount acceptedParticipantCount
    isFullyFunded status version at
  }
}`;

  const $ = (id) => document.getElementById(id);
  const state = { token: null, loan: null, viewer: null, history: [], client: null, unsubscribe: null,
    connections: 0, expectInitial: false, refetchTimer: null, updates: 0, bucket: 0, truncated: false,
    historyAllowed: true };

  // ---- formatting (exact decimal strings from the API, never floats) ----
  function grouped(decimal) {
    const s = String(decimal);
    const neg = s.startsWith('-');
    const [int, frac] = (neg ? s.slice(1) : s).split('.');
    const g = int.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (neg ? '-' : '') + g + (frac !== undefined ? '.' + frac : '');
  }
  const money = (amount, currency) => `${grouped(amount)} ${currency || ''}`.trim();
  const pct = (p) => `${Number(p).toFixed(2)}%`;
  const words = (enumValue) => String(enumValue || '').toLowerCase().replace(/_/g, ' ')
    .replace(/^./, (c) => c.toUpperCase());
  const timeFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  const shortTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
  const when = (iso) => timeFmt.format(new Date(iso));

  function text(el, value) { el.textContent = value; return el; }
  function el(tag, attrs, content) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (content !== undefined) node.textContent = content;
    return node;
  }
  function svg(tag, attrs, parent) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (parent) parent.appendChild(node);
    return node;
  }

  // ---- messages and connection status ----
  function showMessage(msg) {
    const m = $('message');
    m.hidden = !msg;
    m.textContent = msg || '';
  }
  function setConn(stateName, label) {
    const c = $('conn');
    c.dataset.state = stateName;
    c.textContent = label;
  }

  // ---- HTTP ----
  async function gql(query, variables) {
    const resp = await fetch(httpUrl, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/graphql-response+json, application/json',
        Authorization: 'Bearer ' + state.token,
      },
      body: JSON.stringify({ query, variables }),
      credentials: 'omit',
      cache: 'no-store',
    });
    let body;
    try { body = await resp.json(); } catch (e) { throw new Error(`The server answered ${resp.status}.`); }
    return body;
  }

  const errorCode = (body) => body && body.errors && body.errors[0] && body.errors[0].extensions
    && body.errors[0].extensions.code;

  // The funding series, or null when the viewer may not read it (a lender).
  async function loadHistory() {
    let body = await gql(HISTORY_QUERY, { id: gid, bucket: BUCKETS[state.bucket] });
    // Too many points for one page: coarser buckets, so the chart covers the whole life.
    while (body.data && body.data.loan && body.data.loan.fundingHistory.pageInfo.hasPreviousPage
           && state.bucket < BUCKETS.length - 1) {
      state.bucket += 1;
      state.history = [];
      body = await gql(HISTORY_QUERY, { id: gid, bucket: BUCKETS[state.bucket] });
    }
    if (errorCode(body) === 'FORBIDDEN') return null;
    return body.data && body.data.loan ? body.data.loan.fundingHistory : { edges: [], pageInfo: {} };
  }

  async function loadLoan() {
    const body = await gql(LOAN_QUERY, { id: gid });
    const code = errorCode(body);
    if (code === 'UNAUTHENTICATED') {
      forgetToken(`The token was not accepted: ${body.errors[0].message}`);
      return false;
    }
    const loan = body.data && body.data.loan;
    if (!loan) {
      const why = body.errors && body.errors.length ? ` (${body.errors[0].message})` : '';
      showMessage(`This loan does not exist or you may not see it${why}.`);
      $('loan').hidden = true;
      return false;
    }
    showMessage('');
    state.viewer = body.data.viewer;
    state.loan = loan;
    const history = await loadHistory();
    state.historyAllowed = history !== null;
    if (history) {
      const server = history.edges.map((e) => e.node);
      state.truncated = Boolean(history.pageInfo.hasPreviousPage);
      // Keep live points the server's page does not hold yet (a read racing an update).
      const lastServer = server.length ? Date.parse(server[server.length - 1].timestamp) : -Infinity;
      const newer = state.history.filter((p) => Date.parse(p.timestamp) > lastServer);
      state.history = server.concat(newer);
    } else {
      state.history = [];
    }
    renderLoan();
    return true;
  }

  function scheduleRefetch() {
    clearTimeout(state.refetchTimer);
    state.refetchTimer = setTimeout(() => {
      loadLoan().catch((e) => showMessage(`Could not refresh the loan: ${e.message}`));
    }, 250);
  }

  // ---- rendering ----
  function renderLoan() {
    const loan = state.loan;
    $('loan').hidden = false;
    text($('loan-title'), loan.title);
    document.title = `${loan.title} · live funding · loangraph`;
    text($('t-amount'), money(loan.amount, loan.currency));
    text($('t-rate'), `${Number(loan.interestRate).toFixed(2)}% a year`);
    text($('t-term'), `${loan.termMonths} month${loan.termMonths === 1 ? '' : 's'}`);
    renderFunding({
      totalFunded: loan.totalFunded, fundingPercentage: loan.fundingPercentage, status: loan.status,
      participantCount: loan.participantCount, acceptedParticipantCount: loan.acceptedParticipantCount,
    });
    renderParticipants();
    // A lender sees the totals, not the series (docs/security.md): no chart.
    $('chart-card').hidden = !state.historyAllowed;
    const note = $('history-note');
    note.hidden = state.historyAllowed;
    note.textContent = state.historyAllowed ? ''
      : 'The funding history is shown to the borrower only: its steps would reveal other lenders\u2019 contributions.';
    if (state.historyAllowed) renderHistory();
  }

  function renderFunding(f) {
    const loan = state.loan;
    Object.assign(loan, f);
    const p = Math.max(0, Math.min(100, Number(f.fundingPercentage)));
    const bar = $('progress');
    bar.value = p;
    bar.textContent = pct(p);
    bar.setAttribute('aria-valuetext', `${pct(f.fundingPercentage)} funded`);
    text($('pct-text'), pct(f.fundingPercentage));
    text($('funding-summary'),
      `${money(f.totalFunded, loan.currency)} of ${money(loan.amount, loan.currency)} · `
      + `${f.acceptedParticipantCount} of ${f.participantCount} participant${f.participantCount === 1 ? '' : 's'} accepted`);
    const st = $('t-status');
    text(st, words(f.status));
    st.dataset.status = f.status;
  }

  function renderParticipants() {
    const loan = state.loan;
    const rows = loan.participants.edges.map((e) => e.node);
    const tbody = $('participants').querySelector('tbody');
    tbody.replaceChildren();
    if (!rows.length) {
      const tr = el('tr');
      tr.appendChild(el('td', { colspan: '3', class: 'empty' }, 'No participants you may see yet.'));
      tbody.appendChild(tr);
    }
    for (const p of rows) {
      const tr = el('tr');
      tr.appendChild(el('td', {}, p.lenderEmail));
      tr.appendChild(el('td', { class: 'num' }, money(p.contributionAmount, loan.currency)));
      const td = el('td');
      td.appendChild(el('span', { class: 'pill', 'data-status': p.status }, words(p.status)));
      tr.appendChild(td);
      tbody.appendChild(tr);
    }
    const isBorrower = state.viewer && loan.borrower && state.viewer.userId === loan.borrower.userId;
    const onlyOwn = !isBorrower && rows.every((p) => state.viewer && p.lenderEmail === state.viewer.email);
    const note = $('participants-note');
    const more = loan.participants.pageInfo.hasNextPage
      ? `Showing the first ${rows.length} of ${loan.participantCount} participants.` : '';
    note.hidden = !onlyOwn && !more;
    note.textContent = onlyOwn
      ? `As a lender you see only your own participation (${loan.participantCount} in all).` : more;
  }

  function renderHistory() {
    const loan = state.loan;
    const pts = state.history;
    const tbody = $('history').querySelector('tbody');
    tbody.replaceChildren();
    for (const p of pts) {
      const tr = el('tr');
      tr.appendChild(el('td', {}, when(p.timestamp)));
      tr.appendChild(el('td', {}, words(p.event)));
      tr.appendChild(el('td', { class: 'num' }, money(p.totalFunded, loan.currency)));
      tr.appendChild(el('td', { class: 'num' }, pct(p.fundingPercentage)));
      tbody.appendChild(tr);
    }
    drawChart(pts);
  }

  // A step chart: funding only moves at committed changes.
  function drawChart(pts) {
    const chart = $('chart');
    const W = 720, H = 260, L = 52, R = 20, T = 16, B = 40;
    const w = W - L - R, h = H - T - B;
    for (const node of [...chart.childNodes]) {
      if (!(node.nodeName === 'title' || node.nodeName === 'desc')) node.remove();
    }
    chart.dataset.points = String(pts.length);
    chart.dataset.last = pts.length ? Number(pts[pts.length - 1].fundingPercentage).toFixed(2) : '';
    const desc = $('chart-desc');
    const caption = $('chart-caption');
    if (!pts.length) {
      desc.textContent = 'No funding history yet.';
      caption.textContent = 'No funding history yet.';
      return;
    }
    const first = pts[0], last = pts[pts.length - 1];
    const summary = `${pts.length} point${pts.length === 1 ? '' : 's'}: from ${pct(first.fundingPercentage)} `
      + `on ${when(first.timestamp)} to ${pct(last.fundingPercentage)} on ${when(last.timestamp)}.`;
    const grain = ['', ' One point per hour (UTC), its last state; live changes are added as they come.',
      ' One point per day (UTC), its last state; live changes are added as they come.'][state.bucket];
    const older = state.truncated ? ' Older points are not shown.' : '';
    caption.textContent = `${summary}${grain}${older} The table below lists every point.`;
    desc.textContent = `Step chart of the percent funded. ${summary}${grain}${older}`;
    chart.dataset.bucket = BUCKETS[state.bucket];

    const t0 = Date.parse(first.timestamp);
    let t1 = Date.parse(last.timestamp);
    if (t1 - t0 < 1000) t1 = t0 + 1000;
    const x = (t) => L + ((t - t0) / (t1 - t0)) * w;
    const y = (p) => T + h - (Math.max(0, Math.min(100, Number(p))) / 100) * h;

    const grid = svg('g', { class: 'grid', 'aria-hidden': 'true' }, chart);
    for (const v of [0, 25, 50, 75, 100]) {
      svg('line', { x1: L, x2: L + w, y1: y(v), y2: y(v), class: v === 100 ? 'goal' : 'rule' }, grid);
      svg('text', { x: L - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, grid).textContent = `${v}%`;
    }
    const sameDay = new Date(t0).toDateString() === new Date(t1).toDateString();
    const label = (t) => (sameDay ? shortTime.format(new Date(t)) : `${shortDate.format(new Date(t))} ${shortTime.format(new Date(t))}`);
    const ticks = t1 - t0 > 2000 ? [t0, (t0 + t1) / 2, t1] : [t0, t1];
    ticks.forEach((t, i) => {
      const anchor = i === 0 ? 'start' : i === ticks.length - 1 ? 'end' : 'middle';
      svg('text', { x: x(t), y: T + h + 24, 'text-anchor': anchor, class: 'tick' }, grid).textContent = label(t);
    });

    let d = `M ${x(t0).toFixed(1)} ${y(first.fundingPercentage).toFixed(1)}`;
    for (const p of pts.slice(1)) {
      d += ` H ${x(Date.parse(p.timestamp)).toFixed(1)} V ${y(p.fundingPercentage).toFixed(1)}`;
    }
    const area = `${d} V ${y(0).toFixed(1)} H ${x(t0).toFixed(1)} Z`;
    svg('path', { d: area, class: 'area', 'aria-hidden': 'true' }, chart);
    svg('path', { d, class: 'line', 'aria-hidden': 'true' }, chart);
    const dots = svg('g', { class: 'dots' }, chart);
    for (const p of pts) {
      const c = svg('circle', { cx: x(Date.parse(p.timestamp)).toFixed(1), cy: y(p.fundingPercentage).toFixed(1), r: 4 }, dots);
      svg('title', {}, c).textContent = `${when(p.timestamp)}: ${words(p.event)}, ${pct(p.fundingPercentage)}`;
    }
  }

  // ---- live updates ----
  function onUpdate(u) {
    state.updates += 1;
    const initial = state.expectInitial;
    state.expectInitial = false;
    renderFunding(u);
    if (!state.historyAllowed) {
      if (!initial || state.connections > 1) scheduleRefetch();
      return;
    }
    const last = state.history[state.history.length - 1];
    const changed = !last || last.fundingPercentage !== u.fundingPercentage || last.totalFunded !== u.totalFunded;
    if (!initial || (changed && (!last || Date.parse(u.at) > Date.parse(last.timestamp)))) {
      const dup = state.history.some((p) => p.timestamp === u.at && p.event === u.event);
      if (!dup) {
        state.history.push({ timestamp: u.at, event: u.event, totalFunded: u.totalFunded,
          fundingPercentage: u.fundingPercentage });
        renderHistory();
      }
    }
    // Participants (and the server's own history) follow on a debounced read.
    if (!initial || changed || state.connections > 1) scheduleRefetch();
  }

  function subscribe() {
    stopLive();
    const client = graphqlWs.createClient({
      url: wsUrl,
      connectionParams: () => ({ authorization: 'Bearer ' + state.token }),
      retryAttempts: Infinity,
      // A rejected token (4403) will not get better by retrying.
      shouldRetry: (e) => !(e && (e.code === 4403 || e.code === 4401)),
      on: {
        connecting: () => setConn('connecting', state.connections ? 'Reconnecting…' : 'Connecting…'),
        connected: () => {
          state.connections += 1;
          // Resuming from a cursor sends missed changes, not the current state.
          state.expectInitial = !payload.variables.after;
          setConn('live', 'Live');
        },
        closed: () => { if (state.client === client) setConn('connecting', 'Disconnected, retrying…'); },
      },
    });
    state.client = client;
    const payload = { query: SUBSCRIPTION, variables: { id: gid, after: null } };
    state.unsubscribe = client.subscribe(
      payload,
      {
        next: (msg) => {
          if (msg.errors && msg.errors.length) { showMessage(`Live updates: ${msg.errors[0].message}`); return; }
          if (msg.data && msg.data.fundingProgress) {
            payload.variables.after = msg.data.fundingProgress.cursor;
            onUpdate(msg.data.fundingProgress);
          }
        },
        error: (e) => {
          const reason = (e && (e.reason || e.message)) || (Array.isArray(e) && e[0] && e[0].message) || 'closed';
          setConn('error', 'Not live');
          showMessage(`Live updates stopped: ${reason}`);
        },
        complete: () => setConn('idle', 'Live updates ended'),
      },
    );
  }

  function stopLive() {
    if (state.unsubscribe) state.unsubscribe();
    if (state.client) state.client.dispose();
    state.client = null;
    state.unsubscribe = null;
    setConn('idle', 'Not connected');
  }

  // ---- token ----
  function forgetToken(msg) {
    stopLive();
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    state.history = [];
    $('loan').hidden = true;
    $('signout').hidden = true;
    $('signin').hidden = false;
    showMessage(msg || '');
    $('token').focus();
  }

  async function start() {
    $('signin').hidden = true;
    $('signout').hidden = false;
    setConn('connecting', 'Loading…');
    try {
      if (await loadLoan()) subscribe();
      else if (state.token) setConn('idle', 'Not connected');
    } catch (e) {
      setConn('error', 'Offline');
      showMessage(`Could not load the loan: ${e.message}`);
    }
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const raw = $('token').value.trim().replace(/^Bearer\s+/i, '');
    if (!raw) return;
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, raw);
    state.token = raw;
    start();
  });
  $('signout').addEventListener('click', () => forgetToken(''));

  if (!gid) {
    showMessage('No loan id in the address: open /loans/<loan id>/live.');
    return;
  }
  state.token = sessionStorage.getItem(TOKEN_KEY);
  if (state.token) start(); else forgetToken('');
})();
