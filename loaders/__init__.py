"""Per-request DataLoaders (aiodataloader), created lazily on first use."""

from __future__ import annotations

from functools import cached_property

from core.settings import Settings
from loaders.pages import PageLoader
from loaders.records import (
    AuditEntryByKeyLoader,
    GuardByKeyLoader,
    LoanByIdLoader,
    LoanVersionByKeyLoader,
    ParticipantByKeyLoader,
    UserByIdLoader,
    WebhookByIdLoader,
)


class Loaders:
    """The loaders of one request; never shared across requests. `fresh=True`
    (mutations, subscriptions) bypasses the process caches (loaders.cache,
    loaders.page_cache)."""

    def __init__(self, fresh: bool = False) -> None:
        self.fresh = fresh

    @cached_property
    def user_by_id(self) -> UserByIdLoader:
        return UserByIdLoader(self.fresh)

    @cached_property
    def loan_by_id(self) -> LoanByIdLoader:
        return LoanByIdLoader(self.fresh)

    @cached_property
    def participant_by_key(self) -> ParticipantByKeyLoader:
        return ParticipantByKeyLoader()

    @cached_property
    def loan_version_by_key(self) -> LoanVersionByKeyLoader:
        return LoanVersionByKeyLoader(self.fresh)

    @cached_property
    def guard_by_key(self) -> GuardByKeyLoader:
        return GuardByKeyLoader()

    @cached_property
    def audit_entry_by_key(self) -> AuditEntryByKeyLoader:
        return AuditEntryByKeyLoader()

    def pages(self, settings: Settings) -> PageLoader:
        loader = self.__dict__.get("_pages")
        if loader is None:
            loader = self.__dict__["_pages"] = PageLoader(settings, self.fresh)
        return loader

    @cached_property
    def webhook_by_id(self) -> WebhookByIdLoader:
        return WebhookByIdLoader()


__all__ = ["Loaders"]
