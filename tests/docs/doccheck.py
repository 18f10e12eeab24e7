"""Executable documentation: find every GraphQL document in README.md and
docs/**/*.md and check it against the current schema (docs/README.md,
"Documentation that runs", describes the markers).

(Over 400 lines on purpose: one extractor per place GraphQL hides in a doc and
the checks they feed, read top to bottom; split, each part would need the rest.)

Where GraphQL is found:
* ```graphql blocks: an operation (the default), or what a marker says it is;
* in any other block: a JSON `"query": "..."` string (curl bodies, WebSocket
  frames; a `"variables": {...}` object after it is checked too), a JS template
  literal or a Python string literal that starts with `query`, `mutation`,
  `subscription` or `fragment`.

Markers: an HTML comment on the line(s) just before a fence,
`<!-- doc: KIND [argument] -->`, KIND one of
* `sdl-excerpt`: SDL whose every type, field, argument and enum value must be
  in the schema with the same type;
* `sdl-example`: SDL that only has to parse (an illustration, not our schema);
* `selection TYPE`: a bare selection set on TYPE (e.g. `selection Query`);
* `variables`: a JSON block with the variables of the GraphQL block before it;
* `skip REASON`: not checked (the reason is required);
* `run`, `run background`, `output`, `server-prints`: steps of a walkthrough
  (tests/docs/test_getting_started.py).
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from graphql import (
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import (
    DocumentNode,
    EnumTypeDefinitionNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    UnionTypeDefinitionNode,
    print_ast,
)
from graphql.type import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLUnionType,
)
from graphql.validation import NoUnusedFragmentsRule

ROOT = Path(__file__).resolve().parents[2]
KINDS = {
    "sdl-excerpt",
    "sdl-example",
    "selection",
    "variables",
    "skip",
    "run",
    "output",
    "server-prints",
}
MARKER = re.compile(r"^\s*<!--\s*doc:\s*([\w-]+)\s*(.*?)\s*-->\s*$")  # alone on its line
FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)[^`]*$")  # ```lang [attributes]
OPERATION_START = re.compile(r"^\s*(?:#[^\n]*\n\s*)*(query|mutation|subscription|fragment)\b")


def doc_pages() -> list[Path]:
    """Every page the checks cover: README.md and docs/**/*.md (new pages too)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


@dataclass
class Block:
    """A fenced block: `line` is the 1-based line of its first content line."""

    path: Path
    lang: str
    text: str
    line: int
    marker: str | None = None
    argument: str = ""
    index: int = 0

    def where(self, offset_line: int = 0) -> str:
        return f"{rel(self.path)}:{self.line + offset_line}"


@dataclass
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a markdown page, with the marker just before each."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    i = 0
    pending: tuple[str, str] | None = None
    while i < len(lines):
        line = lines[i]
        m = MARKER.match(line)
        if m:
            pending = (m.group(1), m.group(2))
            i += 1
            continue
        f = FENCE.match(line)
        if f:
            fence = f.group(2)
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            indent = len(f.group(1))
            body = "\n".join(ln[indent:] if ln[:indent].isspace() else ln for ln in lines[start:j])
            kind, arg = pending or (None, "")
            out.append(Block(path, f.group(3).lower(), body, start + 1, kind, arg, len(out)))
            pending = None
            i = j + 1
            continue
        if line.strip():
            pending = None  # a marker applies to the very next block only
        i += 1
    return out


def marker_problems(path: Path) -> list[Problem]:
    """Unknown markers and markers that stand before no block."""
    problems = []
    lines = path.read_text().splitlines()
    for n, line in enumerate(lines, 1):
        if m := MARKER.match(line):
            following = next((ln for ln in lines[n:] if ln.strip()), "")
            if not FENCE.match(following):
                problems.append(
                    Problem(
                        f"{rel(path)}:{n}", "a doc marker must stand just before a fenced block"
                    )
                )
            if m.group(1) not in KINDS:
                problems.append(
                    Problem(
                        f"{rel(path)}:{n}",
                        f"unknown marker {m.group(1)!r} (one of {sorted(KINDS)})",
                    )
                )
            if m.group(1) == "skip" and not m.group(2):
                problems.append(Problem(f"{rel(path)}:{n}", "`doc: skip` needs a reason"))
    return problems


# ---------------------------------------------------------------- extraction
@dataclass
class Example:
    """One GraphQL document found in a page."""

    where: str
    source: str
    variables: dict | None = None
    selection_on: str | None = None
    notes: list[str] = field(default_factory=list)


_SHELL_VAR = re.compile(r"""'"\$\{?(\w+)\}?"'""")  # '"$LOAN_ID"' inside a single-quoted body


def _json_queries(block: Block) -> Iterator[Example]:
    text = _SHELL_VAR.sub(r"<\1>", block.text)
    decoder = json.JSONDecoder()
    for m in re.finditer(r'"query"\s*:\s*(")', text):
        try:
            source, end = decoder.raw_decode(text, m.start(1))
        except json.JSONDecodeError as exc:
            yield Example(
                block.where(text[: m.start()].count("\n")), "", notes=[f"bad JSON string: {exc}"]
            )
            continue
        variables = None
        v = re.match(r'\s*,\s*"variables"\s*:\s*', text[end:])
        if v:
            try:
                variables, _ = decoder.raw_decode(text, end + v.end())
            except json.JSONDecodeError as exc:
                yield Example(
                    block.where(text[: m.start()].count("\n")),
                    source,
                    notes=[f"`variables` is not JSON: {exc}"],
                )
                continue
        yield Example(block.where(text[: m.start()].count("\n")), source, variables)


def _template_literals(block: Block) -> Iterator[Example]:
    for m in re.finditer(r"`([^`]*)`", block.text):
        if OPERATION_START.match(m.group(1)):
            yield Example(block.where(block.text[: m.start()].count("\n")), m.group(1))


def _python_strings(block: Block) -> Iterator[Example]:
    flags = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    try:
        tree = compile(block.text, "<doc>", "exec", flags=flags)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and OPERATION_START.match(node.value)
        ):
            yield Example(block.where(node.lineno - 1), node.value)


def examples(path: Path) -> tuple[list[Example], list[tuple[Block, str]], list[Problem]]:
    """(GraphQL operations, SDL blocks with their marker, problems) of a page."""
    found: list[Example] = []
    sdl: list[tuple[Block, str]] = []
    problems = marker_problems(path)
    page = blocks(path)
    for n, block in enumerate(page):
        if block.marker == "skip":
            continue
        if block.lang == "graphql":
            if block.marker in ("sdl-excerpt", "sdl-example"):
                sdl.append((block, block.marker))
                continue
            ex = Example(block.where(), block.text)
            if block.marker == "selection":
                ex.selection_on = block.argument or "Query"
            elif block.marker not in (None, "run", "output"):
                problems.append(
                    Problem(
                        block.where(), f"marker {block.marker!r} makes no sense on a graphql block"
                    )
                )
                continue
            nxt = page[n + 1] if n + 1 < len(page) else None
            if nxt is not None and nxt.marker == "variables":
                try:
                    ex.variables = json.loads(nxt.text)
                except json.JSONDecodeError as exc:
                    problems.append(Problem(nxt.where(), f"variables block is not JSON: {exc}"))
            found.append(ex)
        elif block.lang in ("python", "py"):
            found.extend(_python_strings(block))
            found.extend(_json_queries(block))
        else:
            if block.marker == "variables":
                continue
            found.extend(_json_queries(block))
            found.extend(_template_literals(block))
    return found, sdl, problems


# ---------------------------------------------------------------- checking
_ROOTS = {"Query": "query", "Mutation": "mutation", "Subscription": "subscription"}


def check_operation(schema: GraphQLSchema, ex: Example) -> list[Problem]:
    """Parse and validate one document (and its variables) against `schema`."""
    problems = [Problem(ex.where, n) for n in ex.notes]
    if not ex.source:
        return problems
    source = ex.source
    rules = list(specified_rules)
    if ex.selection_on:
        on = ex.selection_on
        source = (
            f"{_ROOTS[on]} {{\n{source}\n}}"
            if on in _ROOTS
            else f"fragment DocSelection on {on} {{\n{source}\n}}"
        )
        rules = [r for r in rules if r is not NoUnusedFragmentsRule]
    try:
        document = parse(source)
    except GraphQLError as exc:
        hint = ""
        if re.search(r"^\s*(type|input|enum|interface|scalar|union|schema)\b", source, re.M):
            hint = " (SDL? mark the block <!-- doc: sdl-excerpt -->)"
        elif not source.lstrip().startswith(
            ("{", "query", "mutation", "subscription", "fragment", "#")
        ):
            hint = " (a bare selection? mark the block <!-- doc: selection Query -->)"
        return [
            *problems,
            Problem(_at(ex.where, exc, ex.selection_on), f"does not parse: {exc.message}{hint}"),
        ]
    if any(
        not isinstance(d, (OperationDefinitionNode, FragmentDefinitionNode))
        for d in document.definitions
    ):
        return [
            *problems,
            Problem(
                ex.where,
                "SDL in a block checked as an operation: mark it <!-- doc: sdl-excerpt --> "
                "(must match the schema) or <!-- doc: sdl-example --> (an illustration)",
            ),
        ]
    for error in validate(schema, document, rules):
        problems.append(Problem(_at(ex.where, error, ex.selection_on), error.message))
    if ex.variables is not None and not problems:
        problems.extend(_check_variables(schema, document, ex))
    return problems


def _at(where: str, error: GraphQLError, wrapped: str | None) -> str:
    """file:line of an error inside a document that starts at `where`."""
    if not error.locations:
        return where
    path, _, line = where.rpartition(":")
    offset = error.locations[0].line - 1 - (1 if wrapped else 0)
    return f"{path}:{int(line) + max(offset, 0)}"


def _check_variables(schema: GraphQLSchema, document: DocumentNode, ex: Example) -> list[Problem]:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    problems = []
    for op in ops:
        declared = {v.variable.name.value for v in op.variable_definitions or ()}
        unknown = set(ex.variables or {}) - declared
        if unknown and len(ops) == 1:
            problems.append(
                Problem(ex.where, f"variables {sorted(unknown)} are not declared by the operation")
            )
        result = get_variable_values(schema, op.variable_definitions or (), ex.variables or {})
        if isinstance(result, list):
            name = op.name.value if op.name else "(anonymous)"
            problems.extend(Problem(ex.where, f"variables of {name}: {e.message}") for e in result)
    return problems


def check_sdl(schema: GraphQLSchema, block: Block, kind: str) -> list[Problem]:
    """An SDL block parses; an excerpt also agrees with the schema."""
    try:
        document = parse(block.text)
    except GraphQLError as exc:
        return [Problem(_at(block.where(), exc, None), f"SDL does not parse: {exc.message}")]
    if kind == "sdl-example":
        return []
    problems = []
    for node in document.definitions:
        name = getattr(getattr(node, "name", None), "value", None)
        if name is None:
            continue
        where = _at(block.where(), GraphQLError("", nodes=[node]), None)
        actual = schema.get_type(name)
        expected_kind = {
            ObjectTypeDefinitionNode: GraphQLObjectType,
            InterfaceTypeDefinitionNode: GraphQLInterfaceType,
            InputObjectTypeDefinitionNode: GraphQLInputObjectType,
            EnumTypeDefinitionNode: GraphQLEnumType,
            ScalarTypeDefinitionNode: GraphQLScalarType,
            UnionTypeDefinitionNode: GraphQLUnionType,
        }.get(type(node))
        if expected_kind is None:
            continue
        if actual is None:
            problems.append(Problem(where, f"type {name} is not in the schema"))
            continue
        if not isinstance(actual, expected_kind):
            problems.append(Problem(where, f"{name} is a {type(actual).__name__} in the schema"))
            continue
        if isinstance(node, EnumTypeDefinitionNode):
            for value in node.values or ():
                if value.name.value not in actual.values:  # type: ignore[union-attr]
                    problems.append(
                        Problem(where, f"{name}.{value.name.value} is not in the schema")
                    )
            continue
        for fnode in getattr(node, "fields", None) or ():
            fname = fnode.name.value
            fwhere = _at(block.where(), GraphQLError("", nodes=[fnode]), None)
            real = actual.fields.get(fname)  # type: ignore[union-attr]
            if real is None:
                problems.append(Problem(fwhere, f"{name}.{fname} is not in the schema"))
                continue
            shown, has = print_ast(fnode.type), str(real.type)
            if shown != has:
                problems.append(
                    Problem(fwhere, f"{name}.{fname} is {has} in the schema, not {shown}")
                )
            for anode in getattr(fnode, "arguments", None) or ():
                arg = real.args.get(anode.name.value)  # type: ignore[union-attr]
                if arg is None:
                    problems.append(
                        Problem(fwhere, f"{name}.{fname}({anode.name.value}:) is not in the schema")
                    )
                elif print_ast(anode.type) != str(arg.type):
                    problems.append(
                        Problem(
                            fwhere,
                            f"{name}.{fname}({anode.name.value}:) is {arg.type} in the schema, "
                            f"not {print_ast(anode.type)}",
                        )
                    )
    return problems


def check_page(schema: GraphQLSchema, path: Path) -> tuple[int, list[Problem]]:
    """(documents checked, problems) for one page."""
    found, sdl, problems = examples(path)
    for ex in found:
        problems.extend(check_operation(schema, ex))
    for block, kind in sdl:
        problems.extend(check_sdl(schema, block, kind))
    return len(found) + len(sdl), problems
