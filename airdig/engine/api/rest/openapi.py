"""The OpenAPI 3.1 document of the REST API, kept next to the routes it describes."""

from __future__ import annotations

from typing import Any

from airdig import __version__

_ERROR = {"$ref": "#/components/responses/Error"}


def _param(name: str, description: str, schema: dict[str, Any] | None = None, where: str = "query",
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": where, "required": required, "description": description,
            "schema": schema or {"type": "string"}}


_FILTERS = [
    _param("kind", "Node kind, e.g. aws.ec2.instance."),
    _param("provider", "aws, k8s, otel, terraform."),
    _param("account", "Cloud account id."),
    _param("region", "Region."),
    _param("tag", "`key` (has the tag) or `key=value`."),
    _param("health", "Health status.", {"type": "string", "enum": ["healthy", "warning", "critical", "unknown"]}),
    _param("drift", "Drift status.",
           {"type": "string", "enum": ["in_sync", "drifted", "unmanaged", "missing", "unknown"]}),
    _param("changed_since", "RFC 3339 time; only nodes whose state changed since then.",
           {"type": "string", "format": "date-time"}),
    _param("include_deleted", "Also list deleted nodes.", {"type": "boolean"}),
    _param("first", "Page size (1..100).", {"type": "integer", "minimum": 1, "maximum": 100}),
    _param("after", "Cursor from pageInfo.endCursor."),
]

_RESOURCE = {
    "type": "object",
    "required": ["id", "kind", "name", "provider", "health", "drift", "attrs", "tags"],
    "properties": {
        "id": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
        "provider": {"type": "string"}, "account": {"type": "string"}, "region": {"type": "string"},
        "attrs": {"type": "object"}, "tags": {"type": "object", "additionalProperties": {"type": "string"}},
        "managedBy": {"type": ["string", "null"]},
        "health": {"type": "object", "properties": {"status": {"type": "string"}, "reasons": {"type": "array"},
                                                    "since": {"type": ["string", "null"]}}},
        "drift": {"type": "object", "properties": {"status": {"type": "string"},
                                                   "lastEvent": {"type": ["string", "null"]}}},
        "firstSeen": {"type": ["string", "null"]}, "lastSeen": {"type": ["string", "null"]},
        "deletedAt": {"type": ["string", "null"]},
        "asOf": {"type": ["string", "null"]}, "asOfExact": {"type": "boolean"},
        "asOfGaps": {"type": "array", "items": {"type": "string"}},
    },
}


_ID = _param("id", "Node id (ARN, k8s://…, service://…) or a native id.", where="path", required=True)
_OBJ = {"type": "object"}


def _get(summary: str, op: str, params: list[dict[str, Any]], errors: tuple[str, ...] = ("400", "404"),
         schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, "operationId": op, "parameters": params, "responses": {
        "200": {"description": summary, "content": {"application/json": {"schema": schema or _OBJ}}},
        **{code: _ERROR for code in errors}}}}


def _int_param(name: str, description: str, lo: int, hi: int) -> dict[str, Any]:
    return _param(name, description, {"type": "integer", "minimum": lo, "maximum": hi})


_TIME = {"type": "string", "format": "date-time"}
_STR_OR_NULL = {"type": ["string", "null"]}
_WRITER = {"type": ["object", "null"], "required": ["eventId", "time"], "properties": {
    "eventId": {"type": "string"}, "eventName": _STR_OR_NULL, "time": {"type": "string"},
    "principal": _STR_OR_NULL, "channel": _STR_OR_NULL, "sourceIp": _STR_OR_NULL}}
_CHANGE = {"type": "object", "required": ["id", "resourceId", "time", "kind", "source", "summary", "details",
                                          "writers"], "properties": {
    "id": {"type": "string"}, "resourceId": {"type": "string"}, "time": {"type": "string"},
    "kind": {"type": "string"}, "source": {"type": "string"}, "actor": _STR_OR_NULL, "summary": {"type": "string"},
    "details": _OBJ,
    # scan diffs (kind `updated`): per changed attribute, the latest CloudTrail write before detection whose
    # request touched it (null: none on record did) and every such write since the previous scan
    "writers": {"type": "array", "items": {"type": "object", "required": ["path", "writer", "writers"],
                                           "properties": {"path": {"type": "string"}, "writer": _WRITER,
                                                          "writers": {"type": "array", "items": _WRITER}}}}}}

INTEL_PATHS: dict[str, Any] = {
    "/api/v1/impact/{id}": _get("Blast radius of a node", "impact", [
        _ID, _int_param("hops", "Hops (default 3).", 1, 6),
        _param("resources", "Include each reached node's resource (default true).", {"type": "boolean"}),
        _param("at", "Over the graph as of this time (default now); resources then carry asOf/asOfExact/asOfGaps.",
               _TIME)]),
    "/api/v1/neighbors/{id}": _get("Nodes and edges around a node", "neighbors", [
        _ID, _int_param("depth", "Depth (default 1).", 1, 3),
        _param("edge_types", "Comma-separated edge types."), _int_param("first", "At most this many nodes.", 1, 100),
        _param("at", "The graph as of this time (default now); nodes then carry asOf/asOfExact/asOfGaps.", _TIME)]),
    "/api/v1/neighborhood/{id}": _get(
        "The neighbourhood summarised to a budget of visible items (nodes + groups), optionally as of a time; "
        "with `group`, one page of that group's member ids", "neighborhood", [
            _ID, _int_param("depth", "Depth (default 1).", 1, 3),
            _int_param("budget", "At most this many visible items (default 60).", 10, 500),
            _param("group_by", "Comma-separated grouping keys in order (default "
                               "kind,subnet,securityGroup,namespace,account)."),
            _param("expand", "Group ids to open in place (comma-separated or repeated)."),
            _param("edge_types", "Comma-separated edge types."),
            _param("at", "The graph as of this time (default now).", _TIME),
            _param("group", "Answer one page of this group's member ids instead."),
            _int_param("first", "With group: page size (default 100).", 1, 100),
            _param("after", "With group: the last member id of the previous page.")],
        schema={"type": "object", "properties": {
            "center": {"$ref": "#/components/schemas/Resource"},
            "nodes": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
            "groups": {"type": "array", "items": {"$ref": "#/components/schemas/NodeGroup"}},
            "edges": {"type": "array", "items": {"$ref": "#/components/schemas/GraphLink"}},
            "total": {"type": "integer"}, "truncated": {"type": "boolean"}, "at": _STR_OR_NULL,
            "asOfExact": {"type": "boolean"}}}),
    "/api/v1/diff": _get("What appeared, vanished and changed between two times", "graphDiff", [
        _param("from", "Start time.", _TIME, required=True), _param("to", "End time.", _TIME, required=True),
        _param("scope", "Bound the diff to this node's neighbourhood."),
        _int_param("depth", "With scope: hops (default 2).", 1, 3),
        _int_param("first", "At most this many per list (default 100).", 1, 100)], schema={
            "type": "object", "required": ["from", "to", "appeared", "vanished", "changed", "counts"], "properties": {
                "from": {"type": "string"}, "to": {"type": "string"},
                "appeared": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                "vanished": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                "changed": {"type": "array", "items": {"type": "object", "properties": {
                    "resource": {"$ref": "#/components/schemas/Resource"}, "exact": {"type": "boolean"},
                    "attributes": {"type": "array", "items": {"type": "object", "properties": {
                        "name": {"type": "string"}, "before": {}, "after": {}}}},
                    "health": {"type": ["object", "null"]}, "drift": {"type": ["object", "null"]},
                    "who": _STR_OR_NULL, "when": {"type": "string"}, "source": {"type": "string"},
                    "changes": {"type": "array", "items": _CHANGE}}}},
                "appearedEdges": {"type": "array", "items": {"$ref": "#/components/schemas/GraphLink"}},
                "vanishedEdges": {"type": "array", "items": {"$ref": "#/components/schemas/GraphLink"}},
                "counts": _OBJ, "truncated": {"type": "boolean"}}}),
    "/api/v1/health-at": _get("Health counts and unhealthy resources as of a time", "healthAt", [
        _param("at", "The time.", _TIME, required=True),
        _param("status", "Comma-separated statuses to list (default critical,warning)."),
        _int_param("first", "At most this many resources (default 50).", 1, 100)], ("400",)),
    "/api/v1/root-cause/{id}": _get("Ranked causes of a symptom", "rootCause", [
        _ID, _param("at", "Time of the symptom (default now).", _TIME),
        _int_param("window_minutes", "How far back to look (default 30).", 1, 1440)]),
    "/api/v1/timeline": _get("Change timeline", "timeline", [
        _param("id", "Node id; all nodes when absent."), _param("since", "From.", _TIME),
        _param("until", "Until.", _TIME), _int_param("first", "At most this many.", 1, 100),
        _int_param("hops", "Also changes of nodes this many hops away.", 0, 3)], schema={
            "type": "object", "required": ["items"], "properties": {"items": {"type": "array", "items": _CHANGE}}}),
    "/api/v1/drift-events": _get("Drift events, newest first", "driftEvents", [
        _param("resource_id", "Only this resource."),
        _param("status", "Status.", {"type": "string", "enum": ["open", "acknowledged", "resolved"]}),
        _param("severity", "Severity.", {"type": "string", "enum": ["low", "medium", "high", "critical"]}),
        _param("kind", "Kind.", {"type": "string", "enum": ["changed", "missing", "unmanaged"]}),
        _int_param("first", "Page size.", 1, 100), _param("after", "Cursor."),
        _param("at", "Events detected by this time, with their status then.", _TIME)], ("400",)),
    "/api/v1/service-map": _get("Service map over a window", "serviceMap", [
        _param("since", "From (default: 15 minutes before until).", _TIME),
        _param("until", "Until (default now).", _TIME), _param("at", "Synonym of until.", _TIME),
        _int_param("budget", "Group services by namespace, then account, above this many (adds groups, "
                             "grouped).", 10, 500),
        _param("expand", "Group ids to open in place.")], ("400",)),
    "/api/v1/coverage": _get("Terraform coverage of the live AWS graph", "coverage", [], ()),
    "/api/v1/drift-coverage": _get("DeepDrift coverage matrix of the latest watch cycle (404 before any)",
                                   "driftCoverage", [], ("404",)),
    "/api/v1/alerts/deliveries": _get("Alert webhook deliveries, newest first", "alertDeliveries", [
        _int_param("first", "At most this many (default 50).", 1, 100)], ("400",)),
}


def openapi_document() -> dict[str, Any]:
    ok = "200"
    return {
        "openapi": "3.1.0",
        "info": {"title": "AirDig Engine REST API", "version": __version__,
                 "description": "Read the unified graph. GraphQL at /graphql has the same data and more."},
        "paths": {
            "/api/v1/resources": {"get": {
                "summary": "List resources", "operationId": "listResources", "parameters": _FILTERS,
                "responses": {ok: {"description": "A page of resources", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/ResourcePage"}}}}, "400": _ERROR}}},
            "/api/v1/resources/{id}": {"get": {
                "summary": "One resource", "operationId": "getResource",
                "parameters": [_param("id", "Node id (ARN, k8s://…, service://…).", where="path", required=True),
                               _param("at", "The resource as of this time (404 if it did not exist then).", _TIME)],
                "responses": {ok: {"description": "The resource", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Resource"}}}}, "404": _ERROR}}},
            "/api/v1/search": {"get": {
                "summary": "Search by id, native id or name", "operationId": "search",
                "parameters": [_param("q", "Search text.", {"type": "string", "minLength": 1, "maxLength": 512},
                                      required=True),
                               _param("first", "At most this many (1..100).",
                                      {"type": "integer", "minimum": 1, "maximum": 100})],
                "responses": {ok: {"description": "Matches", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"items": {"type": "array", "items": {
                        "$ref": "#/components/schemas/Resource"}}}}}}}, "400": _ERROR}}},
            "/api/v1/resolve": {"get": {
                "summary": "Node ids for a native id", "operationId": "resolve",
                "parameters": [_param("native_id", "i-…, sg-…, an IP, a DNS name, a pod UID.",
                                      {"type": "string", "minLength": 1}, required=True)],
                "responses": {ok: {"description": "Node ids", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"native_id": {"type": "string"},
                                                     "node_ids": {"type": "array", "items": {"type": "string"}}}}}}},
                    "400": _ERROR}}},
            **INTEL_PATHS,
        },
        "components": {
            "schemas": {
                "Resource": _RESOURCE,
                "ResourcePage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                    "pageInfo": {"type": "object", "properties": {"hasNextPage": {"type": "boolean"},
                                                                  "endCursor": {"type": ["string", "null"]}}},
                    "totalCount": {"type": "integer"}}},
                "NodeGroup": {"type": "object", "required": ["id", "label", "kind", "by", "value", "count"],
                              "properties": {
                                  "id": {"type": "string"}, "label": {"type": "string"}, "kind": {"type": "string"},
                                  "by": {"type": "string"}, "value": {"type": "string"}, "valueName": _STR_OR_NULL,
                                  "count": {"type": "integer"}, "worstHealth": {"type": "string"},
                                  "health": _OBJ, "drifted": {"type": "integer"},
                                  "memberIds": {"type": "array", "items": {"type": "string"}}}},
                "GraphLink": {"type": "object", "required": ["src", "dst", "type", "count"], "properties": {
                    "src": {"type": "string"}, "dst": {"type": "string"}, "type": {"type": "string"},
                    "count": {"type": "integer"}}},
                "Error": {"type": "object", "required": ["error", "code"],
                          "properties": {"error": {"type": "string"}, "code": {"type": "string"}}},
            },
            "responses": {"Error": {"description": "An error with a code", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }
