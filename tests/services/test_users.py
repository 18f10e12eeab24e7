"""ensure_user: upsert from the token's claims, once per user per process."""

from __future__ import annotations

from dataclasses import replace

from core import db
from models import User
from services.users import ensure_user
from tests.conftest import new_user


async def test_upsert_once_per_process_and_again_on_new_claims(settings):
    viewer = replace(new_user("u"), display_name="Ada")
    with db.count_requests() as stats:
        assert await ensure_user(viewer) is True
        assert await ensure_user(viewer) is False
        assert await ensure_user(viewer) is False
    assert stats.total == 1
    user = User.get(viewer.user_id, consistent_read=True)
    assert user.email == viewer.email and user.display_name == "Ada"
    created = user.created_at
    # when the claims change, the profile is written again, created_at kept
    assert await ensure_user(replace(viewer, display_name="Ada L.")) is True
    user = User.get(viewer.user_id, consistent_read=True)
    assert user.display_name == "Ada L." and user.created_at == created
