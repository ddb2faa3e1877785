"""Where signals come from: PromQL (Prometheus/Mimir), LogQL (Loki), direct scrapes, TraceCore stats."""
