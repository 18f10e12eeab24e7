"""Published major versions of the API and the schemas that serve them.

Each major version's SDL is committed here when it is published
(`v1.graphql`) and never edited afterwards except to record deprecations.
The current code serves every version: a release schema is the current
executable schema *pruned* to the published surface (types, fields,
arguments, enum values, input fields, interfaces and union members that the
release's SDL names). Resolvers, scalars and extensions are the current
ones, so a fix reaches every version, and an addition to the current schema
does not leak into an old version's introspection.

This only works while the current schema does not break the release: the
gate in tests/ops/test_versioning.py (graphql-core's `find_breaking_changes`)
keeps that true. When v2 must break v1, v1 keeps being served by this
pruning as long as the v1 fields still exist in code (deprecated, hidden from
the current version by a v2 release file); see docs/versioning.md.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, cast

import strawberry
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLNamedType,
    GraphQLSchema,
    GraphQLUnionType,
)
from graphql import (
    build_schema as build_sdl_schema,
)
from graphql.utilities.map_schema_config import SchemaElementKind, map_schema_config

RELEASES_DIR = Path(__file__).resolve().parent
# Published major versions, oldest first; the URL prefix is `/<version>/graphql`.
RELEASES: tuple[str, ...] = ("v1",)


def release_sdl(version: str) -> str:
    if version not in RELEASES:
        raise KeyError(f"unknown API version {version!r}; published: {', '.join(RELEASES)}")
    return (RELEASES_DIR / f"{version}.graphql").read_text()


def release_schema(version: str) -> GraphQLSchema:
    """The published SDL as a (non-executable) graphql-core schema, for comparisons."""
    return build_sdl_schema(release_sdl(version))


def prune_to(current: GraphQLSchema, published: GraphQLSchema) -> GraphQLSchema:
    """`current` restricted to what `published` names, keeping current resolvers."""
    keep_types = {name for name in published.type_map if not name.startswith("__")}

    def pub(name: str) -> GraphQLNamedType | None:
        return published.type_map.get(name)

    def keep_fields(type_name: str, fields: dict[str, Any]) -> dict[str, Any]:
        p = cast(Any, pub(type_name))
        allowed = p.fields if p is not None else {}
        out = {}
        for name, field in fields.items():
            if name not in allowed:
                continue
            args = getattr(field, "args", None)
            if args is not None:
                published_args = allowed[name].args
                kept = {a: v for a, v in args.items() if a in published_args}
                field = type(field)(**{**field.to_kwargs(), "args": kept})
            out[name] = field
        return out

    def object_like(config: dict[str, Any]) -> dict[str, Any]:
        name = config["name"]
        p = pub(name)
        published_ifaces = {i.name for i in getattr(p, "interfaces", ())}
        fields, ifaces = config["fields"], config["interfaces"]
        return {
            **config,
            "interfaces": lambda: [i for i in ifaces() if i.name in published_ifaces],
            "fields": lambda: keep_fields(name, fields()),
        }

    def union(config: dict[str, Any]) -> dict[str, Any]:
        if pub(config["name"]) is None:
            return config  # dropped below
        published_members = {t.name for t in cast(GraphQLUnionType, pub(config["name"])).types}
        types = config["types"]
        return {**config, "types": lambda: [t for t in types() if t.name in published_members]}

    def enum(config: dict[str, Any]) -> dict[str, Any]:
        if pub(config["name"]) is None:
            return config
        published_values = cast(GraphQLEnumType, pub(config["name"])).values
        values = config["values"]
        return {
            **config,
            "values": lambda: {k: v for k, v in values().items() if k in published_values},
        }

    def input_object(config: dict[str, Any]) -> dict[str, Any]:
        if pub(config["name"]) is None:
            return config
        published_fields = cast(GraphQLInputObjectType, pub(config["name"])).fields
        fields = config["fields"]
        return {
            **config,
            "fields": lambda: {k: v for k, v in fields().items() if k in published_fields},
        }

    def schema(config: dict[str, Any]) -> dict[str, Any]:
        return {
            **config,
            "types": tuple(t for t in config["types"] if t.name in keep_types),
            "mutation": config["mutation"] if published.mutation_type else None,
            "subscription": config["subscription"] if published.subscription_type else None,
        }

    def mapper(_context: Any) -> Any:
        return {
            SchemaElementKind.OBJECT: object_like,
            SchemaElementKind.INTERFACE: object_like,
            SchemaElementKind.UNION: union,
            SchemaElementKind.ENUM: enum,
            SchemaElementKind.INPUT_OBJECT: input_object,
            SchemaElementKind.SCHEMA: schema,
        }

    return GraphQLSchema(**map_schema_config(current.to_kwargs(), mapper))


def build_release_schema(version: str) -> strawberry.Schema:
    """A Strawberry schema that executes with the current code and exposes exactly
    the published `version` (introspection, validation and execution)."""
    from schema import build_schema

    executable = build_schema()
    pruned = prune_to(executable._schema, release_schema(version))
    # graphql-core's schema has no slot for it; Strawberry reads it back from here.
    pruned._strawberry_schema = executable  # type: ignore[attr-defined]  # Strawberry's own slot
    executable._schema = pruned
    return executable


@cache
def cached_release_schema(version: str) -> strawberry.Schema:
    return build_release_schema(version)


__all__ = [
    "RELEASES",
    "build_release_schema",
    "cached_release_schema",
    "prune_to",
    "release_schema",
    "release_sdl",
]
