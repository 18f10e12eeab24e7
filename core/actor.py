"""Who makes a change and from where: what every audit entry records."""

from __future__ import annotations

from dataclasses import dataclass

from core.auth import Viewer


@dataclass(frozen=True)
class Actor:
    viewer: Viewer
    ip_address: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    @property
    def user_id(self) -> str:
        return self.viewer.user_id
