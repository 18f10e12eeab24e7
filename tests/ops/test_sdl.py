"""The committed SDL, the public contract, and a schema that documents itself."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)

from schema import print_sdl
from tests.ops.conftest import ROOT

SDL_FILE = ROOT / "schema/schema.graphql"
BUILTIN = {"String", "Int", "Float", "Boolean", "ID"}


def undocumented(schema: GraphQLSchema) -> list[str]:
    """Every type, field, argument, enum value and input field without a description."""
    missing: list[str] = []
    for name, type_ in sorted(schema.type_map.items()):
        if name.startswith("__") or name in BUILTIN:
            continue
        if not (type_.description or "").strip():
            missing.append(f"type {name}")
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in type_.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"field {name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if not (arg.description or "").strip():
                        missing.append(f"argument {name}.{field_name}({arg_name})")
        elif isinstance(type_, GraphQLInputObjectType):
            for field_name, field in type_.fields.items():
                if not (field.description or "").strip():
                    missing.append(f"input field {name}.{field_name}")
        elif isinstance(type_, GraphQLEnumType):
            for value_name, value in type_.values.items():
                if not (value.description or "").strip():
                    missing.append(f"enum value {name}.{value_name}")
    for directive in schema.directives:
        if directive.name in {"include", "skip", "deprecated", "specifiedBy", "oneOf"}:
            continue
        if not (directive.description or "").strip():
            missing.append(f"directive @{directive.name}")
    return missing


def test_committed_sdl_matches_the_code() -> None:
    # `make schema` (or `loangraph schema > schema/schema.graphql`) regenerates it.
    assert SDL_FILE.read_text() == print_sdl(), "schema/schema.graphql is stale: run `make schema`"


def test_schema_keeps_the_public_contract() -> None:
    """No breaking change against the published v1 release (schema/releases/v1.graphql,
    the public contract as this project published it): self-contained, no file
    outside the repository."""
    published = build_schema((ROOT / "schema/releases/v1.graphql").read_text())
    breaking = find_breaking_changes(published, build_schema(SDL_FILE.read_text()))
    assert not breaking, "\n".join(f"{c.type.name}: {c.description}" for c in breaking)


def test_every_schema_element_has_a_description() -> None:
    missing = undocumented(build_schema(print_sdl()))
    assert not missing, "add descriptions to:\n" + "\n".join(missing)


def test_coverage_check_finds_a_missing_description() -> None:
    schema = build_schema("""
        "Root" type Query { "documented" a(x: Int): Int  b: E }
        "E" enum E { "one" ONE TWO }
    """)
    assert sorted(undocumented(schema)) == [
        "argument Query.a(x)",
        "enum value E.TWO",
        "field Query.b",
    ]
