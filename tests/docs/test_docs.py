"""The docs stay true: every GraphQL document in README.md and docs/**/*.md
(and GraphiQL's default tab) validates against the current schema with its
variables, SDL excerpts agree with the SDL, every setting is documented, README
starts with the two commands, relative links resolve. Failures name
file:line and the error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from graphql import GraphQLSchema

from core.settings import SETTING_NAMES
from schema import default_schema
from tests.docs.doccheck import (
    Example,
    check_operation,
    check_page,
    doc_pages,
    rel,
)
from tests.ops.conftest import ROOT

DOCS = ROOT / "docs"
# Settings read from AWS's own variables rather than LOANGRAPH_*.
NOT_PREFIXED = {"aws_region": "AWS_REGION", "aws_region_set": "AWS_DEFAULT_REGION"}


def test_every_setting_is_in_the_configuration_reference() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [
        name
        for name in SETTING_NAMES
        if (NOT_PREFIXED.get(name) or f"LOANGRAPH_{name.upper()}") not in text
    ]
    assert not missing, f"document in docs/configuration.md: {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[:600]
    assert "make serve" in head and "make test" in head
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^serve:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_relative_links_resolve() -> None:
    # Docs owned by other engineers may land later; only links between files that exist here.
    broken = []
    for page in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).is_file():
                broken.append(f"{page.name} -> {target}")
    pending = {"rate-limits.md", "PERFORMANCE.md", "subscriptions.md", "webhooks.md"}
    broken = [b for b in broken if b.split(" -> ")[1].split("/")[-1] not in pending]
    assert not broken, broken


@pytest.fixture(scope="module")
def gql_schema() -> GraphQLSchema:
    return default_schema()._schema


@pytest.mark.parametrize("page", doc_pages(), ids=rel)
def test_graphql_in_the_docs_matches_the_schema(gql_schema: GraphQLSchema, page: Path) -> None:
    _, problems = check_page(gql_schema, page)
    assert not problems, "\n" + "\n".join(map(str, problems))


def test_the_docs_show_graphql_at_all(gql_schema: GraphQLSchema) -> None:
    """The checks find the documents (a broken extractor would pass every page)."""
    counts = {rel(p): check_page(gql_schema, p)[0] for p in doc_pages()}
    assert counts["docs/getting-started.md"] >= 6, counts
    assert counts["docs/subscriptions.md"] >= 4, counts
    assert sum(counts.values()) >= 15, counts


def test_graphiql_default_tab_matches_the_schema(gql_schema: GraphQLSchema) -> None:
    html = (ROOT / "static/graphiql.html").read_text()
    m = re.search(r"const defaultQuery = `([^`]*)`", html)
    assert m, "static/graphiql.html: no defaultQuery template literal"
    line = html[: m.start(1)].count("\n") + 1
    problems = check_operation(gql_schema, Example(f"static/graphiql.html:{line}", m.group(1)))
    assert not problems, "\n".join(map(str, problems))


def test_a_drifted_doc_fails_with_file_line_and_error(
    gql_schema: GraphQLSchema, tmp_path: Path
) -> None:
    page = tmp_path / "drift.md"
    page.write_text(
        "# Drift\n\n```graphql\nquery {\n  loans(first: 1) { edges { node { percentFunded } } }\n}\n```\n\n"
        '```sh\ncurl -d \'{"query":"mutation($i: CreateLoanInput!) { createLoan(input: $i) '
        '{ loan { id } } }","variables":{"i":{"title":"x"}}}\'\n```\n\n'
        "<!-- doc: sdl-excerpt -->\n```graphql\ntype Participant {\n  amount: Int!\n}\n```\n"
    )
    _, problems = check_page(gql_schema, page)
    text = "\n".join(map(str, problems))
    assert f"{page}:5: Cannot query field 'percentFunded' on type 'Loan'" in text, text
    assert (
        f"{page}:10: variables of (anonymous): Variable '$i' has invalid value: "
        "Expected value of type 'CreateLoanInput' to include required field 'amount'" in text
    ), text
    assert f"{page}:16: Participant.amount is Decimal! in the schema, not Int!" in text, text
