"""Kafka bus (confluent-kafka / librdkafka).

Records are keyed by resource id with the Java client's murmur2 partitioner, so AirDig and any Java
consumer agree on partitions. Offsets are committed explicitly, only after the engine has applied the
records (at-least-once; the engine's apply is idempotent).

    bus = KafkaBus("kafka://kafka-0:9092,kafka-1:9092?partitions=12&replication=3")

Any librdkafka property can be given in the URL's query (a name with a dot), e.g. TLS and SASL::

    kafka://b-1.msk:9096?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512
        &sasl.username=airdig&sasl.password_file=/run/secrets/kafka/password&ssl.ca.location=/ca.pem

``<property>_file`` / ``<property>_env`` read a property's value from a file or an environment variable;
``sasl.mechanism=AWS_MSK_IAM`` signs OAUTHBEARER tokens with the AWS credential chain (needs the
``aws-msk-iam-sasl-signer-python`` package).
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from confluent_kafka import Consumer as _KConsumer
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from airdig.backends.interfaces import Committed, RebalanceListener, Record
from airdig.backends.options import UrlOptions
from airdig.errors import BackendUnavailable, ConfigError
from airdig.logs import get_logger
from airdig.model.events import TOPICS
from airdig.model.redact import redact_text

log = get_logger("bus.kafka")

SETTING = "AIRDIG_BUS_URL"
_RETRY_NOTE = re.compile(r" \(after \d+ms in state \w+\)")
_OWN_OPTIONS = {"partitions", "replication", "prefix", "region"}
_SECRET_PROPS = ("password", "secret", "key.pem", "token")


def client_properties(opts: UrlOptions) -> dict[str, Any]:
    """The librdkafka properties in a bus URL's query, secrets resolved from ``_file``/``_env``."""
    props: dict[str, Any] = {}
    for key in opts.values:
        if key in _OWN_OPTIONS:
            continue
        name = key.removesuffix("_file").removesuffix("_env")
        if "." not in name:
            raise ConfigError(SETTING, f"unknown option {key!r}: AirDig's own are partitions, replication, "
                                       "prefix, region; librdkafka properties have a dot (security.protocol)")
        props[name] = opts.secret(name)
    if str(props.get("sasl.mechanism", "")).upper() == "AWS_MSK_IAM":
        props["sasl.mechanism"] = "OAUTHBEARER"
        props["oauth_cb"] = msk_iam_token_provider(opts.get("region") or "")
    return props


def msk_iam_token_provider(region: str) -> Any:
    """An ``oauth_cb`` that signs MSK IAM tokens with the AWS credential chain (refreshed by librdkafka)."""
    try:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(SETTING, "sasl.mechanism=AWS_MSK_IAM needs the aws-msk-iam-sasl-signer-python "
                                   "package (pip install 'airdig[msk]')") from None
    if not region:
        raise ConfigError(SETTING, "sasl.mechanism=AWS_MSK_IAM needs region=<the cluster's AWS region>")

    def oauth_cb(_config: Any) -> tuple[str, float]:
        token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        return token, expiry_ms / 1000.0

    return oauth_cb


class _LastError:
    """librdkafka reports TLS and SASL failures (certificate not trusted, authentication failed) only in its
    log and ``error_cb`` while the call itself fails with "transport failure"; keep the latest so the error
    the caller sees says why. Also the client's logger: its lines go to AirDig's log, not raw to stderr.
    Both are served by ``poll``, so :meth:`explain` takes the client to poll. Texts are redacted."""

    def __init__(self) -> None:
        self.text = ""

    def __call__(self, err: Any) -> None:  # error_cb
        if self.text and hasattr(err, "code") and err.code() == KafkaError._ALL_BROKERS_DOWN:
            return  # the consequence, not the reason: keep the TLS/SASL failure that caused it
        self._keep(err.str() if hasattr(err, "str") else str(err))

    def log(self, level: int, fmt: str, *args: Any) -> None:  # logger (logging.Logger's signature)
        text = fmt % args if args else fmt
        if level >= 30:  # warning and above: connection failures
            self._keep(text)
        else:
            log.debug("kafka client", message=redact_text(text))

    def _keep(self, text: str) -> None:
        # librdkafka's log prefix "[thrd:...]: host/bootstrap: " adds nothing for the reader
        text = redact_text(text.rsplit("/bootstrap: ", 1)[-1])
        # the client retries every few ms: log a reason once, not each "(after 4ms in state ...)" retry
        if _RETRY_NOTE.sub("", text) != _RETRY_NOTE.sub("", self.text):
            log.warning("kafka client error", error=text)
        self.text = text

    def explain(self, exc: BaseException, client: Any = None) -> str:
        if client is not None:
            with contextlib.suppress(KafkaException, RuntimeError):
                client.poll(0)
        text = redact_text(str(exc.args[0].str() if exc.args and hasattr(exc.args[0], "str") else exc))
        return f"{text} (last client error: {self.text})" if self.text and self.text not in text else text


class KafkaBus:
    """``kafka://host:9092[,host:9092]?partitions=6&replication=1&prefix=``.

    ``prefix`` is put before every topic name, so several estates (or test runs) share one cluster.
    """

    def __init__(self, url: str, client_id: str = "airdig", **_: Any) -> None:
        parts = urlsplit(url)
        if parts.scheme != "kafka" or not parts.netloc:
            raise ConfigError("AIRDIG_BUS_URL", f"expected kafka://host:port[,host:port], got {url!r}")
        opts = UrlOptions(SETTING, parts.query)
        try:
            self.partitions = int(opts.get("partitions") or "6")
            self.replication = int(opts.get("replication") or "1")
        except ValueError as exc:
            raise ConfigError(SETTING, f"bad option in {redact_text(url)!r}: {exc}") from None
        self.url = url
        self.prefix = opts.get("prefix") or ""
        self.bootstrap = parts.netloc
        self.properties = client_properties(opts)
        self.last_error = _LastError()
        self.client_id = client_id
        self._producer: Any = None
        self._lock = threading.Lock()
        self._errors: list[str] = []
        self._topics_ready = False

    def _base(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.bootstrap, "client.id": self.client_id, **self.properties,
                "error_cb": self.last_error, "logger": self.last_error}

    def _client(self, factory: Any, conf: dict[str, Any]) -> Any:
        """A librdkafka client; a misspelt or invalid property is a configuration error, not a crash."""
        try:
            return factory(conf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise ConfigError(SETTING, f"kafka client configuration rejected: {redact_text(str(exc))}") from None

    def ensure_topics(self, topics: Sequence[str] | None = None) -> None:
        """Create AirDig's topics with the configured partitions (existing ones are left alone)."""
        if self._topics_ready:
            return
        admin = self._client(AdminClient, self._base())
        wanted = [self.prefix + t for t in (topics or TOPICS)]
        try:
            existing = set(admin.list_topics(timeout=10).topics)
        except KafkaException as exc:
            raise BackendUnavailable("kafka", f"cannot reach {self.bootstrap}: {self.last_error.explain(exc, admin)}") \
                from None
        new = [NewTopic(t, num_partitions=self.partitions, replication_factor=self.replication)
               for t in wanted if t not in existing]
        if new:
            for topic, fut in admin.create_topics(new, operation_timeout=15).items():
                try:
                    fut.result()
                    log.info("topic created", topic=topic, partitions=self.partitions)
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise BackendUnavailable("kafka", f"cannot create topic {topic}: {exc}") from exc
        self._topics_ready = True

    def _get_producer(self) -> Any:
        with self._lock:
            if self._producer is None:
                self.ensure_topics()
                self._producer = self._client(Producer, {
                    **self._base(), "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                    "compression.type": "lz4", "partitioner": "murmur2_random",
                    "queue.buffering.max.messages": 200000,
                })
            return self._producer

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is not None:
            self._errors.append(f"{msg.topic()}: {err}")

    def publish(self, topic: str, key: str, value: bytes) -> None:
        p = self._get_producer()
        while True:
            try:
                p.produce(self.prefix + topic, value=value, key=key.encode(), on_delivery=self._delivered)
                break
            except BufferError:
                p.poll(0.1)  # local queue full: serve delivery reports, then retry
        p.poll(0)

    def flush(self, timeout: float = 10.0) -> None:
        if self._producer is None:
            return
        left = self._producer.flush(timeout)
        if left:
            raise BackendUnavailable("kafka", f"{left} record(s) not delivered within {timeout}s")
        if self._errors:
            errors, self._errors = self._errors, []
            raise BackendUnavailable("kafka", f"{len(errors)} record(s) failed: {errors[0]}")

    def consumer(self, group: str, topics: Sequence[str], member_id: str | None = None,
                 listener: RebalanceListener | None = None) -> KafkaConsumer:
        self.ensure_topics()
        return KafkaConsumer(self, group, list(topics), member_id, listener)

    def ping(self) -> None:
        admin = self._client(AdminClient, self._base())
        try:
            admin.list_topics(timeout=5)
        except KafkaException as exc:
            raise BackendUnavailable("kafka", f"cannot reach {self.bootstrap}: {self.last_error.explain(exc, admin)}") \
                from None

    def end_offsets(self, topic: str) -> dict[int, int]:
        c = self._client(_KConsumer, {**self._base(), "group.id": "airdig-probe", "enable.auto.commit": False})
        try:
            name = self.prefix + topic
            meta = c.list_topics(name, timeout=10).topics[name]
            return {p: c.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in meta.partitions}
        finally:
            c.close()

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None


class KafkaConsumer:
    """A consumer-group member; commits are synchronous and explicit."""

    def __init__(self, bus: KafkaBus, group: str, topics: list[str], member_id: str | None,
                 listener: RebalanceListener | None = None) -> None:
        conf: dict[str, Any] = {
            **bus._base(), "group.id": group, "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 10000, "heartbeat.interval.ms": 1000,
            "partition.assignment.strategy": "roundrobin", "max.poll.interval.ms": 300000,
        }
        if member_id:
            conf["client.id"] = f"{bus.client_id}-{member_id}"
        self._c = bus._client(_KConsumer, conf)
        self._prefix = bus.prefix
        self.group = group
        self._closed = False
        self._listener = listener
        self._bus = bus
        self._member = member_id or uuid.uuid4().hex[:12]
        self._txp: Any = None  # the transactional producer of publish_and_commit, made on first use
        if listener is None:
            self._c.subscribe([bus.prefix + t for t in topics])
        else:
            # librdkafka calls these from inside consume() and close(), on the polling thread
            self._c.subscribe([bus.prefix + t for t in topics], on_assign=self._on_assign,
                              on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _names(self, partitions: list[Any]) -> list[tuple[str, int]]:
        return [(str(tp.topic)[len(self._prefix):], int(tp.partition)) for tp in partitions]

    def _on_assign(self, _c: Any, partitions: list[Any]) -> None:
        if self._listener is not None and partitions:
            self._listener.assigned(self, self._names(partitions))

    def _on_revoke(self, _c: Any, partitions: list[Any]) -> None:
        if self._listener is not None and partitions:
            self._listener.revoked(self, self._names(partitions))

    def _on_lost(self, _c: Any, partitions: list[Any]) -> None:
        if self._listener is not None and partitions:
            self._listener.lost(self, self._names(partitions))

    def poll(self, max_records: int = 500, timeout: float = 1.0) -> list[Record]:
        try:
            msgs = self._c.consume(num_messages=max_records, timeout=timeout)
        except KafkaException as exc:
            raise BackendUnavailable("kafka", f"consume failed: {exc}") from exc
        out: list[Record] = []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    continue
                if err.fatal():
                    raise BackendUnavailable("kafka", f"fatal consumer error: {err}")
                log.warning("consumer error", error=str(err))
                continue
            ts = m.timestamp()[1]
            out.append(Record(topic=str(m.topic())[len(self._prefix):], partition=int(m.partition() or 0), offset=int(m.offset() or 0),
                              key=(m.key() or b"").decode(errors="replace"), value=m.value() or b"",
                              timestamp=ts / 1000.0 if ts and ts > 0 else time.time()))
        return out

    def commit(self, records: Sequence[Record]) -> None:
        top: dict[tuple[str, int], int] = {}
        for r in records:
            tp = (r.topic, r.partition)
            top[tp] = max(top.get(tp, -1), r.offset)
        if not top:
            return
        offsets = [TopicPartition(self._prefix + t, p, o + 1) for (t, p), o in top.items()]
        try:
            self._c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # A partition moved to another member during a rebalance: that member re-reads from the last
            # commit and the engine's idempotent apply drops the duplicates, so nothing is lost.
            log.warning("offset commit rejected", error=str(exc), partitions=len(offsets))

    def commit_positions(self, positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        offsets = [TopicPartition(self._prefix + t, p, pos, metadata=meta)
                   for (t, p), (pos, meta) in positions.items() if pos >= 0]
        if not offsets:
            return
        try:
            self._c.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            # as in commit(): the next commit carries the whole state again, a new owner replays from the last
            log.warning("offset commit rejected", error=str(exc), partitions=len(offsets))

    def _transactional(self) -> Any:
        if self._txp is None:
            bus = self._bus
            # a member's open transaction holds read_committed readers of its partitions back until it
            # ends: a member killed mid-transaction is aborted by the broker after transaction.timeout.ms
            p = bus._client(Producer, {
                **bus._base(), "transactional.id": f"airdig-{self.group}-{self._member}", "acks": "all",
                "enable.idempotence": True, "transaction.timeout.ms": 10000, "linger.ms": 5,
                "compression.type": "lz4", "partitioner": "murmur2_random"})
            try:
                p.init_transactions(30)
            except KafkaException as exc:
                raise BackendUnavailable("kafka", f"cannot start a transaction: {exc}") from exc
            self._txp = p
        return self._txp

    def publish_and_commit(self, messages: Sequence[tuple[str, str, bytes]],
                           positions: Mapping[tuple[str, int], tuple[int, str]]) -> None:
        """One Kafka transaction: the messages, and the offsets through ``send_offsets_to_transaction``
        with this member's group metadata, so a member the group has moved on from is fenced."""
        p = self._transactional()
        offsets = [TopicPartition(self._prefix + t, part, pos, metadata=meta)
                   for (t, part), (pos, meta) in positions.items() if pos >= 0]
        try:
            p.begin_transaction()
            for topic, key, value in messages:
                while True:
                    try:
                        p.produce(self._prefix + topic, value=value, key=key.encode())
                        break
                    except BufferError:
                        p.poll(0.1)
            if offsets:
                p.send_offsets_to_transaction(offsets, self._c.consumer_group_metadata(), 30)
            p.commit_transaction(30)
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if err is not None and hasattr(err, "fatal") and err.fatal():
                self._txp = None  # fenced or broken: a fresh producer next time
            else:
                with contextlib.suppress(KafkaException):
                    p.abort_transaction(30)
            raise BackendUnavailable("kafka", f"transaction aborted, nothing published or committed: {exc}") \
                from exc

    def committed(self, partitions: Sequence[tuple[str, int]]) -> dict[tuple[str, int], Committed]:
        if not partitions:
            return {}
        try:
            got = self._c.committed([TopicPartition(self._prefix + t, p) for t, p in partitions], timeout=10)
        except KafkaException as exc:
            raise BackendUnavailable("kafka", f"committed offsets lookup failed: {exc}") from exc
        return {(str(tp.topic)[len(self._prefix):], int(tp.partition)):
                Committed(int(tp.offset) if tp.offset >= 0 else -1, tp.metadata or "") for tp in got}

    def assignment(self) -> list[tuple[str, int]]:
        return [(tp.topic[len(self._prefix):], tp.partition) for tp in self._c.assignment()]

    def lag(self) -> dict[tuple[str, int], int]:
        assigned = self._c.assignment()
        if not assigned:
            return {}
        out: dict[tuple[str, int], int] = {}
        try:
            committed = self._c.committed(assigned, timeout=5)
            for tp in committed:
                # the watermarks the fetcher already holds: a fresh query costs a broker round trip
                # (about half a second) per partition, which would stall the apply loop
                low, high = self._c.get_watermark_offsets(tp, cached=True)
                if high < 0:  # not fetched yet
                    continue
                pos = tp.offset if tp.offset >= 0 else low
                out[(tp.topic[len(self._prefix):], tp.partition)] = max(0, high - pos)
        except KafkaException as exc:
            log.warning("lag lookup failed", error=str(exc))
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._c.close()
            if self._txp is not None:
                self._txp.flush(5)
                self._txp = None
