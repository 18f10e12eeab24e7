"""The `loangraph` command line."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from core.settings import Settings, get_settings, reset_settings

if TYPE_CHECKING:
    from core.dynamodb_local import DynamoDBLocal

log = logging.getLogger("loangraph.cli")

app = typer.Typer(
    help="loangraph: GraphQL API for private lending marketplaces.", no_args_is_help=True
)


def _database(persist: bool = True) -> tuple[Settings, DynamoDBLocal | None]:
    """Configure models against LOANGRAPH_DYNAMODB_ENDPOINT, or start the embedded
    DynamoDB Local (data under .data/ unless persist=False). Returns (settings, launcher)."""
    from core.dynamodb_local import DynamoDBLocal
    from models import tables

    settings = get_settings()
    launcher: DynamoDBLocal | None = None
    if settings.database == "embedded":
        # A `loangraph serve` already running on this data directory: share its
        # database (two DynamoDB Local processes must not share one data file).
        endpoint = _running_endpoint(settings.data_dir) if persist else None
        if endpoint is None:
            launcher = DynamoDBLocal(data_dir=settings.data_dir if persist else None).start()
            endpoint = launcher.endpoint
            log.info("DynamoDB Local on %s (data in %s/)", endpoint, settings.data_dir)
        else:
            log.info("using the running server's DynamoDB Local on %s", endpoint)
        os.environ["LOANGRAPH_DYNAMODB_ENDPOINT"] = endpoint
        reset_settings()  # the app (uvicorn factory) reads settings again
        settings = get_settings()
    tables.configure(settings)
    return settings, launcher


def _refuse_dev_secret_on_aws(settings: Settings) -> None:
    """Settings that would let anyone mint tokens (core.auth.check_token_settings;
    create_app checks them too, however the app is started): a clear line, exit 2."""
    from core.auth import UnsafeConfiguration, check_token_settings

    try:
        check_token_settings(settings)
    except UnsafeConfiguration as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _endpoint_file(data_dir: str) -> Path:
    return Path(data_dir) / "dynamodb.endpoint"


def _running_endpoint(data_dir: str) -> str | None:
    """The endpoint a running `serve` recorded, if it still answers."""
    import httpx

    path = _endpoint_file(data_dir)
    try:
        endpoint = path.read_text().strip()
        httpx.get(endpoint, timeout=1.0)
        return endpoint
    except (OSError, httpx.HTTPError):
        return None


def _check_port_free(host: str, port: int) -> None:
    """Exit with one line naming LOANGRAPH_PORT when host:port cannot be bound
    (uvicorn would otherwise fail after the URL was announced)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        typer.echo(f"loangraph: cannot resolve host {host!r} ({exc}); set LOANGRAPH_HOST", err=True)
        raise typer.Exit(2) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            typer.echo(
                f"loangraph: port {port} on {host} is not available ({exc.strerror}): "
                f"stop what uses it or pick another, e.g. LOANGRAPH_PORT={port + 1} make serve",
                err=True,
            )
            raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (LOANGRAPH_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Port (LOANGRAPH_PORT)")] = None,
    create_tables: Annotated[bool, typer.Option(help="Create missing tables on start")] = True,
    workers: Annotated[
        int, typer.Option(help="uvicorn worker processes (more than 1 needs LOANGRAPH_REDIS_URL)")
    ] = 1,
) -> None:
    """Serve GraphiQL and the API (starts the embedded DynamoDB Local when no endpoint is set)."""
    import uvicorn

    from models import tables

    if workers > 1 and not get_settings().redis_url:
        # Each worker process has its own in-memory broker: subscribers on one
        # would miss changes made through another. Redis joins them.
        typer.echo("--workers > 1 needs LOANGRAPH_REDIS_URL (and a `loangraph worker`)", err=True)
        raise typer.Exit(2)
    host = host or get_settings().host
    port = port or get_settings().port
    _check_port_free(host, port)  # before starting anything or announcing a URL
    settings, launcher = _database()
    _refuse_dev_secret_on_aws(settings)
    if launcher is not None and launcher.data_dir:
        marker = _endpoint_file(launcher.data_dir)
        marker.write_text(launcher.endpoint)
        atexit.register(lambda: marker.unlink(missing_ok=True))
    if create_tables:
        created = tables.create_tables(settings)
        if created:
            log.info("created tables: %s", ", ".join(created))
    _receipt_key(settings)
    os.environ["LOANGRAPH_CREATE_TABLES"] = "false"
    typer.echo(f"loangraph: GraphiQL and the API at http://{host}:{port}/graphql", err=True)
    uvicorn.run(
        "server:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        ws="websockets-sansio",
        lifespan="on",
    )


@app.command("create-tables")
def create_tables_cmd() -> None:
    """Create every table (idempotent): GSIs, the audit stream, TTL, recovery."""
    from models import tables

    settings, _ = _database()
    created = tables.create_tables(settings)
    typer.echo(f"created {len(created)} table(s): {', '.join(created) or 'none (all exist)'}")


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="User id (the `sub` claim)")],
    email: Annotated[str | None, typer.Option(help="Email claim")] = None,
    admin: Annotated[bool, typer.Option(help="Add the admin role")] = False,
    name: Annotated[str | None, typer.Option(help="Display name")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds")] = 24 * 3600,
) -> None:
    """Print a development JWT (HS256 with LOANGRAPH_JWT_SECRET)."""
    from core.auth import mint_token

    typer.echo(
        mint_token(get_settings(), sub=sub, email=email, admin=admin, name=name, ttl_seconds=ttl)
    )


@app.command()
def schema() -> None:
    """Print the SDL of the current schema."""
    from schema import print_sdl

    sys.stdout.write(print_sdl())


@app.command()
def worker(
    create_tables: Annotated[bool, typer.Option(help="Create missing tables on start")] = True,
) -> None:
    """Tail the audit stream (one worker holds the lease) and deliver webhooks until SIGTERM."""
    import asyncio
    import signal

    from events.runtime import EventRuntime
    from models import tables

    settings, _launcher = _database()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook POST otherwise
    if create_tables:
        tables.create_tables(settings)

    async def run() -> None:
        runtime = EventRuntime.for_worker(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        broker = "redis" if settings.redis_url else "in-memory (no LOANGRAPH_REDIS_URL)"
        log.info("worker: events via %s; delivering webhooks", broker)
        await stop.wait()
        log.info("worker: stopping")
        await runtime.stop()

    asyncio.run(run())


@app.command()
def seed(
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Write a demo marketplace through the domain layer (skipped when already seeded)."""
    from models import tables
    from services.seed import run_seed

    settings, _launcher = _database()
    tables.create_tables(settings)
    made = run_seed(progress=progress)
    if made.get("skipped"):
        typer.echo("already seeded: nothing written")
    else:
        typer.echo(f"seeded {made['loans']} loans and {made['participants']} participants")


@app.command("check-integrity")
def check_integrity_cmd(
    repair: Annotated[
        bool, typer.Option(help="Recompute what can be recomputed (audited)")
    ] = False,
) -> None:
    """Report orphans, guard mismatches, wrong counters, version gaps, unaudited changes."""
    import anyio

    from services.integrity import check_integrity

    _database()
    report = anyio.run(lambda: check_integrity(repair, progress=True))
    for issue in report.issues:
        mark = "repaired" if issue.repaired else ("repairable" if issue.repairable else "manual")
        typer.echo(f"[{mark}] {issue.kind} {issue.record}: {issue.detail}")
    typer.echo(
        f"checked {report.loans} loans, {report.participants} participants, "
        f"{report.guards} guards: {len(report.issues)} issue(s)"
    )
    if not report.ok:
        raise typer.Exit(1)


@app.command("verify-audit")
def verify_audit_cmd(
    loan: Annotated[str | None, typer.Option("--loan", help="Verify only this loan id")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Findings as JSON lines")] = False,
) -> None:
    """Recompute every loan's audit chain; name each altered, deleted, inserted or
    reordered entry and each head that does not match. Exit 0 if all verify, else 1."""
    import json

    from services import chain

    _database()
    loan_ids = [loan] if loan else chain.all_loan_ids()
    bad = entries = 0
    for loan_id in loan_ids:
        res = chain.verify_loan(loan_id)
        entries += res.entries
        bad += 0 if res.ok else 1
        for f in res.findings:
            typer.echo(json.dumps(f.as_dict()) if as_json else f.line())
    typer.echo(
        f"verified {len(loan_ids)} loan(s), {entries} entries: "
        + ("all chains intact" if not bad else f"{bad} loan(s) failed"),
        err=as_json,
    )
    if bad:
        raise typer.Exit(1)


@app.command("backfill-audit-chain")
def backfill_audit_chain_cmd(
    loan: Annotated[str | None, typer.Option("--loan", help="Only this loan id")] = None,
) -> None:
    """One-time: give existing audit entries their chain (hash, previousHash) and
    each loan its chain head; each loan's backfill is itself an audit entry.
    Resumable: loans whose chain already verifies are skipped."""
    import anyio

    from core.db import run_db
    from services import chain
    from services.common import with_retry

    _database()

    async def run() -> tuple[int, int, int, int]:
        ids = [loan] if loan else await run_db(chain.all_loan_ids)
        chained = skipped = refused = 0
        for loan_id in ids:
            res = await with_retry(
                "backfillAuditChain",
                lambda n, lid=loan_id: run_db(chain.backfill_loan, lid),
                loan_id=loan_id,
            )
            if res.status == "chained":
                chained += 1
                typer.echo(f"chained {loan_id}: {res.entries} entries, {res.rewritten} rewritten")
            elif res.status == "refused":
                refused += 1
                typer.echo(f"refused {loan_id}: its chain exists and fails; see verify-audit")
            else:
                skipped += 1
        unowned = 0 if loan else await run_db(chain.backfill_unowned)
        return chained, skipped, refused, unowned

    chained, skipped, refused, unowned = anyio.run(run)
    typer.echo(
        f"backfill: {chained} loan(s) chained, {skipped} already intact, "
        f"{unowned} entries of no loan hashed, {refused} refused"
    )
    if refused:
        raise typer.Exit(1)


def _receipt_key(settings: Settings) -> None:
    """The receipt signing key: LOANGRAPH_RECEIPT_KEY, or one generated under
    the data directory on first start."""
    from services import receipts

    if not settings.receipt_key and receipts.ensure_key_file(receipts.key_path(settings)):
        typer.echo(f"generated receipt signing key {receipts.key_path(settings)}", err=True)
    kid = receipts.keyring(settings).current["kid"]
    typer.echo(f"receipts signed with key {kid}", err=True)


@app.command("verify-receipt")
def verify_receipt_cmd(
    file: Annotated[
        Path, typer.Argument(help="Receipt JSON: {payload, signature, keyId, algorithm}")
    ],
    keys: Annotated[
        str | None,
        typer.Option(
            "--keys",
            help="Published JWKS: a file or an http(s) URL (default: this installation's keys)",
        ),
    ] = None,
) -> None:
    """Verify an acceptance receipt offline against the published keys. Exit 0 if valid."""
    import json

    from services import receipts

    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        typer.echo(f"INVALID: cannot read {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    # Accept the GraphQL response shape too: {"data": ...{"receipt": {...}}}.
    while isinstance(doc, dict) and "payload" not in doc and len(doc) == 1:
        doc = next(iter(doc.values()))
    if isinstance(doc, dict) and "receipt" in doc:
        doc = doc["receipt"]
    if keys is None:
        jwks = receipts.keyring(get_settings()).jwks()
    elif keys.startswith(("http://", "https://")):
        import httpx

        jwks = httpx.get(keys, timeout=10).json()
    else:
        jwks = json.loads(Path(keys).read_text())
    try:
        payload = receipts.verify(doc if isinstance(doc, dict) else {}, jwks)
    except receipts.ReceiptInvalid as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"VALID: signed by key {doc['keyId']}")
    typer.echo(json.dumps(payload, indent=2, sort_keys=True))


@app.command("rotate-receipt-key")
def rotate_receipt_key_cmd() -> None:
    """Generate a new receipt signing key under the data directory; the old public
    key stays published, so receipts it signed stay verifiable. Restart servers after."""
    from services import receipts

    try:
        old, new = receipts.rotate(get_settings())
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(f"retired {old}; now signing with {new}")


@app.command("migrate-legacy")
def migrate_legacy_cmd(
    from_table: Annotated[
        str, typer.Option("--from", help="Legacy participants table (full name)")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report only, write nothing")] = False,
) -> None:
    """Convert a legacy participants table into stable participants (idempotent)."""
    import json

    import anyio

    from core.errors import DomainError
    from services.migrate import migrate_legacy

    _database()
    try:
        report = anyio.run(lambda: migrate_legacy(from_table, dry_run, progress=True))
    except DomainError as exc:
        typer.echo(f"migrate-legacy: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        json.dumps(
            {"summary": report.summary(), "merged": report.merged, "refused": report.refused},
            indent=2,
        )
    )


persisted_queries_app = typer.Typer(
    help="Trusted documents: the persisted-documents manifest a frontend build produced.",
    no_args_is_help=True,
)
app.add_typer(persisted_queries_app, name="persisted-queries")


@persisted_queries_app.command("import")
def persisted_queries_import(
    file: Annotated[Path, typer.Argument(help="Manifest JSON: {sha256 hex: document}")],
) -> None:
    """Store every document of a manifest (idempotent; checked against the schema)."""
    import json

    from core.errors import BadUserInput
    from guards import apq
    from models import tables
    from schema import build_schema

    try:
        docs = apq.parse_manifest(json.loads(file.read_text()))
        apq.check_manifest_schema(docs, build_schema()._schema)
    except (OSError, ValueError) as exc:
        typer.echo(f"persisted-queries import: {file}: {exc}", err=True)
        raise typer.Exit(2) from None
    except BadUserInput as exc:
        sha = (exc.extensions or {}).get("sha256Hash")
        where = f" (sha256Hash {sha})" if sha else ""
        typer.echo(f"persisted-queries import: {file}: {exc.message}{where}", err=True)
        raise typer.Exit(2) from None
    settings, _launcher = _database()
    tables.create_tables(settings)
    added, present = apq.import_manifest_sync(None, docs)
    typer.echo(f"imported {added} document(s); {present} already stored")


def main() -> None:
    try:
        get_settings()  # a bad LOANGRAPH_* value is a clear message, not a traceback
    except ValueError as exc:
        sys.stderr.write(f"loangraph: {exc}\n")
        raise SystemExit(2) from None
    from ops.logging import configure_logging

    configure_logging()  # the same LOANGRAPH_LOG_FORMAT/LEVEL as the server, for every command
    app()


if __name__ == "__main__":
    main()
