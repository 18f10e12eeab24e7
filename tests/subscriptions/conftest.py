"""Real servers for subscription tests: WebSocket clients need a socket."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.events.conftest import redis_url  # noqa: F401  (a real redis-server)
from tests.ops.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def server(
    dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    s = start_server(dynamodb_endpoint, tmp_path_factory.mktemp("subs"))
    try:
        yield s
    finally:
        s.stop()
