"""Step Functions state machines and activities.

Edges: state machine ``depends_on`` its IAM role, every Lambda function its definition invokes (a Task
``Resource`` that is a function ARN, or ``arn:aws:states:::lambda:invoke`` with ``Parameters.FunctionName``),
every activity it names and its log group. The definition is walked, nested ``Parallel`` branches and
``Map`` iterators included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import orjson

from airdig.skygraph.aws.common import Clients, Where, each, jsonable, node, paginate, tag_list, without
from airdig.skygraph.aws.spec import E, KindSpec
from airdig.skygraph.graph import Fragment

SM, ACT = "aws.states.state-machine", "aws.states.activity"
SPECS = (
    KindSpec(SM, ("states:ListStateMachines", "states:DescribeStateMachine", "states:ListTagsForResource"),
             E(SM, "depends_on", "aws.iam.role", "aws.lambda.function", ACT, "aws.sqs.queue", "aws.sns.topic",
               "aws.dynamodb.table", "aws.ecs.cluster", "aws.ecs.task-definition"), natives="name"),
    KindSpec(ACT, ("states:ListActivities",), (), natives="name"),
)


def get_stepfunctions(clients: Clients, where: Where) -> dict[str, Any]:
    sfn = clients.client("stepfunctions", where.region)
    machines = []
    for m in paginate(sfn, "list_state_machines", "stateMachines"):
        d = jsonable(sfn.describe_state_machine(stateMachineArn=m["stateMachineArn"]))
        d["tags"] = jsonable(sfn.list_tags_for_resource(resourceArn=m["stateMachineArn"]).get("tags", []))
        machines.append(d)
    return {"StateMachines": machines, "Activities": paginate(sfn, "list_activities", "activities")}


def _states(definition: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(definition, dict):
        return
    for st in (definition.get("States") or {}).values():
        if not isinstance(st, dict):
            continue
        yield st
        for br in st.get("Branches") or []:
            yield from _states(br)
        for key in ("Iterator", "ItemProcessor"):
            yield from _states(st.get(key))


def definition_refs(definition: str) -> list[str]:
    """ARNs (or function names) a definition's Task states call."""
    parsed: Any = None
    with contextlib.suppress(orjson.JSONDecodeError):
        parsed = orjson.loads(definition)
    out: list[str] = []
    for st in _states(parsed):
        res = str(st.get("Resource") or "")
        params = st.get("Parameters") or st.get("Arguments") or {}
        if not isinstance(params, dict):
            params = {}
        if ":states:::" in res:  # service integration: the target is in the parameters
            for key in ("FunctionName", "QueueUrl", "TopicArn", "TableName", "Cluster", "TaskDefinition",
                        "StateMachineArn"):
                v = params.get(key)
                if isinstance(v, str) and not v.startswith("$"):
                    out.append(v.split(":$")[0])
        elif res.startswith("arn:"):
            out.append(res)
    return out


def transform_stepfunctions(raw: dict[str, Any], where: Where, scope: str) -> Fragment:
    f = Fragment(scope)
    for m in each(raw.get("StateMachines")):
        arn = m["stateMachineArn"]
        f.add(node(SM, arn, where, m.get("name", arn), without(m, "tags"), tag_list(m.get("tags")), [m.get("name")]))
        f.link(arn, "depends_on", m.get("roleArn"))
        for ref in definition_refs(str(m.get("definition") or "")):
            f.link(arn, "depends_on", ref)
    for a in each(raw.get("activities") or raw.get("Activities")):
        arn = a["activityArn"]
        f.add(node(ACT, arn, where, a.get("name", arn), without(a), {}, [a.get("name")]))
    return f
