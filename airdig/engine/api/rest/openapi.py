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
    },
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
                "parameters": [_param("id", "Node id (ARN, k8s://…, service://…).", where="path", required=True)],
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
        },
        "components": {
            "schemas": {
                "Resource": _RESOURCE,
                "ResourcePage": {"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}},
                    "pageInfo": {"type": "object", "properties": {"hasNextPage": {"type": "boolean"},
                                                                  "endCursor": {"type": ["string", "null"]}}},
                    "totalCount": {"type": "integer"}}},
                "Error": {"type": "object", "required": ["error", "code"],
                          "properties": {"error": {"type": "string"}, "code": {"type": "string"}}},
            },
            "responses": {"Error": {"description": "An error with a code", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }
