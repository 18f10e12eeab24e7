"""By-key loaders for every record the schema reads."""

from __future__ import annotations

from collections.abc import Sequence

from models import AuditEntry, Loan, LoanVersion, Participant, ParticipantGuard, User, Webhook
from loaders.base import Loader, batch_get


class UserByIdLoader(Loader[str, User]):
    def fetch(self, keys: Sequence[str]) -> list[User | None]:
        return batch_get(User, keys, lambda u: u.user_id)


class LoanByIdLoader(Loader[str, Loan]):
    def fetch(self, keys: Sequence[str]) -> list[Loan | None]:
        return batch_get(Loan, keys, lambda r: r.loan_id)


class ParticipantByKeyLoader(Loader[tuple[str, str], Participant]):
    """Key: (loan_id, participant_id)."""

    def fetch(self, keys: Sequence[tuple[str, str]]) -> list[Participant | None]:
        return batch_get(Participant, keys, lambda p: (p.loan_id, p.participant_id))


class LoanVersionByKeyLoader(Loader[tuple[str, int], LoanVersion]):
    """Key: (loan_id, version)."""

    def fetch(self, keys: Sequence[tuple[str, int]]) -> list[LoanVersion | None]:
        return batch_get(LoanVersion, keys, lambda v: (v.loan_id, int(v.version)))


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
