"""A real `loangraph serve` for the privacy rules (docs/security.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.events.conftest import Receiver
from tests.ops.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def receivers() -> Iterator[list[Receiver]]:
    """Loopback webhook receivers, started on demand: receivers[i]."""
    made = [Receiver().start() for _ in range(2)]
    try:
        yield made
    finally:
        for r in made:
            r.stop()


@pytest.fixture(scope="module")
def server(
    dynamodb_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    s = start_server(
        dynamodb_endpoint,
        tmp_path_factory.mktemp("privacy"),
        LOANGRAPH_WEBHOOK_ALLOW_PRIVATE="true",  # the receiver is on loopback
        LOANGRAPH_WEBHOOK_RETRY_BASE_SECONDS="0.2",
    )
    try:
        yield s
    finally:
        s.stop()
