// GraphQL Code Generator: typed documents for the reference frontend from the
// server's SDL, plus the persisted-documents manifest (sha256 -> document) that
// `loangraph persisted-queries import` loads (docs/frontend.md).
//
// Run from the repository root: `node frontend/build.mjs` (codegen, tsc, esbuild).
import type { CodegenConfig } from '@graphql-codegen/cli';
import { addTypenameSelectionDocumentTransform } from '@graphql-codegen/client-preset';

const out = process.env.CODEGEN_OUT || 'frontend/src/gql/';

const config: CodegenConfig = {
  schema: process.env.CODEGEN_SCHEMA || 'schema/schema.graphql',
  documents: ['frontend/src/documents.ts'],
  ignoreNoDocuments: false,
  // Any operation that no longer matches the schema fails the build.
  errorsOnly: true,
  generates: {
    [out]: {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        // Hash = sha256 of the document text, as the server's APQ store keys it.
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      // Both clients add __typename to every selection; the manifest must hold
      // the document they would send, so it is added here too.
      documentTransforms: [addTypenameSelectionDocumentTransform],
      config: {
        scalars: { Decimal: 'string', DateTime: 'string', JSON: 'unknown' },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
