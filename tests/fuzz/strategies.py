"""Hypothesis strategies for loangraph's scalars, registered with Schemathesis.

Each strategy yields GraphQL value nodes (the fuzzer writes arguments into the
document as literals). They aim at the edges past coercion: values the scalar
accepts but the resolvers, validation and the database must still refuse cleanly
(huge or tiny exponents, negative zero, instants near year 1 and 9999, ids of the
wrong type or with odd keys)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

import graphql
import schemathesis
from hypothesis import strategies as st
from schemathesis.graphql import nodes

from core.ids import NODE_TYPES, from_global_id, to_global_id

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
    st.sampled_from(
        ["0", "-0.00", "1E+400", "1e-400", "1E+999999999", "-1E-999999999", "0.001", "9" * 40]
    ),
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
    well-formed ids of records that do not exist, a seeded key under another
    type or with an odd second part ("<loan>/<text>": participants, versions,
    audit entries), and arbitrary text."""
    kinds = st.sampled_from(sorted(NODE_TYPES))
    keys = [from_global_id(i)[1] for i in known]
    missing = st.builds(to_global_id, kinds, st.uuids().map(str))
    odd_keys = st.builds(
        to_global_id,
        kinds,
        st.one_of(_text, st.text(min_size=1, max_size=5).map(lambda s: s + "/" + s)),
    )
    parts = [missing, odd_keys]
    if keys:
        seeded_key = st.sampled_from(keys)
        parts += [
            st.sampled_from(list(known)),
            st.builds(to_global_id, kinds, seeded_key),
            st.builds(
                lambda kind, key, tail: to_global_id(kind, f"{key.split('/')[0]}/{tail}"),
                kinds,
                seeded_key,
                st.one_of(st.text(max_size=6), st.sampled_from(["1", "²", "١", "9" * 40])),
            ),
        ]
    raw = st.one_of(_text, st.binary(max_size=30).map(lambda b: base64.b64encode(b).decode()))
    return st.one_of(*parts, raw).map(nodes.String)


# Strings the Decimal and DateTime scalars refuse: typed into the document they
# must be BAD_USER_INPUT like through variables (on by default;
# LOANGRAPH_FUZZ_MALFORMED_SCALARS=0 leaves them out).
MALFORMED_DECIMALS = ["abc", "NaN", "Infinity", "12,500.00", "", "1.2.3", "0x10"]
MALFORMED_DATETIMES = [
    "",
    "yesterday",
    "2026-13-01T00:00:00Z",
    "2026-11-25T09:30:00",  # no time zone
    "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
]


def register(known_ids: Sequence[str], *, malformed_scalars: bool = False) -> None:
    decimal, datetime = DECIMAL, DATETIME
    if malformed_scalars:
        decimal = st.one_of(decimal, st.sampled_from(MALFORMED_DECIMALS).map(nodes.String))
        datetime = st.one_of(datetime, st.sampled_from(MALFORMED_DATETIMES).map(nodes.String))
    schemathesis.graphql.scalar("Decimal", decimal)
    schemathesis.graphql.scalar("DateTime", datetime)
    schemathesis.graphql.scalar("JSON", JSON)
    schemathesis.graphql.scalar("ID", ids(known_ids))
