"""No Prometheus configured: read Prometheus-format ``/metrics`` endpoints directly.

Answers plain selectors only (``name{label="v"}``) against the current scrape, because there is no
history to compute ``rate()`` over; rules that need more are reported once and skipped. Each sample
carries an ``instance`` label (``host:port`` of the target) like Prometheus adds, so mapping works
the same way, and each target yields an ``up`` series (0 when the scrape failed) as Prometheus does.

    scrape = ScrapeSource(["http://10.0.1.5:9100/metrics"])
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families

from airdig.errors import BackendUnavailable, ConfigError, InvalidInput
from airdig.pulsesight.sources.base import RangeSeries, Sample, parse_selector


def parse_exposition(text: str, instance: str) -> list[Sample]:
    """Prometheus text format → samples, with ``instance`` added unless the target set it."""
    out = []
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                labels = {str(k): str(v) for k, v in s.labels.items()}
                labels.setdefault("instance", instance)
                labels["__name__"] = s.name
                out.append(Sample(labels, float(s.value)))
    except ValueError as exc:
        raise InvalidInput("metrics exposition", f"{instance}: {exc}") from exc
    return out


class ScrapeSource:
    """Scrapes every target at most once per ``max_age`` seconds and evaluates selectors on the result."""

    name = "scrape"

    def __init__(self, targets: list[str], timeout: float = 5.0, max_age: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        for t in targets:
            if urlsplit(t).scheme not in ("http", "https"):
                raise ConfigError("AIRDIG_PULSESIGHT_SCRAPE_TARGETS", f"expected http(s) URLs, got {t!r}")
        self.targets = list(targets)
        self._client = httpx.Client(timeout=timeout, transport=transport)
        self._max_age = max_age
        self._cache: tuple[float, list[Sample]] | None = None
        self._lock = threading.Lock()
        self.failed: dict[str, str] = {}

    def _scrape(self) -> list[Sample]:
        with self._lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < self._max_age:
                return self._cache[1]
            samples: list[Sample] = []
            failed: dict[str, str] = {}
            for url in self.targets:
                instance = urlsplit(url).netloc
                try:
                    resp = self._client.get(url)
                    resp.raise_for_status()
                    samples.extend(parse_exposition(resp.text, instance))
                    up = 1.0
                except (httpx.HTTPError, InvalidInput) as exc:
                    failed[url] = str(exc)
                    up = 0.0
                # like Prometheus: one `up` series per target, so a dead target reads as down, not absent
                samples.append(Sample({"__name__": "up", "instance": instance}, up))
            self.failed = failed
            self._cache = (time.monotonic(), samples)
            return samples

    def instant(self, query: str, at: float, window: float = 0.0) -> list[Sample]:
        sel = parse_selector(query)
        out = []
        for s in self._scrape():
            if s.labels.get("__name__") == sel.name and sel.matches(s.labels):
                out.append(Sample({k: v for k, v in s.labels.items() if k != "__name__"}, s.value))
        return out

    def range(self, query: str, start: float, end: float, step: float) -> list[RangeSeries]:
        raise BackendUnavailable("scrape", "a direct scrape has no history; range queries need a Prometheus")

    def ping(self) -> None:
        self._scrape()
        if self.targets and len(self.failed) == len(self.targets):
            raise BackendUnavailable("scrape", "; ".join(f"{u}: {e}" for u, e in self.failed.items()))

    def close(self) -> None:
        self._client.close()
