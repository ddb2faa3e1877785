"""The incident plan: which family, which decoys, and when everything happens — seeded, so two runs
with the same seed build the same incidents, and nothing here ever reaches the engine.

Times are offsets (seconds) from the incident's onset; :func:`plan` places each incident in its own
slot in the recent past (event time), so incidents never share a root-cause window.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

FAMILIES = ("db_resize", "sg_revoked", "sg_opened", "iam_detached", "image_deploy", "env_change",
            "asg_scaled_down", "lambda_config", "target_deregistered", "kms_disabled", "route_changed")
DECOYS = ("tag_edit", "unmanaged_created", "other_vpc_change", "after_onset_change", "scale_event",
          "first_scan")
SLOT = 45 * 60.0  # seconds of event time per incident: a 30-minute window plus margins
NEWEST = 20 * 60.0  # the newest incident's onset this long before the run starts


@dataclass
class Decoy:
    kind: str
    at: float  # offset from the onset, seconds (negative: before it)
    variant: int  # which resource/attribute the decoy touches (the generator's choice)


@dataclass
class Incident:
    index: int
    family: str
    onset: float  # epoch seconds (event time)
    truth_offset: float  # the cause, seconds before the onset (positive)
    alert_after: float  # Alertmanager's startsAt, seconds after the onset
    decoys: list[Decoy]
    suffix: str  # random name part, so names differ between incidents and seeds
    degrade: str  # "latency" or "errors"
    ids: dict[str, str] = field(default_factory=dict)  # filled by the feed: native ids and node ids

    @property
    def ns(self) -> str:
        return f"i{self.index:03d}"

    @property
    def truth_at(self) -> float:
        return self.onset - self.truth_offset

    @property
    def alert_at(self) -> float:
        return self.onset + self.alert_after


LIVE_SCALE = 1 / 3  # the live layout's distances, relative to the replay's (it waits for them in real time)
LIVE_LEAD = 1500 * LIVE_SCALE + 30  # seconds from the live run's start to the onsets


def plan(n: int, seed: int, start: float, families: tuple[str, ...] = FAMILIES, live: bool = False
         ) -> list[Incident]:
    """``n`` incidents, the families in turn (so any ``n`` ≥ len(families) covers them all), each with
    five or six of the six decoy kinds at random distances.

    Replay (default): each incident in its own slot in the past, the newest onset ``NEWEST`` before
    ``start``. Live: every incident happens from ``start`` on, in real time, at the same moment (they
    share no graph neighbourhood), with every distance scaled by ``LIVE_SCALE``."""
    rng = random.Random(seed)
    # where in its minute each replayed onset falls is the seed's choice, not the clock's: per-minute
    # statistics place an onset to its minute, so the phase changes what can be told apart, and a run
    # must give the same answer whenever it is started (a stream of its own keeps the plan's draws)
    phase = random.Random(f"{seed}:phase")
    minute = start - start % 60
    scale = LIVE_SCALE if live else 1.0
    out = []
    for i in range(n):
        family = families[i % len(families)]
        onset = start + LIVE_LEAD + i % 10 if live else minute - NEWEST - i * SLOT + phase.uniform(0, 60)
        kinds = list(DECOYS)
        rng.shuffle(kinds)
        kinds = kinds[:rng.choice((5, 6))]
        decoys = []
        alert_after = rng.uniform(90, 300)
        for k in kinds:
            if k == "after_onset_change":
                at = rng.uniform(20, alert_after - 15)
            elif k == "first_scan":
                at = rng.uniform(-600, -30)
            else:
                at = -rng.uniform(20, 1500)
            decoys.append(Decoy(k, round(at * scale, 1), rng.randrange(3)))
        out.append(Incident(index=i, family=family, onset=float(int(onset)),
                            truth_offset=round(rng.uniform(60, 900) * scale, 1),
                            alert_after=round(alert_after * scale, 1),
                            decoys=decoys, suffix=f"{rng.getrandbits(24):06x}",
                            degrade=rng.choice(("latency", "errors"))))
    return out
