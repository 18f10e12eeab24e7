// What the page needs from a GraphQL client. apollo.ts and urql.ts implement it
// over the same generated documents (documents.ts); ui.ts renders it.
import type { DocumentNode } from 'graphql';
import * as documents from './documents';
import type { LoanDetailFragment, MyInvitationsQuery, MyLoansQuery } from './gql/graphql';

export type Loan = LoanDetailFragment;
export type LoanSummary = MyLoansQuery['loans']['edges'][number]['node'];
export type Invitation = MyInvitationsQuery['myInvitations']['edges'][number]['node'];

/** A payload UserError: an expected refusal, part of `data`. */
export interface UserErrorView {
  code: string;
  message: string;
  field?: readonly string[] | null;
}

/** A GraphQL (top-level) error, with its extensions.code: unexpected, or auth. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface LoanList {
  loans: LoanSummary[];
  hasNextPage: boolean;
}

export interface LoanListWatch {
  loadMore(): Promise<void>;
  stop(): void;
}

export interface Api {
  readonly name: string;
  viewer(): Promise<{ id: string; email?: string | null }>;
  watchLoans(
    pageSize: number,
    onList: (list: LoanList) => void,
    onError: (e: ApiError) => void,
  ): LoanListWatch;
  /** The loan, kept current: by the cache and by the fundingProgress subscription. */
  watchLoan(
    id: string,
    onLoan: (loan: Loan | null) => void,
    onError: (e: ApiError) => void,
    onLive: (live: boolean) => void,
  ): () => void;
  invitations(): Promise<Invitation[]>;
  /** Accept or decline; payload UserErrors come back as values, never thrown. */
  respond(participantId: string, accept: boolean): Promise<readonly UserErrorView[]>;
  close(): void;
}

// Trusted documents: each operation's sha256 (from the codegen manifest), by
// operation name, so the clients can send hashes instead of document text.
const HASHES = new Map<string, string>();
for (const doc of Object.values(documents)) {
  const meta = (doc as unknown as { __meta__?: { hash?: string } }).__meta__;
  for (const def of (doc as DocumentNode).definitions) {
    if (def.kind === 'OperationDefinition' && def.name && meta?.hash) {
      HASHES.set(def.name.value, meta.hash.replace(/^sha256:/, ''));
    }
  }
}

export function hashOfOperation(name: string | null | undefined): string {
  const hash = name ? HASHES.get(name) : undefined;
  if (!hash) throw new ApiError(`No persisted document for operation ${name}`, 'CLIENT_ERROR');
  return hash;
}

export function hashOf(doc: DocumentNode): string {
  const op = doc.definitions.find((d) => d.kind === 'OperationDefinition');
  return hashOfOperation(op && op.kind === 'OperationDefinition' ? op.name?.value : undefined);
}

/** The first GraphQL error of a response as an ApiError. */
export function toApiError(errors: readonly { message: string; extensions?: unknown }[] | undefined, fallback: unknown): ApiError {
  const first = errors?.[0];
  if (first) {
    const ext = (first.extensions ?? {}) as { code?: unknown };
    return new ApiError(first.message, typeof ext.code === 'string' ? ext.code : 'INTERNAL_SERVER_ERROR');
  }
  if (fallback instanceof ApiError) return fallback;
  const message = fallback instanceof Error ? fallback.message : String(fallback);
  return new ApiError(message || 'The request failed', 'NETWORK_ERROR');
}

export const TOKEN_KEY = 'loangraph:app-token';
export const graphqlUrl = () => new URL('/graphql', location.href).toString();
export const wsUrl = () => graphqlUrl().replace(/^http/, 'ws');
