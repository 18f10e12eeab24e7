// The reference frontend on urql: @urql/core with its document cache, the
// persisted exchange (hashes first) and graphql-ws for subscriptions.
import { Client, type CombinedError, cacheExchange, fetchExchange, subscriptionExchange } from '@urql/core';
import { persistedExchange } from '@urql/exchange-persisted';
import { createClient } from 'graphql-ws';
import { type Api, ApiError, type Loan, type LoanSummary, graphqlUrl, hashOf, toApiError, wsUrl } from './api';
import { AcceptInvitationDoc, DeclineInvitationDoc, FundingProgressDoc, LoanPageDoc, MyInvitationsDoc, MyLoansDoc, ViewerDoc } from './documents';
import { start } from './ui';

function asApiError(e: CombinedError | undefined): ApiError {
  if (!e) return new ApiError('No data', 'CLIENT_ERROR');
  if (e.graphQLErrors.length) return toApiError(e.graphQLErrors, e);
  const body = (e.response as { __body?: unknown } | undefined)?.__body;
  return toApiError(undefined, e.networkError ?? body ?? e);
}

export function makeApi(token: string): Api {
  const ws = createClient({
    url: wsUrl(),
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
  });
  let live = (_: boolean) => {};
  ws.on('closed', () => live(false));
  const client = new Client({
    url: graphqlUrl(),
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    exchanges: [
      cacheExchange,
      persistedExchange({
        // Hash first; the text only after PERSISTED_QUERY_NOT_FOUND (APQ mode). In
        // allow-list mode the server answers PERSISTED_QUERY_REQUIRED: no retry.
        enforcePersistedQueries: false,
        enableForMutation: true,
        enableForSubscriptions: true,
        generateHash: async (_query, document) => hashOf(document),
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          // The persisted exchange left the hash in extensions and no text.
          const input = { ...request, query: request.query ?? '' };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
  });

  return {
    name: 'urql',
    async viewer() {
      const r = await client.query(ViewerDoc, {}, { requestPolicy: 'network-only' }).toPromise();
      if (!r.data) throw asApiError(r.error);
      return r.data.viewer;
    },
    watchLoans(pageSize, onList, onError) {
      // @urql/core has no pagination helper: pages are kept here, each edge once.
      const pages: { loans: LoanSummary[]; endCursor: string | null; hasNextPage: boolean }[] = [];
      const emit = () => {
        const seen = new Set<string>();
        const loans = pages.flatMap((p) => p.loans).filter((l) => !seen.has(l.id) && seen.add(l.id));
        onList({ loans, hasNextPage: pages.at(-1)?.hasNextPage ?? false });
      };
      const fetchPage = async (after: string | null) => {
        const r = await client.query(MyLoansDoc, { first: pageSize, after }, { requestPolicy: 'network-only' }).toPromise();
        if (!r.data) throw asApiError(r.error);
        const { edges, pageInfo } = r.data.loans;
        pages.push({ loans: edges.map((e) => e.node), endCursor: pageInfo.endCursor ?? null, hasNextPage: pageInfo.hasNextPage });
        emit();
      };
      let stopped = false;
      fetchPage(null).catch((e) => !stopped && onError(e));
      return {
        loadMore: () => fetchPage(pages.at(-1)?.endCursor ?? null),
        stop: () => {
          stopped = true;
        },
      };
    },
    watchLoan(id, onLoan, onError, onLive) {
      // The document cache re-runs this query when a mutation returns a Loan.
      const q = client.query(LoanPageDoc, { id }, { requestPolicy: 'cache-and-network' }).subscribe((r) => {
        if (r.error) onError(asApiError(r.error));
        else if (r.data) onLoan((r.data.loan as Loan | null) ?? null);
      });
      live = onLive;
      // Each update carries the whole loan.
      const updates = client.subscription(FundingProgressDoc, { loanId: id }).subscribe((r) => {
        if (r.error) {
          onError(asApiError(r.error));
        } else if (r.data) {
          onLive(true);
          onLoan(r.data.fundingProgress.loan as Loan);
        }
      });
      return () => {
        live = () => {};
        q.unsubscribe();
        updates.unsubscribe();
      };
    },
    async invitations() {
      const r = await client.query(MyInvitationsDoc, {}, { requestPolicy: 'network-only' }).toPromise();
      if (!r.data) throw asApiError(r.error);
      return r.data.myInvitations.edges.map((e) => e.node);
    },
    async respond(participantId, accept) {
      const input = { input: { participantId } };
      if (accept) {
        const r = await client.mutation(AcceptInvitationDoc, input).toPromise();
        if (!r.data) throw asApiError(r.error);
        return r.data.acceptInvitation.errors;
      }
      const r = await client.mutation(DeclineInvitationDoc, input).toPromise();
      if (!r.data) throw asApiError(r.error);
      return r.data.declineInvitation.errors;
    },
    close() {
      void ws.dispose();
    },
  };
}

start('urql', makeApi);
