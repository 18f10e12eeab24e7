"""PynamoDB models, one table per module; `configure` points them at a database."""

from models.audit import AuditEntry
from models.base import REGISTRY, configure
from models.loan import Loan
from models.loan_metric import LoanMetric
from models.loan_version import LoanVersion
from models.ops import IdempotencyKey, PersistedQuery, RateLimitCounter, StreamCheckpoint
from models.participant import Participant, ParticipantGuard
from models.user import User
from models.webhook import Webhook, WebhookDelivery

__all__ = [
    "REGISTRY",
    "AuditEntry",
    "IdempotencyKey",
    "Loan",
    "LoanMetric",
    "LoanVersion",
    "Participant",
    "ParticipantGuard",
    "PersistedQuery",
    "RateLimitCounter",
    "StreamCheckpoint",
    "User",
    "Webhook",
    "WebhookDelivery",
    "configure",
]
