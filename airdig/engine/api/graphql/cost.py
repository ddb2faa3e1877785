"""A query-cost limit, checked during validation (so the validation cache keeps the verdict).

Each selected field costs 1 times the page sizes of the lists it sits in: a list field's ``first``
argument multiplies the cost of everything below it (a variable or a missing ``first`` counts as the
largest page, 100); under ``neighborhood`` and ``serviceMap`` the ``budget`` (visible items, default 60
for a neighbourhood) multiplies instead; a variable budget is costed at its value before execution
(:class:`VariableCost`). ``rootCause``, ``impact``,
``neighborhood`` and ``graphDiff`` cost extra for the graph walks they run. Fragment
spreads and inline fragments are costed where they are spread (a fragment spread ten times costs ten
times). A query over :data:`MAX_COST` is rejected with ``LIMIT_EXCEEDED`` before anything executes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import SchemaExtension

MAX_COST = 10_000
PAGE = 100
EXPENSIVE = {"rootCause": 1000, "impact": 200, "neighbors": 50, "serviceMap": 50, "timeline": 20,
             "neighborhood": 200, "graphDiff": 200, "healthAt": 50}
# fields whose lists are sized by ``budget`` (visible items) instead of ``first``: default when it is absent
BUDGETED = {"neighborhood": 60, "serviceMap": 1}
MAX_BUDGET = 500
MIN_BUDGET = 10
MAX_SPREAD_DEPTH = 20  # fragment cycles are refused by GraphQL's own rule; this only bounds the walk


def _page(node: FieldNode, variables: dict[str, Any] | None = None) -> int:
    for arg in node.arguments or ():
        if arg.name.value == "first":
            page = int(arg.value.value) if isinstance(arg.value, IntValueNode) else PAGE
            return max(1, min(page, PAGE))
    if node.name.value in BUDGETED:  # a summarised graph answers up to `budget` items in each of its lists
        for arg in node.arguments or ():
            if arg.name.value == "budget":
                return max(1, min(_budget(arg.value, variables), MAX_BUDGET))
        return BUDGETED[node.name.value]
    return 1


def _budget(value: Any, variables: dict[str, Any] | None) -> int:
    """A literal budget at its value; a variable at its value when the request's variables are known
    (:class:`VariableCost`), else at the smallest budget (validation runs once per document, without them)."""
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, VariableNode):
        if variables is None:
            return MIN_BUDGET
        v = variables.get(value.name.value)
        return v if isinstance(v, int) and not isinstance(v, bool) else BUDGETED["neighborhood"]
    return MAX_BUDGET


def selection_cost(selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode],
                   multiplier: int, limit: int, depth: int = 0, variables: dict[str, Any] | None = None) -> int:
    """Cost of a selection set, stopping early once over ``limit`` (the answer is then just "too much")."""
    if selection_set is None or depth > MAX_SPREAD_DEPTH:
        return 0
    total = 0
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            total += multiplier * EXPENSIVE.get(sel.name.value, 1)
            total += selection_cost(sel.selection_set, fragments, multiplier * _page(sel, variables), limit - total,
                                    depth + 1, variables)
        elif isinstance(sel, InlineFragmentNode):
            total += selection_cost(sel.selection_set, fragments, multiplier, limit - total, depth + 1, variables)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None:
                total += selection_cost(frag.selection_set, fragments, multiplier, limit - total, depth + 1,
                                        variables)
        if total > limit:
            return total
    return total


def document_cost(document: DocumentNode, variables: dict[str, Any] | None) -> int:
    """The largest cost of the document's operations (stopping early past :data:`MAX_COST`)."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    return max((selection_cost(op.selection_set, fragments, 1, MAX_COST, variables=variables)
                for op in document.definitions if isinstance(op, OperationDefinitionNode)), default=0)


def _too_costly(total: int) -> GraphQLError:
    return GraphQLError(f"query cost {total} exceeds the limit of {MAX_COST}: ask for smaller pages or fewer fields",
                        extensions={"code": "LIMIT_EXCEEDED"})


class VariableCost(SchemaExtension):
    """The cost again, with the request's variables: a ``budget`` given as a variable (as the UI sends it)
    counts at its value. Runs before execution; a query over the limit is answered with the error only."""

    def on_execute(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.result is None:
            total = document_cost(ctx.graphql_document, ctx.variables or {})
            if total > MAX_COST:
                ctx.result = ExecutionResult(data=None, errors=[_too_costly(total)])
        yield


class QueryCost(ValidationRule):
    def leave_document(self, node: Any, *_: Any) -> None:
        fragments = {d.name.value: d for d in node.definitions if isinstance(d, FragmentDefinitionNode)}
        for op in node.definitions:
            if not isinstance(op, OperationDefinitionNode):
                continue
            total = selection_cost(op.selection_set, fragments, 1, MAX_COST)
            if total > MAX_COST:
                self.report_error(_too_costly(total))
                return
