"""The naive resolver-per-field variant: the same schema and resolvers, but every
by-key read is its own request (no batching, no per-request cache)."""

from __future__ import annotations

from functools import cached_property
from typing import Any, TypeVar

from aiodataloader import DataLoader

from loaders import Loaders, records

L = TypeVar("L", bound=DataLoader[Any, Any])


def _unbatched(cls: type[L]) -> L:
    # fresh: bypass the process cache too, where the loader has one
    loader = cls(True) if issubclass(cls, records.CachedLoader) else cls()
    loader.batch = False  # one batch_load_fn call (one DynamoDB request) per key
    loader.cache = False
    return loader


class NaiveLoaders(Loaders):
    @cached_property
    def user_by_id(self) -> records.UserByIdLoader:
        return _unbatched(records.UserByIdLoader)

    @cached_property
    def loan_by_id(self) -> records.LoanByIdLoader:
        return _unbatched(records.LoanByIdLoader)

    @cached_property
    def participant_by_key(self) -> records.ParticipantByKeyLoader:
        return _unbatched(records.ParticipantByKeyLoader)

    @cached_property
    def loan_version_by_key(self) -> records.LoanVersionByKeyLoader:
        return _unbatched(records.LoanVersionByKeyLoader)

    @cached_property
    def guard_by_key(self) -> records.GuardByKeyLoader:
        return _unbatched(records.GuardByKeyLoader)
