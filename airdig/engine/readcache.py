"""Hot reads served from the cache (Redis at scale, shared by every replica), invalidated by the apply path.

Invalidation is by generation: every applied batch bumps the ``graph`` generation (see
``EventProcessor._fan_out``), and cache keys carry the generation they were read at, so a read after a
write can never see the older state, on any replica. Entries also expire after ``ttl`` seconds.

    node = ReadCache(cache, store).node(node_id)
    node = ReadCache(cache, store).peek(node_id)   # on the event loop: a hit of an in-process cache, or None

``peek`` is the event loop's fast path: with the in-process cache (``memory://``) a hit costs no I/O,
so ``resource(id)`` answers it without the hop to a worker thread; anything else (a miss, a cached
"no such node", Redis) goes the thread way through :meth:`ReadCache.node`.
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
        # an in-process cache answers without I/O: its hits may be read on the event loop
        self.local = bool(getattr(cache, "in_process", False))

    def peek(self, node_id: str) -> NodeRow | None:
        """The cached node when the cache is in-process and holds it at the current generation; None
        otherwise (then call :meth:`node` off the loop). Never touches the store."""
        if not self.local:
            return None
        gen = self.cache.generation(GRAPH_GENERATION)
        if gen < 0:
            return None
        raw = self.cache.get(f"node:{gen}:{node_id}")
        if raw is None or raw == b"null":
            return None
        self.hits += 1
        return NodeRow(**orjson.loads(raw))

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
