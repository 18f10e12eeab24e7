"""Relay connections on DynamoDB's own cursors (ExclusiveStartKey), not offsets.

first/after pages forward, last/before backward; first and last are 1..100,
the default is first 20. Mixing directions (first with before, last with
after, first with last) is refused: a DynamoDB Query reads one way from one
key. hasNextPage/hasPreviousPage are exact: the page reads one item more than
it returns, and when a cursor is given one more one-item Query looks at the
other side of it.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pynamodb.expressions.condition import Condition
from pynamodb.indexes import Index
from pynamodb.models import Model

from core.cursors import decode_cursor, encode_cursor
from core.errors import BadUserInput

M = TypeVar("M", bound=Model)
T = TypeVar("T")

MAX_PAGE = 100
DEFAULT_PAGE = 20


@dataclass(frozen=True)
class PageArgs:
    first: int | None = None
    after: str | None = None
    last: int | None = None
    before: str | None = None

    @property
    def forward(self) -> bool:
        return self.last is None

    @property
    def size(self) -> int:
        return self.first if self.first is not None else self.last or DEFAULT_PAGE

    @property
    def cursor(self) -> tuple[str, str] | None:
        if self.after is not None:
            return "after", self.after
        if self.before is not None:
            return "before", self.before
        return None

    def validate(self) -> PageArgs:
        for name in ("first", "last"):
            value = getattr(self, name)
            if value is not None and not 1 <= value <= MAX_PAGE:
                raise BadUserInput(f"`{name}` must be between 1 and {MAX_PAGE}", argument=name)
        if self.first is not None and self.last is not None:
            raise BadUserInput("Pass `first` or `last`, not both", argument="last")
        if self.after is not None and self.before is not None:
            raise BadUserInput("Pass `after` or `before`, not both", argument="before")
        if self.last is not None and self.after is not None:
            raise BadUserInput("`last` pages backward: use it with `before`", argument="after")
        if self.first is not None and self.before is not None:
            raise BadUserInput("`first` pages forward: use it with `after`", argument="before")
        if self.before is not None and self.last is None:
            # `before` alone pages backward with the default size.
            return PageArgs(last=DEFAULT_PAGE, before=self.before)
        return self


@dataclass(frozen=True)
class QuerySpec:
    """One DynamoDB Query: the table or index, the partition, conditions."""

    model: type[Model]
    hash_key: Any
    index: Index | None = None
    range_condition: Condition | None = None
    filter_condition: Condition | None = None
    consistent_read: bool = False
    # Fingerprint of the query (field, parent, filter, viewer scope) cursors bind to.
    fingerprint: str = ""

    def key_attributes(self) -> list[Any]:
        attrs = self.model.get_attributes()
        names = [a for a, v in attrs.items() if v.is_hash_key or v.is_range_key]
        if self.index is not None:
            for name, value in self.index.Meta.attributes.items():
                if (value.is_hash_key or value.is_range_key) and name not in names:
                    names.append(name)
        return [attrs[n] for n in names]


@dataclass
class Page(Generic[T]):
    items: list[T]
    cursors: list[Any]  # str or LazyCursor
    has_next_page: bool
    has_previous_page: bool
    # What was built from this page's rows alone, by `derived`.
    _derived: dict[Hashable, Any] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def derived(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """`build()` once per page and key, then the same object. Only for
        what depends on the rows alone, never on who asks: a page from the page
        cache (loaders.page_cache) is shared by every request that reads it, and
        so is this (read-only, like the page)."""
        try:
            return self._derived[key]
        except KeyError:
            value = self._derived[key] = build()
            return value

    @property
    def start_cursor(self) -> str | None:
        return self.cursors[0] if self.cursors else None

    @property
    def end_cursor(self) -> str | None:
        return self.cursors[-1] if self.cursors else None

    def map(self, fn: Callable[[Any], Any]) -> Page[Any]:
        return Page(
            [fn(i) for i in self.items], self.cursors, self.has_next_page, self.has_previous_page
        )


class LazyCursor:
    """A cursor signed only when it is serialized: most queries never select
    `cursor` on every edge. graphql-core serializes custom objects as String
    through `__str__`."""

    __slots__ = ("_item", "_attrs", "_fp", "_secret", "_ttl", "_text")

    def __init__(self, item: Model, attrs: list[Any], fp: str, secret: bytes, ttl: int) -> None:
        self._item, self._attrs, self._fp, self._secret, self._ttl = item, attrs, fp, secret, ttl
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = encode_cursor(
                item_key(self._item, self._attrs), self._fp, self._secret, self._ttl
            )
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))


def item_key(item: Model, key_attrs: list[Any]) -> dict[str, Any]:
    return {a.attr_name: {a.attr_type: a.serialize(getattr(item, a.attr_name))} for a in key_attrs}


def _query(
    spec: QuerySpec, *, forward: bool, limit: int, start: dict[str, Any] | None
) -> list[Any]:
    source: Any = spec.index if spec.index is not None else spec.model
    kwargs: dict[str, Any] = {
        "range_key_condition": spec.range_condition,
        "filter_condition": spec.filter_condition,
        "scan_index_forward": forward,
        "limit": limit,
        "page_size": min(max(limit, 10), MAX_PAGE + 1),
        "last_evaluated_key": start,
    }
    if spec.index is None:
        kwargs["consistent_read"] = spec.consistent_read
    return list(source.query(spec.hash_key, **kwargs))


def fetch_page(spec: QuerySpec, args: PageArgs, secret: bytes, ttl_seconds: int) -> Page[Any]:
    """Blocking: run it through `core.db.run_db`."""
    args = args.validate()
    forward, size = args.forward, args.size
    start = None
    if args.cursor is not None:
        name, raw = args.cursor
        start = decode_cursor(raw, spec.fingerprint, secret, name)
    rows = _query(spec, forward=forward, limit=size + 1, start=start)
    more = len(rows) > size
    rows = rows[:size]
    # Whether anything lies on the other side of the cursor we started from.
    beyond = False
    if start is not None:
        beyond = bool(_query(spec, forward=not forward, limit=1, start=start))
    if not forward:
        rows.reverse()
    key_attrs = spec.key_attributes()
    cursors: list[Any] = [
        LazyCursor(r, key_attrs, spec.fingerprint, secret, ttl_seconds) for r in rows
    ]
    if forward:
        return Page(rows, cursors, has_next_page=more, has_previous_page=beyond)
    return Page(rows, cursors, has_next_page=beyond, has_previous_page=more)
