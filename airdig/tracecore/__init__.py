"""TraceCore: OTLP ingest, the service map, and the link from services to infrastructure.

Receivers (:mod:`.receiver_grpc`, :mod:`.receiver_http`) decode OTLP into compact span summaries
(:mod:`.decode`, :mod:`.otlp_json`), route them over the bus keyed by trace id, and aggregators
(:mod:`.aggregator`) pair them (:mod:`.pairing`) into per-edge statistics (:mod:`.servicemap`) that are
published to ``airdig.traces`` once per window. :func:`.serve.start_tracecore` wires it all.
"""
