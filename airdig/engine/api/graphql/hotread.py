"""Answer the hottest single-object reads (``resource(id)``) without Strawberry's per-request machinery.

A ``resource(id)`` answered by Strawberry spends most of its CPU on the machinery around one cache read:
a context per schema extension and hook, graphql-core's executor, a resolve-info and an extension
``resolve`` call per field. :class:`HotReads` recognises, once per document text (an LRU like Strawberry's
``ParserCache``), a document that can be answered without it, and keeps a *plan* for it:

* the document parses within the schema's token limit and validates with the schema's own rules
  (graphql-core's, the depth/alias/cost limits of ``AddValidationRules``, Strawberry's two) — read from the
  schema's extensions, so the verdict is the one Strawberry would give;
* it is one query operation (the one the request names, if it names one), with no directive anywhere;
* every root field is ``__typename`` or a field registered as a *hot root* (an ``async`` resolver with no
  field extension or permission class, whose loading is the registered function — the very function the
  Strawberry resolver awaits), and everything selected under it is *plain* in the sense of
  :mod:`airdig.engine.api.graphql.plainlists`, whose completion code the plan reuses (aliases, fragments,
  ``__typename``, nested objects: graphql-core collects the fields, the plan only reads them).

A request with a plan coerces its variables and arguments with graphql-core's own functions, checks the
query cost with its variables where they can change it (as ``VariableCost`` does), loads each root field and completes it. Anything
that would not be a plain success — a variable or argument that does not coerce, a cost over the limit,
a loader that raises, a value whose completion would be an error — returns ``None``, and the caller runs
the request through Strawberry from the start, which then gives the errors (codes, messages, locations)
and partial results as always. Loads are reads: running one again costs time, never a second effect.

Only queries go this way (mutations keep ``MutationGuard``); authentication and the Host/Origin checks run
before GraphQL, at the edge, for both paths alike. :func:`check_extensions` refuses a schema with an
extension the plan does not account for, so a new extension cannot be skipped silently.

    hot = HotReads(schema, {"resource": load_resource})
    result = await hot.execute(query, operation_name, variables, context)   # None: ask Strawberry
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    parse,
    specified_rules,
    visit,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values, get_variable_values
from prometheus_client import Counter
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionResult

from airdig.engine.api.graphql.cost import BUDGETED, MAX_COST, document_cost
from airdig.engine.api.graphql.plainlists import Complete, PlainListsContext

# (request context, coerced arguments by Python name) -> the value the Strawberry resolver would return
HotRoot = Callable[[dict[str, Any], dict[str, Any]], Awaitable[Any]]

# schema extensions whose effect the plan reproduces (or that cannot act on a plan's document):
# the token limit and the validation rules are read from their instances; VariableCost is checked per
# request; ErrorCodes only rewrites errors (a plan answers none); OffLoop leaves async root fields alone;
# MutationGuard acts on mutations only; the two caches only remember parse and validation results.
KNOWN_EXTENSIONS = frozenset({"MaxTokensLimiter", "ParserCache", "AddValidationRules", "ValidationCache",
                              "VariableCost", "ErrorCodes", "OffLoop", "MutationGuard"})
MAX_PLANS = 512


@dataclass(frozen=True)
class _Root:
    key: str                   # response key (alias or name)
    load: HotRoot | None       # None: ``__typename``
    field: GraphQLField | None
    node: FieldNode | None     # arguments are read from it (validation makes merged nodes' arguments equal)
    complete: Complete


@dataclass(frozen=True)
class Plan:
    document: DocumentNode
    operation: OperationDefinitionNode
    roots: tuple[_Root, ...]
    typename: str
    cost_varies: bool  # the cost must be checked again with each request's variables (VariableCost)


_NO_PLAN = object()  # the document is not a hot read (cached: it never will be)


class HotReads:
    def __init__(self, schema: strawberry.Schema, roots: dict[str, HotRoot], max_plans: int = MAX_PLANS,
                 counter: Counter | None = None) -> None:
        """``counter``: incremented for each request answered here (``airdig_graphql_hot_reads_total``)."""
        self.schema = schema
        self.gql = schema._schema
        query_type = self.gql.query_type
        if query_type is None:
            raise TypeError("a schema without a query type has no hot reads")
        self.query_type = query_type
        self.max_tokens, self.rules = check_extensions(schema.get_extensions())
        for name in roots:
            _check_root(query_type.fields.get(name), name)
        self.roots = dict(roots)
        self.max_plans = max_plans
        self._plans: OrderedDict[tuple[str, str | None], Plan | object] = OrderedDict()
        self.answered = 0  # requests answered here (the rest went to Strawberry)
        self.counter = counter

    async def execute(self, query: str | None, operation_name: str | None, variables: dict[str, Any] | None,
                      context: dict[str, Any]) -> ExecutionResult | None:
        """The result Strawberry would give, when the request is a plain success of a hot document;
        ``None`` otherwise (then run it through Strawberry)."""
        if not query:
            return None
        try:
            data = await self._run(query, operation_name, variables, context)
        except Exception:  # an error, a completion that is not plain, a document graphql-core chokes on:
            return None    # Strawberry answers it from the start, with its errors
        if data is None:
            return None
        self.answered += 1
        if self.counter is not None:
            self.counter.inc()
        return ExecutionResult(data=data, errors=None)

    async def _run(self, query: str, operation_name: str | None, variables: dict[str, Any] | None,
                   context: dict[str, Any]) -> dict[str, Any] | None:
        plan = self._plan(query, operation_name, variables)
        if plan is None:
            return None
        if plan.cost_varies and document_cost(plan.document, variables or {}) > MAX_COST:  # VariableCost's verdict
            return None
        values = get_variable_values(self.gql, plan.operation.variable_definitions or (), variables or {})
        if isinstance(values, list):  # coercion errors
            return None
        data: dict[str, Any] = {}
        for root in plan.roots:
            if root.load is None or root.field is None or root.node is None:
                data[root.key] = plan.typename
                continue
            args = get_argument_values(root.field, root.node, values)
            data[root.key] = root.complete(await root.load(context, args))
        return data

    def _plan(self, query: str, operation_name: str | None, variables: dict[str, Any] | None) -> Plan | None:
        key = (query, operation_name)
        hit = self._plans.get(key)
        if hit is not None:
            self._plans.move_to_end(key)
            return hit if isinstance(hit, Plan) else None
        built = self._build(query, operation_name, variables)
        if built is None:  # undecided (this request's variables did not coerce): decide on a later request
            return None
        self._plans[key] = built
        if len(self._plans) > self.max_plans:
            self._plans.popitem(last=False)
        return built if isinstance(built, Plan) else None

    def _build(self, query: str, operation_name: str | None, variables: dict[str, Any] | None) -> Plan | object | None:
        try:
            document = parse(query, max_tokens=self.max_tokens)
        except GraphQLError:
            return _NO_PLAN
        if validate_document(self.gql, document, self.rules):
            return _NO_PLAN
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        survey = _survey(document)
        # any directive (@skip, @include, @defer, …) makes the field set depend on variables or delivery
        if len(ops) != 1 or ops[0].operation != OperationType.QUERY or survey.directives:
            return _NO_PLAN
        if operation_name is not None and (ops[0].name is None or ops[0].name.value != operation_name):
            return _NO_PLAN
        executor = PlainListsContext.build(self.gql, document, raw_variable_values=variables or {},
                                           operation_name=operation_name)
        if isinstance(executor, list):
            return None
        assert isinstance(executor, PlainListsContext)
        grouped, defers, _ = collect_fields(self.gql, executor.fragments, executor.variable_values,
                                            self.query_type, executor.operation)
        if defers:
            return _NO_PLAN
        roots: list[_Root] = []
        for response_key, fdl in grouped.items():
            name = fdl[0].node.name.value
            if name == "__typename":
                roots.append(_Root(response_key, None, None, None, _same))
                continue
            load = self.roots.get(name)
            field = self.query_type.fields.get(name)
            if load is None or field is None:
                return _NO_PLAN
            complete = executor._build(field.type, fdl)
            if complete is None:
                return _NO_PLAN
            roots.append(_Root(response_key, load, field, fdl[0].node, complete))
        # the cost validation checked depends on variables only through a budgeted field's `budget`
        cost_varies = bool(survey.fields & BUDGETED.keys())
        return Plan(document, executor.operation, tuple(roots), self.query_type.name, cost_varies)


def _same(value: Any) -> Any:
    return value


class _Survey(Visitor):
    """Whether a document has a directive, and the names of the fields it selects."""

    def __init__(self) -> None:
        super().__init__()
        self.directives = False
        self.fields: set[str] = set()

    def enter_directive(self, node: DirectiveNode, *_: Any) -> Any:
        self.directives = True
        return Visitor.BREAK

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        self.fields.add(node.name.value)


def _survey(document: DocumentNode) -> _Survey:
    survey = _Survey()
    visit(document, survey)
    return survey


def _check_root(field: GraphQLField | None, name: str) -> None:
    """A hot root must be a Strawberry field whose resolver only awaits its loader: async (so ``OffLoop``
    leaves it alone), with no field extension or permission class the plan would skip."""
    definition = (field.extensions or {}).get("strawberry-definition") if field is not None else None
    if definition is None:
        raise TypeError(f"hot root {name!r} is not a field of the query type")
    if not definition.is_async or definition.extensions or definition.permission_classes:
        raise TypeError(f"hot root {name!r} must be an async resolver without field extensions or permissions")


def check_extensions(extensions: Iterable[SchemaExtension]) -> tuple[int | None, tuple[Any, ...]]:
    """The schema's token limit and validation rules, read from its extensions (as ``get_extensions``
    makes them for a request); refuses an extension the hot path does not account for
    (see :data:`KNOWN_EXTENSIONS`)."""
    max_tokens: int | None = None
    rules: list[Any] = list(specified_rules)
    for inst in extensions:
        name = type(inst).__name__
        if name not in KNOWN_EXTENSIONS:
            raise TypeError(f"schema extension {name} is unknown to the hot read path "
                            "(airdig.engine.api.graphql.hotread): say what it does to a hot read there")
        if isinstance(inst, MaxTokensLimiter):
            max_tokens = inst.max_token_count
        elif isinstance(inst, AddValidationRules):
            rules += inst.validation_rules
    return max_tokens, tuple(rules)
