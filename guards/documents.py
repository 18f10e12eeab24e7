"""Facts of a parsed document that need no schema: which operation a request
selects, how many aliases it writes, and how many selections it expands to once
its fragments are inlined (refused before any other analysis)."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode) and (
            operation_name is None or (d.name is not None and d.name.value == operation_name)
        ):
            return d
    return None


def count_aliases(document: DocumentNode) -> int:
    """Aliases as written (fragments once), like Strawberry's MaxAliasesLimiter."""
    total = 0
    stack: list[Any] = [
        d.selection_set for d in document.definitions if hasattr(d, "selection_set")
    ]
    while stack:
        sel = stack.pop()
        if sel is None:
            continue
        for s in sel.selections:
            if isinstance(s, FieldNode) and s.alias is not None:
                total += 1
            sub = getattr(s, "selection_set", None)
            if sub is not None:
                stack.append(sub)
    return total


def expanded_size(
    document: DocumentNode, operation_name: str | None = None, cap: int = 10**9
) -> int:
    """The number of selections (fields, spreads, inline fragments) the operation
    has once every fragment spread is replaced by its fragment, counted in one pass
    over the document: each
    fragment's size is computed once and memoized by name, so `...F1 ...F1` in F0
    costs two additions, not two walks (the classic exponential fragment bomb
    expands 2^n fields from n fragments). Saturates just above `cap`; cycles count
    0 (validation refuses them). With no operation selected: the largest one."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, int] = {}
    limit = cap + 1

    def size_of(sel: SelectionSetNode | None) -> int:
        if sel is None:
            return 0
        total = 0
        for s in sel.selections:
            if isinstance(s, FieldNode | InlineFragmentNode):
                total += 1 + size_of(s.selection_set)
            elif isinstance(s, FragmentSpreadNode):
                total += 1 + fragment(s.name.value)
            if total >= limit:
                return limit
        return total

    def fragment(name: str) -> int:
        found = memo.get(name)
        if found is not None:
            return found
        frag = fragments.get(name)
        if frag is None:
            return 0
        memo[name] = 0  # a cycle back here counts 0
        memo[name] = size_of(frag.selection_set)
        return memo[name]

    op = select_operation(document, operation_name)
    ops = (
        [op]
        if op is not None
        else [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    )
    return max((size_of(o.selection_set) for o in ops), default=0)
