"""Validation cached by document text: the same query (every client's loan page,
every persisted query) is validated once per schema, not on every request.
Validation was ~25% of a typical request's CPU (graphql-core's visitor)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from cachetools import LRUCache
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.hints import with_hints

_CACHE: LRUCache[tuple[int, str], list] = LRUCache(maxsize=2048)
_LOCK = threading.Lock()


class ValidationByText(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None or not ec.query or ec.pre_execution_errors:
            yield
            return
        key = (id(ec.schema._schema), ec.query)
        with _LOCK:
            errors = _CACHE.get(key)
        if errors is None:
            errors = with_hints(
                validate_document(ec.schema._schema, ec.graphql_document, ec.validation_rules)
            )
            with _LOCK:
                _CACHE[key] = errors
        ec.pre_execution_errors = list(errors)
        yield
