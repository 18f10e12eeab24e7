"""The admission work that depends only on the document, done once per document.

Every client of the loan page sends the same text; the checks `QueryGuards`
makes before an operation runs were repeated on each request (~9 % of a cached
page's time). Per app (`Guards.analyses`), two bounded LRUs:

* documents: (schema, query text, operation name, limits) -> the names of the
  variables the cost analysis reads (`Analysis.variables_read`). An entry means
  the document-only checks passed with these limits: its expanded size and
  its list literals (guards.limits).
* analyses: the same key + what the analysis sees of those variables -> the
  `Analysis` (cost, nodes, depth, aliases, plan). It is keyed by exactly what
  the figures depend on: for each variable read, absent (its default applies),
  an Int (a page size: its value), a list (`nodes(ids:)`: its length), or
  anything else (ignored by the formula). So `first: $n` with n = 5 and
  n = 500 are two entries, and the second is refused whatever ran before.

Nothing about the caller is kept: the allow-list, the variables' own checks
(nesting, list lengths), the limits against the figures and the rate limiter
run on every request. Analyses are shared between requests: read-only."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Mapping
from typing import Any

from cachetools import LRUCache

from guards.cost import Analysis

DOCUMENTS = 1024
ANALYSES = 4096
_ABSENT = ("absent",)
_OTHER = ("other",)

DocumentKey = tuple[Any, str, str | None, Any]


def _seen(variables: Mapping[str, Any], name: str) -> Hashable:
    """What the cost formula sees of one variable (guards.cost._Walker._value)."""
    if name not in variables:
        return _ABSENT
    v = variables[name]
    if isinstance(v, bool):
        return _OTHER
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, list | tuple):
        return ("list", len(v))
    return _OTHER


class AnalysisCache:
    def __init__(self, documents: int = DOCUMENTS, analyses: int = ANALYSES) -> None:
        self._lock = threading.Lock()
        self._documents: LRUCache[DocumentKey, tuple[str, ...]] = LRUCache(maxsize=documents)
        self._analyses: LRUCache[tuple[DocumentKey, tuple[Hashable, ...]], Analysis] = LRUCache(
            maxsize=analyses
        )
        self.hits = self.misses = 0

    @staticmethod
    def key(schema: Any, query: str, operation_name: str | None, limits: Any) -> DocumentKey:
        # The schema itself, not its id(): ids are reused once an object is
        # collected, and the key keeps it alive while cached.
        return (schema, query, operation_name, limits)

    def checked(self, key: DocumentKey) -> tuple[str, ...] | None:
        """The variables the analysis reads, if the document passed its own
        checks under this key before; None: run them."""
        with self._lock:
            return self._documents.get(key)

    def analysis(
        self, key: DocumentKey, read: tuple[str, ...], variables: Mapping[str, Any] | None
    ) -> Analysis | None:
        vs = variables or {}
        with self._lock:
            found = self._analyses.get((key, tuple(_seen(vs, n) for n in read)))
            if found is None:
                self.misses += 1
            else:
                self.hits += 1
        return found

    def store(self, key: DocumentKey, a: Analysis, variables: Mapping[str, Any] | None) -> None:
        """After the document's own checks passed and `a` was computed for `variables`."""
        vs = variables or {}
        seen = tuple(_seen(vs, n) for n in a.variables_read)
        with self._lock:
            self._documents[key] = a.variables_read
            self._analyses[(key, seen)] = a

    def clear(self) -> None:
        with self._lock:
            self._documents.clear()
            self._analyses.clear()
