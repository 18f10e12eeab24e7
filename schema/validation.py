"""Validation cached by document text: the same query (every client's loan page,
every persisted query) is validated once per schema, not on every request.
Validation was ~25% of a typical request's CPU (graphql-core's visitor)."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator

from cachetools import LRUCache
from graphql import GraphQLSchema
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from schema.hints import with_hints

# One LRU per schema object, held weakly: not keyed by id(schema), which a new
# schema may reuse once an old one is collected (tests build many apps), and
# would then be answered with another schema's verdicts.
_CACHES: weakref.WeakKeyDictionary[GraphQLSchema, LRUCache[str, list]] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
MAX_DOCUMENTS_PER_SCHEMA = 2048


def _cache_of(schema: GraphQLSchema) -> LRUCache[str, list]:
    cache = _CACHES.get(schema)
    if cache is None:
        cache = _CACHES[schema] = LRUCache(maxsize=MAX_DOCUMENTS_PER_SCHEMA)
    return cache


class ValidationByText(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None or not ec.query or ec.pre_execution_errors:
            yield
            return
        schema = ec.schema._schema
        with _LOCK:
            errors = _cache_of(schema).get(ec.query)
        if errors is None:
            errors = with_hints(validate_document(schema, ec.graphql_document, ec.validation_rules))
            with _LOCK:
                _cache_of(schema)[ec.query] = errors
        ec.pre_execution_errors = list(errors)
        yield
