// The page, shared by both builds: sign-in with a pasted token (sessionStorage),
// the borrower's loans with "Load more", a loan page kept live, and the lender's
// invitations. Routes live in the hash (#/loans, #/invitations, #/loan/<id>), so
// moving around never reloads the page. Text goes in with textContent only.
import { type Api, ApiError, type Invitation, type Loan, type LoanListWatch, TOKEN_KEY, type UserErrorView } from './api';

const PAGE_SIZE = 3;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined) continue;
    if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

const money = (amount: string, currency: string) =>
  `${Number(amount).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} ${currency}`;
const titleCase = (s: string) => s.charAt(0) + s.slice(1).toLowerCase();

export function start(clientName: string, makeApi: (token: string) => Api): void {
  const $ = (id: string) => document.getElementById(id)!;
  const form = $('signin') as HTMLFormElement;
  const tokenField = $('token') as HTMLInputElement;
  const view = $('view');
  const nav = $('nav');
  const message = $('message');
  $('client-name').textContent = clientName;
  let api: Api | null = null;
  let stopView: (() => void) | null = null;

  function showMessage(kind: 'user-error' | 'graphql-error' | 'info', code: string, text: string) {
    message.hidden = false;
    message.dataset.kind = kind;
    message.dataset.code = code;
    message.textContent = code ? `${code}: ${text}` : text;
  }
  function clearMessage() {
    message.hidden = true;
    message.textContent = '';
    delete message.dataset.kind;
    delete message.dataset.code;
  }
  function showError(e: unknown) {
    const err = e instanceof ApiError ? e : new ApiError(String(e), 'CLIENT_ERROR');
    if (err.code === 'UNAUTHENTICATED') {
      signOut(`The token was not accepted: ${err.message}`);
      return;
    }
    showMessage('graphql-error', err.code, err.message);
  }
  function showUserErrors(errors: readonly UserErrorView[]) {
    showMessage('user-error', errors[0].code, errors.map((e) => e.message).join(' '));
  }

  function signOut(reason?: string) {
    stopView?.();
    stopView = null;
    api?.close();
    api = null;
    sessionStorage.removeItem(TOKEN_KEY);
    view.replaceChildren();
    nav.hidden = true;
    form.hidden = false;
    if (reason) showMessage('info', '', reason);
  }

  async function signIn(token: string) {
    api = makeApi(token);
    try {
      const me = await api.viewer();
      sessionStorage.setItem(TOKEN_KEY, token);
      form.hidden = true;
      nav.hidden = false;
      $('who').textContent = me.email ?? me.id;
      route();
    } catch (e) {
      showError(e instanceof ApiError && e.code !== 'UNAUTHENTICATED' ? e : new ApiError((e as Error).message, 'UNAUTHENTICATED'));
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    clearMessage();
    const token = tokenField.value.trim().replace(/^Bearer\s+/i, '');
    tokenField.value = '';
    if (token) void signIn(token);
  });
  $('signout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => route());

  function route() {
    if (!api) return;
    stopView?.();
    stopView = null;
    clearMessage();
    const hash = location.hash || '#/loans';
    const loanMatch = /^#\/loan\/(.+)$/.exec(hash);
    if (loanMatch) stopView = loanPage(api, decodeURIComponent(loanMatch[1]));
    else if (hash === '#/invitations') stopView = invitationsPage(api);
    else stopView = loansPage(api);
  }

  function loansPage(api: Api): () => void {
    const list = el('ul', { id: 'loan-list' });
    const more = el('button', { id: 'load-more', type: 'button', text: 'Load more' });
    more.hidden = true;
    view.replaceChildren(el('h2', { text: 'My loans' }), list, more);
    const watch: LoanListWatch = api.watchLoans(
      PAGE_SIZE,
      ({ loans, hasNextPage }) => {
        list.replaceChildren(
          ...loans.map((loan) =>
            el(
              'li',
              { 'data-id': loan.id },
              el('a', { href: `#/loan/${encodeURIComponent(loan.id)}`, text: loan.title }),
              ` ${money(loan.amount, loan.currency)} · ${titleCase(loan.status)} · ${Number(loan.fundingPercentage).toFixed(2)}% funded`,
            ),
          ),
        );
        list.dataset.count = String(loans.length);
        more.hidden = !hasNextPage;
        more.disabled = false;
      },
      showError,
    );
    more.addEventListener('click', () => {
      more.disabled = true;
      watch.loadMore().catch(showError);
    });
    return () => watch.stop();
  }

  function loanPage(api: Api, id: string): () => void {
    const live = el('span', { id: 'live', 'data-state': 'connecting', text: 'connecting…' });
    const body = el('div', { id: 'loan-body' });
    view.replaceChildren(el('p', {}, live), body);
    return api.watchLoan(
      id,
      (loan) => renderLoan(body, loan),
      showError,
      (on) => {
        live.dataset.state = on ? 'live' : 'offline';
        live.textContent = on ? 'live' : 'offline';
      },
    );
  }

  function renderLoan(body: HTMLElement, loan: Loan | null) {
    if (!loan) {
      body.replaceChildren(el('p', { id: 'loan-missing', text: 'No such loan (or you may not see it).' }));
      return;
    }
    const pct = Number(loan.fundingPercentage);
    const progress = el('progress', { id: 'funding', max: '100', value: String(pct) });
    const participants = loan.participants.edges.map(({ node: p }) =>
      el('li', { 'data-id': p.id, 'data-status': p.status, text: `${p.lenderEmail} ${money(p.contributionAmount, loan.currency)} ${titleCase(p.status)}` }),
    );
    const versions = loan.versions.edges.map(({ node: v }) =>
      el('li', { text: `v${v.version} ${v.changedAt.slice(0, 19).replace('T', ' ')} ${v.changeReason ?? ''} ${v.changedFields.join(', ')}`.trim() }),
    );
    body.replaceChildren(
      el(
        'article',
        { id: 'loan', 'data-id': loan.id, 'data-version': String(loan.version) },
        el('h2', { id: 'loan-title', text: loan.title }),
        el(
          'dl',
          { class: 'terms' },
          el('dt', { text: 'Amount' }),
          el('dd', { text: money(loan.amount, loan.currency) }),
          el('dt', { text: 'Interest rate' }),
          el('dd', { text: `${Number(loan.interestRate).toFixed(2)}% a year` }),
          el('dt', { text: 'Term' }),
          el('dd', { text: `${loan.termMonths} months` }),
          el('dt', { text: 'Status' }),
          el('dd', { id: 'loan-status', text: titleCase(loan.status) }),
        ),
        el('label', { for: 'funding', id: 'funding-label', text: `Funded: ${pct.toFixed(2)}%` }),
        progress,
        el('p', {
          id: 'funding-summary',
          text: `${money(loan.totalFunded, loan.currency)} of ${money(loan.amount, loan.currency)} · ${loan.acceptedParticipantCount} of ${loan.participantCount} participants accepted`,
        }),
        el('h3', { text: 'Participants' }),
        el('ul', { id: 'participants' }, ...participants),
        el('h3', { text: 'Versions' }),
        el('ol', { id: 'versions' }, ...versions),
      ),
    );
  }

  function invitationsPage(api: Api): () => void {
    let stopped = false;
    const list = el('ul', { id: 'invitations' });
    view.replaceChildren(el('h2', { text: 'My invitations' }), list);
    const render = (items: Invitation[]) => {
      list.replaceChildren(
        ...items.map((inv) => {
          const li = el(
            'li',
            { 'data-id': inv.id, 'data-loan': inv.loan.id, 'data-status': inv.status },
            el('a', { href: `#/loan/${encodeURIComponent(inv.loan.id)}`, text: inv.loan.title }),
            ` ${money(inv.contributionAmount, inv.loan.currency)} · ${titleCase(inv.status)} `,
          );
          if (inv.status === 'PENDING') {
            for (const accept of [true, false]) {
              const b = el('button', { type: 'button', text: accept ? 'Accept' : 'Decline' });
              b.addEventListener('click', async () => {
                clearMessage();
                li.querySelectorAll('button').forEach((x) => (x.disabled = true));
                try {
                  const errors = await api.respond(inv.id, accept);
                  if (errors.length) {
                    showUserErrors(errors);
                    li.querySelectorAll('button').forEach((x) => (x.disabled = false));
                    return;
                  }
                  showMessage('info', '', accept ? `Accepted: ${inv.loan.title}` : `Declined: ${inv.loan.title}`);
                  if (!stopped) render(await api.invitations());
                } catch (e) {
                  showError(e);
                }
              });
              li.append(b);
            }
          }
          return li;
        }),
      );
      list.dataset.count = String(items.length);
    };
    api.invitations().then((items) => !stopped && render(items), showError);
    return () => {
      stopped = true;
    };
  }

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) void signIn(saved);
}
