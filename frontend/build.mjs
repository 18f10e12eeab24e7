// Builds the reference frontend: GraphQL Code Generator (typed documents and the
// persisted-documents manifest), `tsc --noEmit`, then esbuild bundles for both
// clients into frontend/dist/ (served by the server under /app/).
//
// Usage (from anywhere): node frontend/build.mjs [--check-only]
//   --check-only: codegen + type check only (no bundles).
// Env: CODEGEN_SCHEMA / CODEGEN_OUT to check another schema into another dir.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => join(root, 'node_modules/.bin', name);
const run = (cmd, args) => {
  try {
    execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
  } catch {
    console.error(`frontend: ${cmd.split('/').pop()} failed (see above)`);
    process.exit(1);
  }
};

run(bin('graphql-codegen'), ['--config', 'frontend/codegen.ts']);
run(bin('tsc'), ['--noEmit', '-p', 'frontend/tsconfig.json']);
if (process.argv.includes('--check-only')) process.exit(0);

const { build } = await import('esbuild');
const dist = join(root, 'frontend/dist');
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: { apollo: 'frontend/src/apollo.ts', urql: 'frontend/src/urql.ts' },
  absWorkingDir: root,
  bundle: true,
  minify: true,
  format: 'esm',
  target: 'es2022',
  outdir: dist,
  define: { 'process.env.NODE_ENV': '"production"', 'globalThis.__DEV__': 'false' },
  logLevel: 'warning',
});
copyFileSync(join(root, 'frontend/src/index.html'), join(dist, 'index.html'));
copyFileSync(join(root, 'frontend/src/app.css'), join(dist, 'app.css'));
copyFileSync(join(root, 'frontend/src/gql/persisted-documents.json'), join(dist, 'persisted-documents.json'));
console.log('frontend: built frontend/dist (apollo.js, urql.js, persisted-documents.json)');
