"""What an aggregator may commit, and what a replay must not count twice.

The aggregator holds effects of records in memory: span halves waiting for their other half, calls in
event-time windows not yet published, services seen since the last publication. A record is *done* only
once every effect of it is on the bus, so a partition's offset is committed only up to its lowest
record that is not done (:meth:`OffsetLedger.position`); whoever owns the partition next (after a kill,
a restart or a rebalance) replays from there and rebuilds what was held.

The replay also reads records whose calls were published already (their windows closed while an
earlier record still held the commit back). Those must not be counted again. The aggregator reads a
partition in offset order, so what it has published of a window ``W`` from partition ``p`` is exactly
described by two bounds taken when ``W`` (or its latest part) was published:

* ``paired``: the last offset read from ``p`` + 1. A call completed by pairing is counted when its
  second half is read, so every paired call of ``W`` whose completing record (the later of its two
  halves) lies below ``paired`` was published;
* ``virtual``: the lowest offset of a client half of ``p`` still waiting then (``paired`` if none). A
  client half below it was resolved: paired, or expired into a call to a virtual node (published with
  ``W``), or expired unpaired (counted nowhere, and must not be counted by a replay either).

So a call of ``W`` rebuilt by a replay was published already iff its completing offset < ``paired`` or
its client half's offset < ``virtual`` (:meth:`published`). The bounds of the windows a replay could
meet (any bound above the committed position) travel as the commit's metadata, so the next owner,
whoever it is, knows them (:meth:`metadata`, :meth:`load`).

A publication and the commit of what it frees are one step (``Consumer.publish_and_commit``: a Kafka
transaction, or one SQLite transaction on the embedded bus), so a kill leaves both or neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from airdig.logs import get_logger

log = get_logger("tracecore.offsets")
MAX_METADATA = 4000  # Kafka's offset.metadata.max.bytes defaults to 4096


@dataclass
class _Partition:
    consumed: int = -1  # last offset read
    unannounced: int | None = None  # first offset read since the last publication (services not yet out)
    bounds: dict[float, tuple[int, int]] = field(default_factory=dict)  # window start -> (paired, virtual)


class OffsetLedger:
    """Per partition of one topic: offsets read, publication bounds per window, the commit position."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self._parts: dict[int, _Partition] = {}

    def partitions(self) -> list[int]:
        return sorted(self._parts)

    def read(self, partition: int, offset: int, effect: bool = True) -> None:
        """A record was read (in offset order within its partition); ``effect``: it carried spans (a
        record of another type, or a malformed one, holds nothing back)."""
        st = self._parts.setdefault(partition, _Partition())
        st.consumed = max(st.consumed, offset)
        if effect and st.unannounced is None:
            st.unannounced = offset

    def has_bounds(self, partition: int) -> bool:
        """Whether any publication bounds are known for ``partition`` (else :meth:`published` is False)."""
        st = self._parts.get(partition)
        return st is not None and bool(st.bounds)

    def published(self, partition: int, window_start: float, client_offset: int, completing_offset: int,
                  virtual: bool) -> bool:
        """Whether a call rebuilt from these offsets was published already (see the module docstring)."""
        st = self._parts.get(partition)
        b = st.bounds.get(window_start) if st is not None else None
        if b is None:
            return False
        paired, virt = b
        if virtual:
            return client_offset < virt
        return completing_offset < paired or client_offset < virt

    def mark_published(self, windows: list[float], waiting_clients: dict[int, int]) -> None:
        """Windows were published (their calls, and every service seen): record their bounds.
        ``waiting_clients``: per partition, the lowest offset of a client half still waiting."""
        for p, st in self._parts.items():
            st.unannounced = None
            if st.consumed < 0:
                continue
            paired = st.consumed + 1
            virt = min(waiting_clients.get(p, paired), paired)
            for w in windows:
                old = st.bounds.get(w)
                st.bounds[w] = (paired, virt) if old is None else (max(old[0], paired), max(old[1], virt))

    def position(self, partition: int, holding: int | None) -> int:
        """Where a commit of ``partition`` may go: below ``holding`` (the lowest offset whose effect is
        still in memory), below the first record read since the last publication, else past the last read.
        -1 if nothing was read."""
        st = self._parts.get(partition)
        if st is None or st.consumed < 0:
            return -1
        pos = st.consumed + 1
        if holding is not None:
            pos = min(pos, holding)
        if st.unannounced is not None:
            pos = min(pos, st.unannounced)
        return pos

    def metadata(self, partition: int, position: int) -> str:
        """The bounds a replay from ``position`` can meet (older ones are forgotten here too)."""
        st = self._parts.get(partition)
        if st is None:
            return ""
        for w in [w for w, (paired, virt) in st.bounds.items() if paired <= position and virt <= position]:
            del st.bounds[w]
        entries = sorted(([w, paired, virt] for w, (paired, virt) in st.bounds.items()), reverse=True)
        while True:
            text = json.dumps({"v": 1, "s": self.window_seconds, "w": entries}, separators=(",", ":"))
            if len(text) <= MAX_METADATA or not entries:
                return text if entries else ""
            dropped = entries.pop()  # the oldest window: a replay of it could count it twice
            log.warning("publication bounds beyond the metadata limit dropped", partition=partition,
                        window_start=dropped[0])

    def load(self, partition: int, metadata: str) -> None:
        """A partition was assigned: start from the bounds its last owner committed."""
        st = self._parts[partition] = _Partition()
        if not metadata:
            return
        try:
            doc = json.loads(metadata)
            if doc.get("v") != 1:
                raise ValueError(f"version {doc.get('v')!r}")
            if float(doc["s"]) != self.window_seconds:
                log.warning("committed bounds are for another window length, ignored (a replay may count "
                            "some calls twice)", partition=partition, committed=doc["s"], ours=self.window_seconds)
                return
            st.bounds = {float(w): (int(p), int(v)) for w, p, v in doc["w"]}
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("committed metadata unreadable, ignored", partition=partition, error=str(exc))

    def forget(self, partition: int) -> None:
        self._parts.pop(partition, None)
