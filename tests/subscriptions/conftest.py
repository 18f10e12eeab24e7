"""Subscription tests run against the shared `server` fixture (tests/conftest.py):
WebSocket clients need a socket. Some need a real redis-server too."""

from __future__ import annotations

from tests.events.conftest import redis_url  # noqa: F401  (a real redis-server)
