"""The HTTP edge every AirDig listener shares (engine, UI, TraceCore's OTLP/HTTP receiver, PulseSight).

One place for what must be the same on every port: the request body limit (refused as it streams
past the limit, never buffered first), Host and Origin checks (DNS rebinding, cross-site pages),
route-template metric labels (no label from a raw path), the probe set (``/healthz`` liveness with
registered checks, ``/readyz`` async, short and cached) and the bearer-token gate.

    app = harden(starlette_app, EdgePolicy.for_bind("127.0.0.1"), counter=metrics.http_requests,
                 auth=AuthGate.options(verify=authenticator.aprincipal))
"""
