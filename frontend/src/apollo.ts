// The reference frontend on Apollo Client: InMemoryCache normalizing by global
// id, relayStylePagination for `loans`, persisted documents (hashes only) over
// HTTP and over the socket (GraphQLWsLink on graphql-ws).
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, split } from '@apollo/client/core';
import { createPersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import { type Client, createClient } from 'graphql-ws';
import { type Api, ApiError, type Loan, graphqlUrl, hashOf, hashOfOperation, toApiError, wsUrl } from './api';
import { AcceptInvitationDoc, DeclineInvitationDoc, FundingProgressDoc, LoanPageDoc, MyInvitationsDoc, MyLoansDoc, ViewerDoc } from './documents';
import { start } from './ui';

function asApiError(e: unknown): ApiError {
  const err = e as { graphQLErrors?: { message: string; extensions?: unknown }[]; networkError?: { result?: { errors?: { message: string; extensions?: unknown }[] } } };
  return toApiError(err?.graphQLErrors?.length ? err.graphQLErrors : err?.networkError?.result?.errors, e);
}

/** graphql-ws, sending each operation's hash instead of its text (and the text
 * once, as APQ does over HTTP, when the server answers PERSISTED_QUERY_NOT_FOUND). */
function persistedWs(client: Client): Client {
  return {
    ...client,
    subscribe(payload, sink) {
      const persistedQuery = { version: 1, sha256Hash: hashOfOperation(payload.operationName) };
      const extensions = { ...payload.extensions, persistedQuery };
      let dispose = client.subscribe<Parameters<typeof sink.next>[0]['data']>(
        { ...payload, query: '', extensions },
        {
          next: (value) => sink.next(value as Parameters<typeof sink.next>[0]),
          complete: () => sink.complete(),
          error: (err) => {
            const notFound =
              Array.isArray(err) &&
              err.some((e) => (e as { extensions?: { code?: string } })?.extensions?.code === 'PERSISTED_QUERY_NOT_FOUND');
            if (notFound) dispose = client.subscribe({ ...payload, extensions }, sink);
            else sink.error(err);
          },
        },
      );
      return () => dispose();
    },
  };
}

export function makeApi(token: string): Api {
  const ws = createClient({
    url: wsUrl(),
    connectionParams: { authorization: `Bearer ${token}` },
    lazy: true,
  });
  let live = (_: boolean) => {};
  ws.on('closed', () => live(false));
  const http = createPersistedQueryLink({ generateHash: hashOf, useGETForHashedQueries: false }).concat(
    new HttpLink({ uri: graphqlUrl(), headers: { authorization: `Bearer ${token}` } }),
  );
  const link: ApolloLink = split(
    ({ query }) => {
      const def = getMainDefinition(query);
      return def.kind === 'OperationDefinition' && def.operation === 'subscription';
    },
    new GraphQLWsLink(persistedWs(ws)),
    http,
  );
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache({
      // Global ids are unique across types: one cache entry per record.
      dataIdFromObject: (o) => (typeof o.id === 'string' ? o.id : undefined),
      typePolicies: {
        Query: {
          fields: {
            loans: relayStylePagination(['filter', 'includeDeleted']),
            // loan(id:) reads the record the cache already holds under that id.
            loan: { read: (existing, { args, toReference }) => existing ?? toReference(args?.id as string) },
          },
        },
      },
    }),
  });

  return {
    name: 'Apollo Client',
    async viewer() {
      try {
        const { data } = await client.query({ query: ViewerDoc, fetchPolicy: 'network-only' });
        return data.viewer;
      } catch (e) {
        throw asApiError(e);
      }
    },
    watchLoans(pageSize, onList, onError) {
      const q = client.watchQuery({ query: MyLoansDoc, variables: { first: pageSize }, fetchPolicy: 'cache-and-network' });
      const sub = q.subscribe({
        next: ({ data }) => {
          if (!data) return;
          onList({ loans: data.loans.edges.map((e) => e.node), hasNextPage: data.loans.pageInfo.hasNextPage });
        },
        error: (e) => onError(asApiError(e)),
      });
      return {
        async loadMore() {
          const after = q.getCurrentResult().data?.loans.pageInfo.endCursor;
          try {
            await q.fetchMore({ variables: { after } });
          } catch (e) {
            throw asApiError(e);
          }
        },
        stop: () => sub.unsubscribe(),
      };
    },
    watchLoan(id, onLoan, onError, onLive) {
      const q = client.watchQuery({ query: LoanPageDoc, variables: { id }, fetchPolicy: 'cache-first' });
      const sub = q.subscribe({
        next: ({ data }) => data && onLoan((data.loan as Loan | null) ?? null),
        error: (e) => onError(asApiError(e)),
      });
      live = onLive;
      // Each update carries the loan: written to the cache, it re-renders the page.
      const updates = client.subscribe({ query: FundingProgressDoc, variables: { loanId: id } }).subscribe({
        next: ({ errors }) => (errors?.length ? onError(toApiError(errors, null)) : onLive(true)),
        error: (e) => {
          onLive(false);
          onError(asApiError(e));
        },
      });
      return () => {
        live = () => {};
        sub.unsubscribe();
        updates.unsubscribe();
      };
    },
    async invitations() {
      try {
        const { data } = await client.query({ query: MyInvitationsDoc, fetchPolicy: 'network-only' });
        return data.myInvitations.edges.map((e) => e.node);
      } catch (e) {
        throw asApiError(e);
      }
    },
    async respond(participantId, accept) {
      try {
        if (accept) {
          const { data } = await client.mutate({ mutation: AcceptInvitationDoc, variables: { input: { participantId } } });
          return data?.acceptInvitation.errors ?? [];
        }
        const { data } = await client.mutate({ mutation: DeclineInvitationDoc, variables: { input: { participantId } } });
        return data?.declineInvitation.errors ?? [];
      } catch (e) {
        throw asApiError(e);
      }
    },
    close() {
      void client.clearStore();
      client.stop();
      void ws.dispose();
    },
  };
}

start('Apollo Client', makeApi);
