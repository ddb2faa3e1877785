# syntax=docker/dockerfile:1
# One image for every AirDig role: the command picks the role.
#
#   docker build -t airdig:0.1.0 .
#   docker run --rm airdig:0.1.0 engine --host 0.0.0.0      # or: ui, skygraph scan, deepdrift watch,
#                                                             #     tracecore serve, pulsesight serve, db migrate
#
# No HEALTHCHECK on purpose: Kubernetes probes (/healthz, /readyz) and Compose healthchecks own that,
# per role, because the roles listen on different ports (and two roles listen on none).
# For a reproducible build pin the base by digest:
#   --build-arg PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:<digest>

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
ARG RUST_IMAGE=rust:1.95.0-slim-bookworm

# ---------------------------------------------------------------- native: TraceCore's compiled decoder
# Rust + PyO3, abi3 (any CPython >= 3.11), built without a Python in this stage (PYO3_NO_PYTHON).
FROM ${RUST_IMAGE} AS native
WORKDIR /src/native/tracecore
COPY native/tracecore/Cargo.toml native/tracecore/Cargo.lock ./
COPY native/tracecore/src ./src
ENV PYO3_NO_PYTHON=1 \
    CARGO_TARGET_DIR=/build
RUN cargo build --release --locked \
    && cp /build/release/libairdig_tracecore_native.so /airdig_tracecore_native.abi3.so

# ---------------------------------------------------------------- build: a venv with airdig in it
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/airdig
WORKDIR /src
# sources only (see .dockerignore); README* may be absent, pyproject.toml makes the COPY non-empty
COPY pyproject.toml README* ./
COPY airdig ./airdig
RUN /opt/airdig/bin/pip install . \
    && /opt/airdig/bin/airdig --version
COPY --from=native /airdig_tracecore_native.abi3.so /opt/airdig/lib/python3.11/site-packages/
# AIRDIG_TRACECORE_NATIVE=on: fail here if the compiled decoder does not load
RUN AIRDIG_TRACECORE_NATIVE=on /opt/airdig/bin/python -c \
    "from airdig.tracecore import native; assert native.active_path() == 'native'"

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="airdig" \
      org.opencontainers.image.description="AirDig: cloud observability and drift intelligence (engine, ui, skygraph, deepdrift, tracecore, pulsesight in one image)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# a fixed numeric uid/gid so Kubernetes runAsNonRoot can verify it without resolving names
RUN groupadd --system --gid 10001 airdig \
    && useradd --system --uid 10001 --gid 10001 --home-dir /home/airdig --create-home \
       --shell /usr/sbin/nologin airdig \
    && install -d -o 10001 -g 10001 -m 0750 /data

COPY --from=build /opt/airdig /opt/airdig

ENV PATH=/opt/airdig/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRDIG_DATA_DIR=/data \
    AIRDIG_LOG_FORMAT=json

# engine, ui, OTLP gRPC, OTLP HTTP, pulsesight
EXPOSE 8080 3000 4317 4318 8081
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

ENTRYPOINT ["airdig"]
CMD ["--help"]
