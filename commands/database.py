"""What the CLI's commands share: the database they run against (the configured
endpoint, or the embedded DynamoDB Local, shared with a `loangraph serve`
running on the same data directory), the checks before serving, and the
receipt signing key."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.settings import Settings, get_settings, reset_settings

if TYPE_CHECKING:
    from core.dynamodb_local import DynamoDBLocal

log = logging.getLogger("loangraph.cli")


def database(persist: bool = True) -> tuple[Settings, DynamoDBLocal | None]:
    """Configure models against LOANGRAPH_DYNAMODB_ENDPOINT, or start the embedded
    DynamoDB Local (data under .data/ unless persist=False). Returns (settings, launcher)."""
    from core.dynamodb_local import DynamoDBLocal
    from models import tables

    settings = get_settings()
    launcher: DynamoDBLocal | None = None
    if settings.database == "embedded":
        # A `loangraph serve` already running on this data directory: share its
        # database (two DynamoDB Local processes must not share one data file).
        endpoint = running_endpoint(settings.data_dir) if persist else None
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


def refuse_dev_secret_on_aws(settings: Settings) -> None:
    """Settings that would let anyone mint tokens (core.auth.check_token_settings;
    create_app checks them too, however the app is started): a clear line, exit 2."""
    from core.auth import UnsafeConfiguration, check_token_settings

    try:
        check_token_settings(settings)
    except UnsafeConfiguration as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def endpoint_file(data_dir: str) -> Path:
    return Path(data_dir) / "dynamodb.endpoint"


def running_endpoint(data_dir: str) -> str | None:
    """The endpoint a running `serve` recorded, if it still answers."""
    import httpx

    path = endpoint_file(data_dir)
    try:
        endpoint = path.read_text().strip()
        httpx.get(endpoint, timeout=1.0)
        return endpoint
    except (OSError, httpx.HTTPError):
        return None


def check_port_free(host: str, port: int) -> None:
    """Exit with one line naming LOANGRAPH_PORT when host:port cannot be bound
    (uvicorn would otherwise fail after the URL was announced)."""
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


def receipt_key(settings: Settings) -> None:
    """The receipt signing key: LOANGRAPH_RECEIPT_KEY, or one generated under
    the data directory on first start."""
    from services import receipts

    if not settings.receipt_key and receipts.ensure_key_file(receipts.key_path(settings)):
        typer.echo(f"generated receipt signing key {receipts.key_path(settings)}", err=True)
    kid = receipts.keyring(settings).current["kid"]
    typer.echo(f"receipts signed with key {kid}", err=True)
