"""The fault proxy between the app and DynamoDB Local, and settings that
point the app at it (short timeouts so slow answers time out quickly)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from core.settings import Settings
from faultproxy import FaultProxy
from models import tables
from tests.conftest import make_settings


@pytest.fixture(scope="session")
def fault_proxy(dynamodb_endpoint: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(dynamodb_endpoint).start_in_thread()
    try:
        yield proxy
    finally:
        proxy.stop_thread()


@pytest.fixture(autouse=True)
def _clean_rules(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts and ends without fault rules (counters at zero)."""
    proxy = (
        request.getfixturevalue("fault_proxy") if "fault_proxy" in request.fixturenames else None
    )
    if proxy is not None:
        proxy.reset()
    yield
    if proxy is not None:
        proxy.reset()


@pytest.fixture(scope="module")
def settings(fault_proxy: FaultProxy) -> Iterator[Settings]:
    """Fresh tables, every call through the proxy."""
    s = make_settings(
        fault_proxy.endpoint,
        table_prefix=f"f{uuid.uuid4().hex[:8]}_",
        db_read_timeout=2.0,
        db_max_attempts=4,
    )
    # Tables are created with the default (patient) timeouts: a loaded machine
    # can take more than the tests' short read timeout to create one.
    tables.configure(s.with_(db_read_timeout=30.0, db_max_attempts=5))
    tables.create_tables(s)
    tables.configure(s)
    yield s
