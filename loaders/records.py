"""By-key loaders for every record the schema reads."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

from core.db import run_db
from loaders.base import Loader, batch_get
from loaders.cache import CACHE, Abandoned
from models import AuditEntry, Loan, LoanVersion, Participant, ParticipantGuard, User, Webhook
from ops import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class CachedLoader(Loader[K, V]):
    """A loader over the process cache (loaders.cache): hits cost no DynamoDB
    request and no thread hop; misses are read consistently and fill the cache.
    `fresh=True` (mutations, subscriptions) skips the cache and reads consistently."""

    table = ""

    def __init__(self, fresh: bool = False) -> None:
        super().__init__()
        self.fresh = fresh

    def read(self, keys: Sequence[K]) -> list[V | None]:
        raise NotImplementedError

    def fetch(self, keys: Sequence[K]) -> list[V | None]:
        return self.read(keys)

    async def batch_load_fn(self, keys: Sequence[K]) -> list[V | None]:
        if self.fresh or not CACHE.enabled:
            return await super().batch_load_fn(keys)
        found, missing = CACHE.get_many(self.table, keys)
        # single flight (loaders.cache): keys another request is reading already
        # are waited for, not read again; those whose reader was cancelled, again
        pending = missing
        while pending:
            joined, owned = CACHE.claim(self.table, pending)
            if owned:
                found.update(await self._read_through(owned))
            pending = []
            if joined:
                rows, pending = await CACHE.wait(joined)
                found.update(rows)
        return [found.get(k) for k in keys]

    async def _read_through(
        self, owned: dict[Hashable, asyncio.Future[Any]]
    ) -> dict[Hashable, V | None]:
        """Read the keys this loader owns, fill the cache, settle their flights."""
        keys: list[Any] = list(owned)  # this loader's keys (K), as claimed
        metrics.on_loader_batch(type(self).__name__, len(keys))
        epoch = CACHE.epoch()
        try:
            rows = dict(zip(keys, await run_db(self.read, keys), strict=True))
        except asyncio.CancelledError:
            CACHE.settle(self.table, owned, error=Abandoned())
            raise
        except BaseException as exc:
            CACHE.settle(self.table, owned, error=exc)
            raise
        CACHE.fill(self.table, rows.items(), epoch)
        CACHE.settle(self.table, owned, rows)
        return rows


class UserByIdLoader(CachedLoader[str, User]):
    table = "users"

    def read(self, keys: Sequence[str]) -> list[User | None]:
        return batch_get(User, keys, lambda u: u.user_id, consistent_read=True)


class LoanByIdLoader(CachedLoader[str, Loan]):
    table = "loans"

    def read(self, keys: Sequence[str]) -> list[Loan | None]:
        return batch_get(Loan, keys, lambda r: r.loan_id, consistent_read=True)


class ParticipantByKeyLoader(Loader[tuple[str, str], Participant]):
    """Key: (loan_id, participant_id)."""

    def fetch(self, keys: Sequence[tuple[str, str]]) -> list[Participant | None]:
        return batch_get(Participant, keys, lambda p: (p.loan_id, p.participant_id))


class LoanVersionByKeyLoader(CachedLoader[tuple[str, int], LoanVersion]):
    """Key: (loan_id, version)."""

    table = "loan_versions"

    def read(self, keys: Sequence[tuple[str, int]]) -> list[LoanVersion | None]:
        return batch_get(
            LoanVersion, keys, lambda v: (v.loan_id, int(v.version)), consistent_read=True
        )


class GuardByKeyLoader(Loader[str, ParticipantGuard]):
    """Key: models.participant.guard_key(loan_id, email): is this email invited?"""

    def fetch(self, keys: Sequence[str]) -> list[ParticipantGuard | None]:
        return batch_get(ParticipantGuard, keys, lambda g: g.guard_key)


class AuditEntryByKeyLoader(Loader[tuple[str, str], AuditEntry]):
    """Key: (record_key, sk)."""

    def fetch(self, keys: Sequence[tuple[str, str]]) -> list[AuditEntry | None]:
        return batch_get(AuditEntry, keys, lambda a: (a.record_key, a.sk))


class WebhookByIdLoader(Loader[str, Webhook]):
    def fetch(self, keys: Sequence[str]) -> list[Webhook | None]:
        return batch_get(Webhook, keys, lambda w: w.webhook_id)
