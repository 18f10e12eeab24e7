"""Query cost, node count, depth and aliases, computed from the parsed document
before anything runs (one pass over the selected operation).

The cost counts what a query makes the backend do, the way GitHub does: each
connection is one DynamoDB Query per parent object, so

    cost = sum over the connection fields c (fragments counted in place) of
           requests(c) = the product of the page sizes (`first` or `last`,
           default 20) of the connections enclosing c, times the length of any
           list argument above it (`nodes(ids:)`); 1 for a top-level connection
         + 10 for each root field of a mutation or a subscription
    charged: max(cost, 1)

Objects and scalars are free: loaders read them in batches of 100. Nested
connections multiply: `loans(first: 100) { edges { node { participants(first: 10)
{ edges { node { lender { userId } } } } } } }` costs 1 + 100 = 101.

    nodes = sum over the connections c of requests(c) * pagesize(c)

(the most records the query can return: 100 + 100 * 10 = 1,100 above).

Depth counts field levels from the root field (1), wrappers included: `loan { id }`
is 2, `loans { edges { node { id } } }` is 4. Aliases are counted as written.

`actual_cost` replays the formula over the response data: one request per
connection that was really read (a parent that returned fewer edges than asked
for costs less)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)

from guards.documents import count_aliases, select_operation

DEFAULT_PAGE = 20
MUTATION_COST = 10
CONNECTION_COST = 1
# Introspection: list fields that multiply when nested (the classic
# `types { fields { type { fields ... } } }` blow-up). GraphiQL's own query nests 3.
INTROSPECTION_LISTS = frozenset(
    {
        "types",
        "fields",
        "inputFields",
        "interfaces",
        "possibleTypes",
        "enumValues",
        "args",
        "directives",
    }
)
MAX_INTROSPECTION_LIST_NESTING = 3
FREE_CONNECTION_FIELDS = frozenset({"pageInfo", "totalCount"})

LEAF, OBJECT, LIST, CONNECTION = 0, 1, 2, 3


@dataclass(slots=True)
class PlanField:
    """One costed field of the response, to replay the formula over the data."""

    key: str  # response key (alias or name)
    kind: int
    base: int  # fixed part: 1 for a connection, 10 for a mutation's root field, else 0
    children: list[PlanField] = field(default_factory=list)
    # CONNECTION: (edges response key, node response key, node's plan)
    items: list[tuple[str, str, list[PlanField]]] = field(default_factory=list)


@dataclass(slots=True)
class Analysis:
    cost: int = 0
    nodes: int = 0
    depth: int = 0
    aliases: int = 0
    introspection_nesting: int = 0
    operation_type: str = "query"
    plan: list[PlanField] = field(default_factory=list)
    # The variables whose values the figures depend on (page sizes, list
    # lengths), in order: which traversal reads them does not depend on their
    # values, so an analysis holds for any variables that agree on these
    # (guards.analyses caches it so).
    variables_read: tuple[str, ...] = ()


class _Walker:
    __slots__ = (
        "schema",
        "fragments",
        "variables",
        "var_defaults",
        "result",
        "max_depth",
        "read",
    )

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        var_defaults: dict[str, Any],
        max_depth: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.var_defaults = var_defaults
        self.result = Analysis()
        # Stop descending past this depth: the document is refused anyway.
        self.max_depth = max_depth
        self.read: dict[str, None] = {}  # variable names consulted, in order

    # ------------------------------------------------------------ values
    def _value(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            self.read[name] = None
            if name in self.variables:
                return self.variables[name]
            return self.var_defaults.get(name)
        if isinstance(node, IntValueNode):
            return _int(node.value)
        if isinstance(node, ListValueNode):
            return node.values
        return None

    def _page_size(self, fnode: FieldNode) -> int:
        n: int | None = None
        for arg in fnode.arguments or ():
            if arg.name.value in ("first", "last"):
                v = self._value(arg.value)
                if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    n = v if n is None else max(n, v)
        return DEFAULT_PAGE if n is None else n

    def _list_size(self, fnode: FieldNode) -> int:
        k = 1
        for arg in fnode.arguments or ():
            v = self._value(arg.value)
            if isinstance(v, list | tuple):
                k = max(k, len(v))
        return k

    # ------------------------------------------------------------ selections
    def _fields(
        self, sel: SelectionSetNode, parent: Any, seen: frozenset[str]
    ) -> list[tuple[FieldNode, Any]]:
        """The fields of a selection set with fragments inlined, each with its parent type."""
        out: list[tuple[FieldNode, Any]] = []
        for s in sel.selections:
            if isinstance(s, FieldNode):
                out.append((s, parent))
            elif isinstance(s, InlineFragmentNode):
                t = (
                    self.schema.get_type(s.type_condition.name.value)
                    if s.type_condition
                    else parent
                )
                out.extend(self._fields(s.selection_set, t or parent, seen))
            elif isinstance(s, FragmentSpreadNode):
                name = s.name.value
                frag = self.fragments.get(name)
                if frag is None or name in seen:
                    continue  # unknown or cyclic: validation reports it
                t = self.schema.get_type(frag.type_condition.name.value)
                out.extend(self._fields(frag.selection_set, t or parent, seen | {name}))
        return out

    def walk(
        self,
        sel: SelectionSetNode,
        parent: Any,
        depth: int,
        mult: int,
        seen: frozenset[str] = frozenset(),
    ) -> list[PlanField]:
        """Adds the cost and nodes of `sel`, evaluated `mult` times; returns its plan.
        `depth` is the level of the fields of `sel`."""
        plan: list[PlanField] = []
        r = self.result
        if depth > r.depth:
            r.depth = depth
        if depth > self.max_depth:
            return plan
        fields_of = getattr(parent, "fields", None)
        for fnode, ptype in self._fields(sel, parent, seen):
            name = fnode.name.value
            if name.startswith("__"):
                if name != "__typename" and fnode.selection_set is not None:
                    self._introspection(fnode.selection_set, 0, depth + 1)
                continue
            fdefs = getattr(ptype, "fields", None) if ptype is not parent else fields_of
            fdef = fdefs.get(name) if fdefs else None
            if fdef is None or fnode.selection_set is None:
                if fnode.selection_set is not None and depth + 1 > r.depth:
                    r.depth = depth + 1  # unknown field: validation will refuse it
                continue
            key = fnode.alias.value if fnode.alias else name
            named = get_named_type(fdef.type)
            inner = fdef.type.of_type if isinstance(fdef.type, GraphQLNonNull) else fdef.type
            if isinstance(named, GraphQLObjectType) and _is_connection(named):
                n = self._page_size(fnode)
                r.cost += mult * CONNECTION_COST
                r.nodes += mult * n
                items = self._connection(fnode.selection_set, named, depth + 1, mult * n, seen)
                plan.append(PlanField(key, CONNECTION, CONNECTION_COST, items=items))
            elif isinstance(inner, GraphQLList):
                k = self._list_size(fnode)
                children = self.walk(fnode.selection_set, named, depth + 1, mult * k, seen)
                if children:
                    plan.append(PlanField(key, LIST, 0, children))
            else:
                children = self.walk(fnode.selection_set, named, depth + 1, mult, seen)
                if children:
                    plan.append(PlanField(key, OBJECT, 0, children))
        return plan

    def _connection(
        self,
        sel: SelectionSetNode,
        conn: GraphQLObjectType,
        depth: int,
        mult: int,
        seen: frozenset[str],
    ) -> list[tuple[str, str, list[PlanField]]]:
        """Walks the items of a connection (`edges { node { ... } }`), each
        evaluated `mult` times in all; returns the item plans."""
        r = self.result
        if depth > r.depth:
            r.depth = depth
        items: list[tuple[str, str, list[PlanField]]] = []
        edge_type = get_named_type(conn.fields["edges"].type)
        for fnode, _ in self._fields(sel, conn, seen):
            name = fnode.name.value
            if name != "edges" or fnode.selection_set is None:
                if fnode.selection_set is not None and depth + 1 > r.depth:
                    r.depth = depth + 1  # pageInfo { ... }: free, but it is a level
                continue
            edges_key = fnode.alias.value if fnode.alias else name
            if depth + 1 > r.depth:
                r.depth = depth + 1
            for enode, _ in self._fields(fnode.selection_set, edge_type, seen):
                if enode.name.value != "node" or enode.selection_set is None:
                    continue
                node_type = get_named_type(edge_type.fields["node"].type)
                children = self.walk(enode.selection_set, node_type, depth + 2, mult, seen)
                items.append((edges_key, enode.alias.value if enode.alias else "node", children))
        return items

    def _introspection(self, sel: SelectionSetNode, nesting: int, depth: int) -> None:
        r = self.result
        if nesting > r.introspection_nesting:
            r.introspection_nesting = nesting
        if nesting > MAX_INTROSPECTION_LIST_NESTING or depth > 40:
            return
        for s in sel.selections:
            if isinstance(s, FieldNode):
                if s.selection_set is not None:
                    extra = 1 if s.name.value in INTROSPECTION_LISTS else 0
                    self._introspection(s.selection_set, nesting + extra, depth + 1)
            elif isinstance(s, InlineFragmentNode):
                self._introspection(s.selection_set, nesting, depth)
            elif isinstance(s, FragmentSpreadNode):
                frag = self.fragments.get(s.name.value)
                if frag is not None and depth < 40:
                    self._introspection(frag.selection_set, nesting, depth + 1)


def _int(text: str) -> int:
    """An Int literal as the analysis needs it: an absurdly long one (validation
    refuses it as out of range) counts as huge instead of raising."""
    return int(text) if len(text) < 19 else 10**18


def _is_connection(t: GraphQLObjectType) -> bool:
    # Not cached by id(t): ids are reused once a schema is garbage collected (the
    # tests build many), and a stale entry named a plain type a connection.
    return t.name.endswith("Connection") and "edges" in t.fields


def analyze(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    *,
    max_depth: int = 10,
) -> Analysis:
    """Cost, nodes, depth and aliases of the operation `operation_name` selects."""
    op = select_operation(document, operation_name)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    if op is None:
        a = Analysis(aliases=count_aliases(document))
        return a
    defaults: dict[str, Any] = {}
    for vd in op.variable_definitions or ():
        if vd.default_value is not None:
            dv = vd.default_value
            defaults[vd.variable.name.value] = (
                _int(dv.value)
                if isinstance(dv, IntValueNode)
                else (dv.values if isinstance(dv, ListValueNode) else None)
            )
    w = _Walker(schema, fragments, variables or {}, defaults, max_depth)
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[op.operation]
    w.result.operation_type = op.operation.value
    w.result.aliases = count_aliases(document)
    if root is None:
        return w.result  # validation refuses the operation
    if op.operation is OperationType.QUERY:
        plan = w.walk(op.selection_set, root, 1, 1)
    else:
        # Every root field of a mutation or subscription: 10, plus its selection.
        plan = []
        w.result.depth = 1
        for fnode, _ in w._fields(op.selection_set, root, frozenset()):
            name = fnode.name.value
            if name.startswith("__"):
                continue
            fdef = root.fields.get(name)
            children: list[PlanField] = []
            if fdef is not None and fnode.selection_set is not None:
                children = w.walk(fnode.selection_set, get_named_type(fdef.type), 2, 1)
            w.result.cost += MUTATION_COST
            plan.append(
                PlanField(
                    fnode.alias.value if fnode.alias else name, OBJECT, MUTATION_COST, children
                )
            )
    w.result.plan = plan
    w.result.variables_read = tuple(w.read)
    return w.result


def actual_cost(plan: list[PlanField], data: Mapping[str, Any] | None) -> int:
    """The formula over the response: one request per connection really read."""
    if not data:
        return 0
    total = 0
    for p in plan:
        value = data.get(p.key)
        if value is None:
            continue
        if p.kind == OBJECT:
            total += p.base + actual_cost(p.children, value)
        elif p.kind == LIST:
            for item in value:
                if item is not None:
                    total += actual_cost(p.children, item)
        else:  # CONNECTION
            total += p.base
            for edges_key, node_key, children in p.items:
                if not children:
                    continue
                for edge in value.get(edges_key) or ():
                    node = edge.get(node_key) if edge else None
                    if node is not None:
                        total += actual_cost(children, node)
    return total
