"""UTC timestamps as the API writes them: ISO-8601 with a trailing "Z"."""

from __future__ import annotations

import datetime as dt


def serialize_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
