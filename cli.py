"""The `loangraph` command line."""

from __future__ import annotations

import atexit
import logging
import os
import sys
from typing import Annotated

import typer

from commands import maintenance
from commands.database import (
    check_port_free,
    database,
    endpoint_file,
    receipt_key,
    refuse_dev_secret_on_aws,
)
from core.settings import get_settings

log = logging.getLogger("loangraph.cli")

app = typer.Typer(
    help="loangraph: GraphQL API for private lending marketplaces.", no_args_is_help=True
)


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
    check_port_free(host, port)  # before starting anything or announcing a URL
    settings, launcher = database()
    refuse_dev_secret_on_aws(settings)
    if launcher is not None and launcher.data_dir:
        marker = endpoint_file(launcher.data_dir)
        marker.write_text(launcher.endpoint)
        atexit.register(lambda: marker.unlink(missing_ok=True))
    if create_tables:
        created = tables.create_tables(settings)
        if created:
            log.info("created tables: %s", ", ".join(created))
    receipt_key(settings)
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

    settings, _ = database()
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

    settings, _launcher = database()
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

    settings, _launcher = database()
    tables.create_tables(settings)
    made = run_seed(progress=progress)
    if made.get("skipped"):
        typer.echo("already seeded: nothing written")
    else:
        typer.echo(f"seeded {made['loans']} loans and {made['participants']} participants")


maintenance.register(app)


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
