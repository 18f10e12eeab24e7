"""Users: profile from the token's claims, upserted on first use."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from models.attributes import string_list
from models.base import register


@register
class User(Model):
    class Meta:
        table_name = "users"

    user_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    display_name = UnicodeAttribute(null=True)
    roles = string_list(default=list)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
