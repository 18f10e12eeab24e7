"""The botocore client of the DynamoDB Streams API (`dynamodbstreams`), on the
configured endpoint, with the same retries, timeouts and per-request call
counting as the DynamoDB client (`core.db`). Used by `events.stream`."""

from __future__ import annotations

from typing import Any

from core import db
from core.retry import botocore_retries


def _count_stream_call(**kwargs: Any) -> None:
    model = kwargs.get("model")
    op = "Streams." + getattr(model, "name", "Unknown")
    db.TOTALS.add(op)
    stats = db.current_stats.get()
    if stats is not None:
        stats.add(op)


def streams_client(settings: Any | None = None) -> Any:
    """A botocore `dynamodbstreams` client on the configured endpoint, instrumented."""
    import botocore.session
    from botocore.config import Config

    s = settings or db.settings()
    kwargs: dict[str, Any] = {
        "region_name": s.aws_region,
        "config": Config(
            retries=botocore_retries(s),
            connect_timeout=s.db_connect_timeout,
            read_timeout=s.db_read_timeout,
            max_pool_connections=32,
        ),
    }
    if s.dynamodb_endpoint:
        kwargs.update(
            endpoint_url=s.dynamodb_endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    client = botocore.session.get_session().create_client("dynamodbstreams", **kwargs)
    db.instrument_client(client)
    # instrument_client hooks "dynamodb.*"; the streams service's events are "dynamodb-streams.*".
    client.meta.events.register("before-call.dynamodb-streams.*", _count_stream_call)
    return client


__all__ = ["streams_client"]
