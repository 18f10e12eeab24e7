"""The User type."""

from __future__ import annotations

import strawberry

import models
from core.ids import to_global_id
from resolvers.context import Info
from schema.common import Node


@strawberry.type(description="A person with an account: a borrower, a lender or an admin.")
class User(Node):
    user_id: str = strawberry.field(
        description="The user's id (the token's `sub`), e.g. \"u-123\"."
    )
    display_name: str | None = strawberry.field(description="Name to show, when known.")
    _email: strawberry.Private[str | None]

    @strawberry.field(description='Global id, e.g. base64 of "User:u-123".')
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("User", self.user_id))

    @strawberry.field(description="Email address; visible to the user themself and to admins only.")
    def email(self, info: Info) -> str | None:
        viewer = info.context.viewer
        if viewer is not None and (viewer.is_admin or viewer.user_id == self.user_id):
            return self._email or (viewer.email if viewer.user_id == self.user_id else None)
        return None

    @classmethod
    def of(cls, user_id: str, model: models.User | None) -> User:
        return cls(
            user_id=user_id,
            display_name=model.display_name if model else None,
            _email=model.email if model else None,
        )


async def load_user(info: Info, user_id: str | None) -> User | None:
    if not user_id:
        return None
    model = await info.context.loaders.user_by_id.load(user_id)
    return User.of(user_id, model)
