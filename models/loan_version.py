"""Loan versions: the full snapshot at each version, so accepted terms can be proved."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.models import Model

from models.attributes import JSONTextAttribute, string_list
from models.base import register


@register
class LoanVersion(Model):
    class Meta:
        table_name = "loan_versions"

    loan_id = UnicodeAttribute(hash_key=True)
    version = NumberAttribute(range_key=True)
    snapshot = JSONTextAttribute()
    changed_fields = string_list(default=list)
    changed_by = UnicodeAttribute(null=True)
    changed_at = UTCDateTimeAttribute()
    change_reason = UnicodeAttribute(null=True)
    reverted_from = NumberAttribute(null=True)
