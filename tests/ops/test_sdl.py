"""The committed SDL, the public contract, and a schema that documents itself."""

from __future__ import annotations

import subprocess
import sys

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from schema import print_sdl
from tests.ops.conftest import ROOT

SDL_FILE = ROOT / "schema/schema.graphql"
CONTRACT_CHECK = ROOT.parent / "shared/tools/contract_check.py"
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
    out = subprocess.run(
        [sys.executable, str(CONTRACT_CHECK), str(SDL_FILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 breaking change(s)" in out.stdout


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
