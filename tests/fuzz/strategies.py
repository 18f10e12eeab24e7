"""Hypothesis strategies for loangraph's scalars, registered with Schemathesis.

Each strategy yields GraphQL value nodes (the fuzzer writes arguments into the
document as literals). They mix well-formed values, which get past coercion and
reach the resolvers and the database, with malformed ones, which must be refused
with a coded error."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from core.ids import NODE_TYPES, to_global_id

_text = st.text(max_size=40)

# Decimal: money and rates as strings, integers (accepted too), and strings
# that parse as a Decimal but are extreme (exponents, negative zero, many places).
_decimal_strings = st.one_of(
    st.decimals(
        min_value=-(10**15), max_value=10**15, places=2, allow_nan=False, allow_infinity=False
    ).map(str),
    st.decimals(min_value=0, max_value=100, places=4, allow_nan=False, allow_infinity=False).map(
        str
    ),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["0", "-0.00", "1E+400", "1e-400", "0.001", "9" * 40, "12500.00", " 5 "]),
)
DECIMAL = st.one_of(
    _decimal_strings.map(nodes.String),
    st.integers(min_value=-(10**15), max_value=10**15).map(nodes.Int),
)

# DateTime: ISO-8601 instants with and without an offset, far past and future.
_datetimes = st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
DATETIME = st.one_of(
    _datetimes.map(nodes.String),
    st.datetimes().map(lambda d: d.isoformat() + "Z").map(nodes.String),
    st.sampled_from(
        ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "2026-11-25T09:30:00+14:00"]
    ).map(nodes.String),
)

# JSON: any JSON value as a GraphQL literal.
_json_leaves = st.one_of(
    st.none().map(lambda _: nodes.Null),
    st.booleans().map(nodes.Boolean),
    st.integers(min_value=-(2**53), max_value=2**53).map(nodes.Int),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(nodes.Float),
    _text.map(nodes.String),
)
JSON = st.recursive(
    _json_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4).map(nodes.List),
        st.dictionaries(
            st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True), children, max_size=4
        ).map(
            lambda d: nodes.Object(
                [
                    graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
                    for k, v in d.items()
                ]
            )
        ),
    ),
    max_leaves=10,
)


def ids(known: Sequence[str]) -> st.SearchStrategy:
    """ID: the seeded records' global ids (so reads and writes reach real rows),
    well-formed ids of records that do not exist, ids of the wrong type or with a
    bad key, and arbitrary text."""
    missing = st.builds(
        lambda kind, key: to_global_id(kind, key),
        st.sampled_from(sorted(NODE_TYPES)),
        st.uuids().map(str),
    )
    odd_keys = st.builds(
        lambda kind, key: to_global_id(kind, key),
        st.sampled_from(sorted(NODE_TYPES)),
        st.one_of(_text, st.text(min_size=1, max_size=5).map(lambda s: s + "/" + s)),
    )
    raw = st.one_of(_text, st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()))
    parts = [missing, odd_keys, raw]
    if known:
        parts.insert(0, st.sampled_from(list(known)))
    return st.one_of(*parts).map(nodes.String)


def register(known_ids: Sequence[str]) -> None:
    schemathesis.graphql.scalar("Decimal", DECIMAL)
    schemathesis.graphql.scalar("DateTime", DATETIME)
    schemathesis.graphql.scalar("JSON", JSON)
    schemathesis.graphql.scalar("ID", ids(known_ids))
