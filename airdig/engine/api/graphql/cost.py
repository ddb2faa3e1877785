"""A query-cost limit, checked during validation (so the validation cache keeps the verdict).

Each selected field costs 1 times the page sizes of the lists it sits in: a list field's ``first``
argument multiplies the cost of everything below it (a variable or a missing ``first`` counts as the
largest page, 100). ``rootCause`` and ``impact`` cost extra for the graph walks they run. A query
over :data:`MAX_COST` is rejected before anything executes.
"""

from __future__ import annotations

from typing import Any

from graphql import FieldNode, GraphQLError, IntValueNode, ValidationRule

MAX_COST = 10_000
PAGE = 100
EXPENSIVE = {"rootCause": 1000, "impact": 200, "neighbors": 50, "serviceMap": 50, "timeline": 20}


class QueryCost(ValidationRule):
    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.stack: list[int] = [1]
        self.total = 0

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        multiplier = self.stack[-1]
        self.total += multiplier * EXPENSIVE.get(node.name.value, 1)
        page = 1
        for arg in node.arguments or ():
            if arg.name.value == "first":
                page = int(arg.value.value) if isinstance(arg.value, IntValueNode) else PAGE
                page = max(1, min(page, PAGE))
        self.stack.append(multiplier * page)

    def leave_field(self, *_: Any) -> None:
        self.stack.pop()

    def leave_document(self, *_: Any) -> None:
        if self.total > MAX_COST:
            self.report_error(GraphQLError(
                f"query cost {self.total} exceeds the limit of {MAX_COST}: ask for smaller pages or fewer fields"))
