"""Users: the profile from the token's claims, upserted on first use.

The upsert is cached per process (cachetools), keyed by the table and the
profile itself, so each user is written once per process, and again only when
their claims (email, name, roles) change. Profiles are not business records:
no audit entry (the claims are the source of truth)."""

from __future__ import annotations

import threading

from cachetools import LRUCache

from core.auth import Viewer
from core.db import run_db
from models import User
from services.common import utcnow

_seen: LRUCache[tuple[object, ...], bool] = LRUCache(maxsize=50_000)
_lock = threading.Lock()


def _key(viewer: Viewer) -> tuple[object, ...]:
    return (
        User.Meta.table_name,
        viewer.user_id,
        viewer.email,
        viewer.display_name,
        tuple(viewer.roles),
    )


def _upsert(viewer: Viewer) -> None:
    now = utcnow()
    User(user_id=viewer.user_id).update(
        actions=[
            User.email.set(viewer.email) if viewer.email else User.email.remove(),
            User.display_name.set(viewer.display_name)
            if viewer.display_name
            else User.display_name.remove(),
            User.roles.set(list(viewer.roles)),
            User.updated_at.set(now),
            User.created_at.set(User.created_at | now),
        ]
    )


async def ensure_user(viewer: Viewer) -> bool:
    """Upsert the viewer's profile once per process; True when it wrote."""
    key = _key(viewer)
    with _lock:
        if key in _seen:
            return False
    await run_db(_upsert, viewer)
    with _lock:
        _seen[key] = True
    return True


def clear_cache() -> None:
    with _lock:
        _seen.clear()
