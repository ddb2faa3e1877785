"""Hot reads served from the cache (Redis at scale, shared by every replica), invalidated by the apply path.

Invalidation is by generation: every applied batch bumps the ``graph`` generation (see
``EventProcessor._fan_out``), and cache keys carry the generation they were read at, so a read after a
write can never see the older state, on any replica. Entries also expire after ``ttl`` seconds.

    node = ReadCache(cache, store).node(node_id)
"""

from __future__ import annotations

from dataclasses import asdict

import orjson

from airdig.backends.interfaces import Cache, NodeRow, Store

GRAPH_GENERATION = "graph"


class ReadCache:
    def __init__(self, cache: Cache, store: Store, ttl: float = 30.0) -> None:
        self.cache = cache
        self.store = store
        self.ttl = ttl
        self.hits = 0
        self.misses = 0

    def node(self, node_id: str) -> NodeRow | None:
        gen = self.cache.generation(GRAPH_GENERATION)
        if gen < 0:  # the cache cannot say which generation is current: read through
            return self.store.get_node(node_id)
        key = f"node:{gen}:{node_id}"
        raw = self.cache.get(key)
        if raw is not None:
            self.hits += 1
            if raw == b"null":
                return None
            return NodeRow(**orjson.loads(raw))
        self.misses += 1
        row = self.store.get_node(node_id)
        self.cache.set(key, orjson.dumps(asdict(row)) if row is not None else b"null", self.ttl)
        return row
