"""The previous graph, one JSON file per scope in the data dir, and the per-scope scan locks.

SkyGraph never reads the engine's store: what it last saw of each scope is kept here, so the diff of
the next scan needs nothing else. Files are replaced atomically; a scope's file is only rewritten
after a successful read of that scope (and after its events were published).

    state = GraphState(settings.data_dir)
    with state.lock("ec2/us-east-1"):
        prev = state.load("ec2/us-east-1")
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from pathlib import Path
from types import TracebackType
from typing import IO

import orjson

from airdig.errors import AirDigError, InvalidInput
from airdig.model.graph import Edge, Node
from airdig.skygraph.graph import ScopeGraph


class ScopeBusy(AirDigError):
    """Another scan holds the lock of this scope."""

    code = "CONFLICT"

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__(f"scope {scope} is being scanned by another process")


def _slug(scope: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", scope)[:60]
    return f"{safe}-{hashlib.sha256(scope.encode()).hexdigest()[:12]}"


class ScopeLock:
    """An exclusive, non-blocking ``flock`` on the scope's lock file, released on exit (or process death)."""

    def __init__(self, path: Path, scope: str) -> None:
        self.path = path
        self.scope = scope
        self._fh: IO[str] | None = None

    def __enter__(self) -> ScopeLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # held open for the lock's lifetime
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise ScopeBusy(self.scope) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()} {self.scope}\n")
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class GraphState:
    def __init__(self, data_dir: Path | str) -> None:
        self.root = Path(data_dir) / "skygraph"
        self.state_dir = self.root / "state"
        self.lock_dir = self.root / "locks"

    def lock(self, scope: str) -> ScopeLock:
        return ScopeLock(self.lock_dir / f"{_slug(scope)}.lock", scope)

    def _path(self, scope: str) -> Path:
        return self.state_dir / f"{_slug(scope)}.json"

    def load(self, scope: str) -> ScopeGraph | None:
        path = self._path(scope)
        if not path.exists():
            return None
        return _decode(path.read_bytes(), str(path))[1]

    def load_all(self) -> dict[str, ScopeGraph]:
        out: dict[str, ScopeGraph] = {}
        if not self.state_dir.is_dir():
            return out
        for path in sorted(self.state_dir.glob("*.json")):
            scope, sg = _decode(path.read_bytes(), str(path))
            out[scope] = sg
        return out

    def save(self, scope: str, sg: ScopeGraph) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        path = self._path(scope)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        saved_at = time.time()
        body = {"scope": scope, "saved_at": saved_at,
                "observed_at": sg.observed_at if sg.observed_at is not None else saved_at,
                "nodes": [n.to_dict() for n in sg.nodes.values()],
                "edges": [e.to_dict() for e in sg.edges.values()]}
        tmp.write_bytes(orjson.dumps(body))
        os.replace(tmp, path)


def _decode(raw: bytes, source: str) -> tuple[str, ScopeGraph]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(source, f"saved graph is not JSON ({exc}); delete the file to rescan from scratch") from None
    if not isinstance(body, dict) or not isinstance(body.get("scope"), str):
        raise InvalidInput(source, "saved graph lacks its scope; delete the file to rescan from scratch")
    seen = body.get("observed_at", body.get("saved_at"))  # files written before observed_at: saved_at
    sg = ScopeGraph(observed_at=float(seen) if isinstance(seen, int | float) else None)
    for i, d in enumerate(body.get("nodes") or []):
        n = Node.from_dict(d, f"{source}: nodes[{i}]")
        sg.nodes[n.id] = n
    for i, d in enumerate(body.get("edges") or []):
        e = Edge.from_dict(d, f"{source}: edges[{i}]")
        sg.edges[e.key] = e
    return body["scope"], sg
