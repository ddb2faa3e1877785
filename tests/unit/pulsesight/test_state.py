"""The health state machine: for-duration, hysteresis, worst-wins, unknown over healthy, expiry."""

from __future__ import annotations

from airdig.model.events import CloudEvent
from airdig.pulsesight.state import HealthState, Observation


def _obs(value: float | None, **kw: object) -> Observation:
    base: dict[str, object] = {"warning": 80.0, "critical": 95.0, "band_warning": 5.0, "band_critical": 5.0}
    base.update(kw)
    return Observation("n", str(base.pop("signal", "cpu")), "cpu", value, **base)  # type: ignore[arg-type]


def test_for_duration_delays_escalation_only() -> None:
    published: list[CloudEvent] = []
    st = HealthState(publish=published.append)
    st.observe([_obs(50, for_seconds=30)], 0)
    st.observe([_obs(90, for_seconds=30)], 10)
    assert st.get("n")["status"] == "healthy"  # type: ignore[index]
    st.observe([_obs(60, for_seconds=30)], 20)  # dipped: the pending timer restarts
    st.observe([_obs(90, for_seconds=30)], 30)
    st.observe([_obs(90, for_seconds=30)], 55)
    assert st.get("n")["status"] == "healthy"  # type: ignore[index]
    st.observe([_obs(90, for_seconds=30)], 61)
    assert st.get("n")["status"] == "warning"  # type: ignore[index]
    st.observe([_obs(10, for_seconds=30)], 62)  # recovery is immediate
    assert [(e.data["previous"], e.data["status"]) for e in published] == [
        ("unknown", "healthy"), ("healthy", "warning"), ("warning", "healthy")]


def test_hysteresis_prevents_flapping() -> None:
    published: list[CloudEvent] = []
    st = HealthState(publish=published.append)
    for t, v in enumerate([81, 79, 81, 76, 80.5, 75.5, 79.9]):
        st.observe([_obs(v)], t)
    assert [e.data["status"] for e in published] == ["warning"]
    st.observe([_obs(74.9)], 10)
    assert [e.data["status"] for e in published] == ["warning", "healthy"]
    # without a band the same wiggle flaps
    flappy: list[CloudEvent] = []
    st2 = HealthState(publish=flappy.append)
    for t, v in enumerate([81, 79, 81, 79]):
        st2.observe([_obs(v, band_warning=0.0)], t)
    assert len(flappy) == 4


def test_direction_below() -> None:
    st = HealthState()
    st.observe([_obs(0, warning=1.0, critical=0.5, direction="below", band_warning=0.0, band_critical=0.0)], 0)
    node = st.get("n")
    assert node is not None and node["status"] == "critical"
    assert node["reasons"][0]["threshold"] == 0.5


def test_worst_signal_wins_and_unknown_outranks_healthy() -> None:
    st = HealthState()
    st.observe([_obs(99, signal="a"), _obs(85, signal="b")], 0)
    node = st.get("n")
    assert node is not None and node["status"] == "critical"
    assert [r["level"] for r in node["reasons"]] == ["critical", "warning"]
    st.observe([_obs(10, signal="a"), _obs(10, signal="b")], 1)
    st.observe([_obs(None, signal="b", message="prometheus unavailable")], 2)
    node = st.get("n")
    assert node is not None and node["status"] == "unknown"
    assert node["reasons"][0]["message"] == "prometheus unavailable"
    st.observe([_obs(99, signal="a")], 3)
    assert st.get("n")["status"] == "critical"  # type: ignore[index]


def test_fixed_levels_expire_and_clear() -> None:
    st = HealthState()
    st.observe([Observation("n", "alert:x", "alertmanager:x", level="critical", expires=100)], 0)
    assert st.get("n")["status"] == "critical"  # type: ignore[index]
    st.expire(99)
    assert st.get("n")["status"] == "critical"  # type: ignore[index]
    st.expire(100)
    assert st.get("n")["status"] == "healthy"  # type: ignore[index]
    st.observe([Observation("n", "alert:y", "alertmanager:y", level="warning")], 101)
    events = st.clear("n", "alert:y", 102)
    assert [e.data["status"] for e in events] == ["healthy"]
    assert st.counts() == {"healthy": 1, "unknown": 0, "warning": 0, "critical": 0}


def test_an_alert_dates_the_health_transition_from_its_start_not_its_arrival() -> None:
    published: list[CloudEvent] = []
    st = HealthState(publish=published.append)
    st.observe([_obs(50)], 0)
    # Alertmanager delivers at t=100 an alert that started firing at t=40 (its startsAt)
    st.observe([Observation("n", "alert:HighLatency:f1", "alertmanager:HighLatency", level="critical", started=40.0)],
               100)
    assert published[-1].data["status"] == "critical"
    assert published[-1].data["since"] == "1970-01-01T00:00:40.000000Z"
    assert st.get("n")["since"] == "1970-01-01T00:00:40.000000Z"  # type: ignore[index]
    st.observe([_obs(99)], 120)  # a threshold breach adds no transition (already critical)
    st.clear("n", "alert:HighLatency:f1", 130)
    st.observe([_obs(10)], 140)  # recovery is dated when it happened
    assert published[-1].data["status"] == "healthy" and published[-1].data["since"] == "1970-01-01T00:02:20.000000Z"
