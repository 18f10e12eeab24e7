"""Funding time series: one point per funding change, written in its transaction."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from models.attributes import DecimalAttribute
from models.base import register


@register
class LoanMetric(Model):
    class Meta:
        table_name = "loan_metrics"

    loan_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)  # "<timestamp>#<audit_id>": unique, time ordered
    timestamp = UTCDateTimeAttribute()
    event = UnicodeAttribute()
    total_funded = DecimalAttribute()
    funding_percentage = DecimalAttribute()
    participant_count = NumberAttribute()
    accepted_participant_count = NumberAttribute()
