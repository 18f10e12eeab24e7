"""The `loangraph` command line."""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.settings import get_settings, reset_settings

app = typer.Typer(
    help="loangraph: GraphQL API for private lending marketplaces.", no_args_is_help=True
)


def _database(persist: bool = True):
    """Configure models against LOANGRAPH_DYNAMODB_ENDPOINT, or start the embedded
    DynamoDB Local (data under .data/ unless persist=False). Returns (settings, launcher)."""
    from core import db
    from core.dynamodb_local import DynamoDBLocal

    settings = get_settings()
    launcher = None
    if not settings.dynamodb_endpoint and not os.environ.get("AWS_REGION"):
        # A `loangraph serve` already running on this data directory: share its
        # database (two DynamoDB Local processes must not share one data file).
        endpoint = _running_endpoint(settings.data_dir) if persist else None
        if endpoint is None:
            launcher = DynamoDBLocal(data_dir=settings.data_dir if persist else None).start()
            endpoint = launcher.endpoint
            typer.echo(f"DynamoDB Local on {endpoint} (data in {settings.data_dir}/)", err=True)
        else:
            typer.echo(f"using the running server's DynamoDB Local on {endpoint}", err=True)
        os.environ["LOANGRAPH_DYNAMODB_ENDPOINT"] = endpoint
        reset_settings()  # the app (uvicorn factory) reads settings again
        settings = get_settings()
    db.configure(settings)
    return settings, launcher


def _refuse_dev_secret_on_aws(settings) -> None:  # type: ignore[no-untyped-def]
    """Real AWS with the public development secret and no JWKS: anyone could mint
    tokens. Refuse to start."""
    from core.auth import DEV_SECRET

    if not settings.dynamodb_endpoint and settings.jwt_secret == DEV_SECRET and not settings.jwks:
        typer.echo(
            "refusing to serve real AWS with the development JWT secret: set LOANGRAPH_JWKS "
            "(RS256) or LOANGRAPH_JWT_SECRET",
            err=True,
        )
        raise typer.Exit(2)


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

    from core import db

    if workers > 1 and not get_settings().redis_url:
        # Each worker process has its own in-memory broker: subscribers on one
        # would miss changes made through another. Redis joins them.
        typer.echo("--workers > 1 needs LOANGRAPH_REDIS_URL (and a `loangraph worker`)", err=True)
        raise typer.Exit(2)
    settings, launcher = _database()
    _refuse_dev_secret_on_aws(settings)
    if launcher is not None and launcher.data_dir:
        marker = _endpoint_file(launcher.data_dir)
        marker.write_text(launcher.endpoint)
        atexit.register(lambda: marker.unlink(missing_ok=True))
    if create_tables:
        created = db.create_tables(settings)
        if created:
            typer.echo(f"created tables: {', '.join(created)}", err=True)
    os.environ["LOANGRAPH_CREATE_TABLES"] = "false"
    host = host or settings.host
    port = port or settings.port
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
    from core import db

    settings, _ = _database()
    created = db.create_tables(settings)
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
    import logging
    import signal

    from core import db
    from events.runtime import EventRuntime

    settings, _launcher = _database()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook POST otherwise
    if create_tables:
        db.create_tables(settings)

    async def run() -> None:
        runtime = EventRuntime.for_worker(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await runtime.start()
        broker = "redis" if settings.redis_url else "in-memory (no LOANGRAPH_REDIS_URL)"
        typer.echo(f"loangraph worker: events via {broker}; delivering webhooks", err=True)
        await stop.wait()
        typer.echo("loangraph worker: stopping", err=True)
        await runtime.stop()

    asyncio.run(run())


@app.command()
def seed(
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Write a demo marketplace through the domain layer (skipped when already seeded)."""
    from core import db
    from services.seed import run_seed

    settings, _launcher = _database()
    db.create_tables(settings)
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

    from core import db
    from core.errors import BadUserInput
    from guards import apq
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
    db.create_tables(settings)
    added, present = apq.import_manifest_sync(None, docs)
    typer.echo(f"imported {added} document(s); {present} already stored")


def main() -> None:
    try:
        get_settings()  # a bad LOANGRAPH_* value is a clear message, not a traceback
    except ValueError as exc:
        sys.stderr.write(f"loangraph: {exc}\n")
        raise SystemExit(2) from None
    app()


if __name__ == "__main__":
    main()
