"""Terraform state (format v4) readers: local files and globs, the S3 backend, the HTTP backend.

Only managed resources are kept (data sources describe things Terraform reads, not owns). Every instance
becomes one :class:`StateResource` with its full address (``module.net.aws_subnet.private["a"]``).
Anything else (v3 state, truncated JSON, a resource without instances) is rejected with
:class:`InvalidInput` naming the file and the problem; the other files are still read.

    states, errors = load_states(["envs/*/terraform.tfstate", "s3://tf/prod.tfstate"])
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from typing import Any

import orjson

from airdig.errors import InvalidInput
from airdig.model.redact import Path, redact

SUPPORTED_VERSION = 4


@dataclass(frozen=True)
class StateResource:
    """One instance of a managed resource; ``attributes`` are already redacted."""

    address: str
    type: str
    name: str
    module: str
    index_key: str | int | None
    provider: str
    attributes: dict[str, Any]
    sensitive_paths: tuple[Path, ...] = ()
    source: str = ""

    @property
    def id(self) -> str:
        value = self.attributes.get("id")
        return str(value) if value is not None else ""


@dataclass
class TfState:
    source: str
    serial: int = 0
    lineage: str = ""
    terraform_version: str = ""
    resources: list[StateResource] = field(default_factory=list)


def _address(module: str, rtype: str, name: str, key: Any) -> str:
    base = f"{module}.{rtype}.{name}" if module else f"{rtype}.{name}"
    if key is None:
        return base
    if isinstance(key, bool) or not isinstance(key, int | str):
        raise ValueError(f"index_key must be a number or string, got {type(key).__name__}")
    return f"{base}[{key}]" if isinstance(key, int) else f'{base}["{key}"]'


def _sensitive_paths(raw: Any, where: str, source: str) -> tuple[Path, ...]:
    """Terraform's ``sensitive_attributes``: a list of paths, each a list of get_attr/index steps."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput(source, f"{where}: 'sensitive_attributes' must be a list")
    paths: list[Path] = []
    for steps in raw:
        if not isinstance(steps, list):
            raise InvalidInput(source, f"{where}: each sensitive_attributes entry must be a list of steps")
        path: list[str | int] = []
        for step in steps:
            if not isinstance(step, dict):
                raise InvalidInput(source, f"{where}: a sensitive_attributes step must be an object")
            value = step.get("value")
            if step.get("type") == "index" and isinstance(value, dict):
                value = value.get("value")  # {"type": "index", "value": {"value": 0, "type": "number"}}
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InvalidInput(source, f"{where}: unsupported sensitive_attributes step {step!r}")
            path.append(value)
        if path:
            paths.append(tuple(path))
    return tuple(paths)


def parse_state(raw: bytes | str, source: str) -> TfState:
    """Parse one state document; :class:`InvalidInput` names ``source`` and what is wrong."""
    from airdig.deepdrift.cloudtrail import gc_paused

    with gc_paused():  # tens of thousands of acyclic attribute dicts: collections would rescan them all
        return _parse_state(raw, source)


def _parse_state(raw: bytes | str, source: str) -> TfState:
    if not raw.strip():
        raise InvalidInput(source, "the state file is empty")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(source, f"not valid JSON (truncated or corrupt?): {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidInput(source, f"a Terraform state must be a JSON object, got {type(doc).__name__}")
    version = doc.get("version")
    if version != SUPPORTED_VERSION:
        if isinstance(version, int) and version < SUPPORTED_VERSION:
            raise InvalidInput(source, f"state format version {version} is not supported (need version 4, "
                                       "written by Terraform >= 0.12; run `terraform apply` with a newer "
                                       "Terraform to upgrade it)")
        raise InvalidInput(source, f"unsupported state format version {version!r} (need 4)")
    resources = doc.get("resources", [])
    if resources is None:
        resources = []
    if not isinstance(resources, list):
        raise InvalidInput(source, "'resources' must be a list")
    serial = doc.get("serial", 0)
    state = TfState(source=source, serial=serial if isinstance(serial, int) else 0,
                    lineage=str(doc.get("lineage") or ""), terraform_version=str(doc.get("terraform_version") or ""))
    for n, res in enumerate(resources):
        where = f"resources[{n}]"
        if not isinstance(res, dict):
            raise InvalidInput(source, f"{where} must be an object")
        mode = res.get("mode", "managed")
        if mode == "data":
            continue
        if mode != "managed":
            raise InvalidInput(source, f"{where}: unknown mode {mode!r}")
        rtype, name, module = res.get("type"), res.get("name"), res.get("module") or ""
        if not isinstance(rtype, str) or not rtype or not isinstance(name, str) or not name:
            raise InvalidInput(source, f"{where}: 'type' and 'name' must be non-empty strings")
        if not isinstance(module, str):
            raise InvalidInput(source, f"{where}: 'module' must be a string")
        instances = res.get("instances", [])
        if not isinstance(instances, list):
            raise InvalidInput(source, f"{where} ({rtype}.{name}): 'instances' must be a list")
        for i, inst in enumerate(instances):
            iwhere = f"{where}.instances[{i}] ({rtype}.{name})"
            if not isinstance(inst, dict):
                raise InvalidInput(source, f"{iwhere} must be an object")
            attrs = inst.get("attributes")
            if attrs is None and "attributes_flat" in inst:
                raise InvalidInput(source, f"{iwhere}: flat attributes (schema upgrade pending) are not "
                                           "supported; refresh the state with a current Terraform")
            if not isinstance(attrs, dict):
                raise InvalidInput(source, f"{iwhere}: 'attributes' must be an object")
            key = inst.get("index_key")
            try:
                address = _address(module, rtype, name, key)
            except ValueError as exc:
                raise InvalidInput(source, f"{iwhere}: {exc}") from None
            sensitive = _sensitive_paths(inst.get("sensitive_attributes"), iwhere, source)
            state.resources.append(StateResource(
                address=address, type=rtype, name=name, module=module, index_key=key,
                provider=str(res.get("provider") or ""), attributes=redact(attrs, sensitive),
                sensitive_paths=sensitive, source=source))
    return state


# ---------------------------------------------------------------- get: where the bytes come from


def _read_s3(url: str) -> bytes:
    import boto3

    rest = url[len("s3://"):]
    bucket, _, key = rest.partition("/")
    if not bucket or not key:
        raise InvalidInput(url, "expected s3://bucket/key")
    try:
        body: bytes = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except Exception as exc:  # botocore raises many types; each means "could not read this state"
        raise InvalidInput(url, f"could not read the S3 object: {exc}") from None
    return body


def _read_http(url: str) -> bytes:
    """Terraform's HTTP backend: GET returns the state (basic auth via TF_HTTP_USERNAME/PASSWORD)."""
    import httpx

    user, password = os.environ.get("TF_HTTP_USERNAME"), os.environ.get("TF_HTTP_PASSWORD")
    auth = (user, password) if user and password else None
    try:
        resp = httpx.get(url, auth=auth, timeout=30.0, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise InvalidInput(url, f"could not fetch the state: {exc}") from None
    if resp.status_code == 204 or (resp.status_code == 200 and not resp.content):
        raise InvalidInput(url, "the HTTP backend holds no state (empty response)")
    if resp.status_code != 200:
        raise InvalidInput(url, f"the HTTP backend answered {resp.status_code}")
    return resp.content


def expand(spec: str) -> list[str]:
    """A --state value to concrete sources: URLs as they are, local globs expanded (sorted)."""
    if spec.startswith(("s3://", "http://", "https://")):
        return [spec]
    if any(ch in spec for ch in "*?["):
        matches = sorted(p for p in glob.glob(spec, recursive=True) if os.path.isfile(p))
        if not matches:
            raise InvalidInput(spec, "the pattern matches no file")
        return matches
    return [spec]


def read_source(source: str) -> bytes:
    if source.startswith("s3://"):
        return _read_s3(source)
    if source.startswith(("http://", "https://")):
        return _read_http(source)
    try:
        with open(source, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InvalidInput(source, f"cannot read the state file: {exc.strerror or exc}") from None


def load_states(specs: list[str]) -> tuple[list[TfState], list[InvalidInput]]:
    """Read every state; a bad one is reported in the error list and the rest are still read."""
    states: list[TfState] = []
    errors: list[InvalidInput] = []
    for spec in specs:
        try:
            sources = expand(spec)
        except InvalidInput as exc:
            errors.append(exc)
            continue
        for source in sources:
            try:
                states.append(parse_state(read_source(source), source))
            except InvalidInput as exc:
                errors.append(exc)
    return states, errors
