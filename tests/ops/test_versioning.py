"""The breaking-change gate and the pinned /v1 endpoint (docs/versioning.md)."""

from __future__ import annotations

from pathlib import Path

import httpx
from graphql import (
    BreakingChange,
    GraphQLSchema,
    build_client_schema,
    build_schema,
    find_breaking_changes,
    get_introspection_query,
    graphql_sync,
    lexicographic_sort_schema,
    print_schema,
)

from schema import print_sdl
from schema.releases import RELEASES, prune_to, release_schema, release_sdl
from tests.graphql_client import gql
from tests.ops.conftest import ROOT

RELEASES_DIR = ROOT / "schema/releases"


def breaking_changes(published_sdl: str, current_sdl: str) -> list[BreakingChange]:
    """The gate: what in `current` breaks a client of `published`."""
    return find_breaking_changes(build_schema(published_sdl), build_schema(current_sdl))


def without_descriptions(schema: GraphQLSchema) -> str:
    """Printed SDL without descriptions (docs may improve in every version):
    the schema's introspection without descriptions, printed."""
    result = graphql_sync(schema, get_introspection_query(descriptions=False))
    assert result.errors is None, result.errors
    return print_schema(lexicographic_sort_schema(build_client_schema(result.data)))


def test_every_release_is_committed() -> None:
    assert RELEASES[0] == "v1"
    for version in RELEASES:
        assert (RELEASES_DIR / f"{version}.graphql").is_file()


def test_current_schema_does_not_break_any_release() -> None:
    current = print_sdl()
    for version in RELEASES:
        changes = breaking_changes(release_sdl(version), current)
        assert not changes, f"the current schema breaks {version}:\n" + "\n".join(
            f"{c.type.name}: {c.description}" for c in changes
        )


def test_gate_fails_on_a_breaking_change_in_a_copy(tmp_path: Path) -> None:
    # given a copy of the current SDL where a field changes its type and a type is renamed
    copy = tmp_path / "schema.graphql"
    sdl = print_sdl()
    assert "  version: Int!\n" in sdl and "type AuditEntry " in sdl
    broken = sdl.replace("  version: Int!\n", "  version: String!\n", 1)
    broken = broken.replace("AuditEntry", "AuditRecord")
    copy.write_text(broken)

    # when the gate compares it with v1
    changes = breaking_changes(release_sdl("v1"), copy.read_text())

    # then it fails, naming both
    found = {(c.type.name, c.description) for c in changes}
    assert ("TYPE_REMOVED", "AuditEntry was removed.") in found
    assert any(
        kind == "FIELD_CHANGED_KIND" and ".version changed type" in text for kind, text in found
    )


def test_gate_allows_an_addition(tmp_path: Path) -> None:
    sdl = print_sdl().replace("type Query {\n", 'type Query {\n  "New."\n  brandNew: Int\n', 1)
    assert "brandNew" in sdl
    assert breaking_changes(release_sdl("v1"), sdl) == []


def test_pruning_hides_additions_from_an_old_version() -> None:
    current = build_schema("""
        type Query { a: Int  b(x: Int, y: Int): Int  t: T }
        interface N { id: ID }  interface M { id: ID }
        type T implements N & M { id: ID  extra: Int }
        enum E { A B }
        input I { a: Int }
    """)
    published = build_schema("""
        type Query { a: Int  b(x: Int): Int  t: T }
        interface N { id: ID }
        type T implements N { id: ID }
    """)
    assert print_schema(prune_to(current, published)) == print_schema(published)


async def test_v1_endpoint_serves_exactly_v1(client: httpx.AsyncClient) -> None:
    # when /v1/graphql is introspected
    body = await gql(client, get_introspection_query(descriptions=False), path="/v1/graphql")
    served = build_client_schema(body["data"])

    # then it is the committed v1 (descriptions aside) and /graphql is not narrower
    assert without_descriptions(served) == without_descriptions(release_schema("v1"))
    assert "AuditEntry" in without_descriptions(served)
    current = await gql(client, get_introspection_query(), path="/graphql")
    assert not find_breaking_changes(served, build_client_schema(current["data"]))


async def test_v1_endpoint_executes_with_current_code(client: httpx.AsyncClient, token) -> None:
    body = await gql(client, "{ viewer { userId } }", token=token("v1-user"), path="/v1/graphql")
    assert body["data"] == {"viewer": {"userId": "v1-user"}}
