"""Change intervals and their overlap with the window before the onset."""

from __future__ import annotations

import math

import pytest

from airdig.backends.interfaces import ChangeRow
from airdig.engine.intel.changetime import TAU, ChangeTime, interval, of, proximity, share_before

ONSET = 10_000.0


def test_a_point_scores_by_its_lag_and_zero_after_the_onset_or_before_the_window() -> None:
    assert proximity(ChangeTime(ONSET, ONSET, "cloudtrail"), ONSET, 1800) == 1.0
    assert proximity(ChangeTime(ONSET - TAU, ONSET - TAU, "cloudtrail"), ONSET, 1800) == pytest.approx(0.5)
    assert proximity(ChangeTime(ONSET + 1, ONSET + 1, "cloudtrail"), ONSET, 1800) == 0.0
    assert proximity(ChangeTime(ONSET - 1801, ONSET - 1801, "cloudtrail"), ONSET, 1800) == 0.0


def test_an_interval_scores_the_mean_over_it() -> None:
    ct = ChangeTime(ONSET - 600, ONSET, "scan")
    expected = TAU * (math.log(TAU + 600) - math.log(TAU)) / 600
    assert proximity(ct, ONSET, 1800) == pytest.approx(expected)
    # a wider interval ending at the same moment is less sure to be close, so it scores less
    assert proximity(ChangeTime(ONSET - 1200, ONSET, "scan"), ONSET, 1800) < expected


def test_the_share_after_the_onset_or_before_the_window_counts_nothing() -> None:
    inside = proximity(ChangeTime(ONSET - 600, ONSET, "scan"), ONSET, 1800)
    straddling = proximity(ChangeTime(ONSET - 600, ONSET + 600, "scan"), ONSET, 1800)
    assert straddling == pytest.approx(inside / 2)
    early = proximity(ChangeTime(ONSET - 2400, ONSET - 1200, "scan"), ONSET, 1800)
    clipped = TAU * (math.log(TAU + 1800) - math.log(TAU + 1200)) / 1200
    assert early == pytest.approx(clipped)
    assert proximity(ChangeTime(ONSET + 10, ONSET + 600, "scan"), ONSET, 1800) == 0.0


def test_share_before_and_an_unknown_earliest() -> None:
    assert share_before(ChangeTime(ONSET - 10, ONSET - 5, "scan"), ONSET, 0) == 1.0
    assert share_before(ChangeTime(ONSET - 100, ONSET + 100, "scan"), ONSET, 0) == 0.5
    assert share_before(ChangeTime(ONSET + 1, ONSET + 100, "scan"), ONSET, 0) == 0.0
    # nothing bounds it from below: the window's start does
    assert share_before(ChangeTime(None, ONSET + 100, "detected"), ONSET, ONSET - 100) == 0.5


def test_the_interval_stored_by_the_applier_wins_over_the_row_time() -> None:
    row = ChangeRow(id="x", node_id="n", time=ONSET, kind="updated", source="skygraph", summary="s",
                    details={"change_time": interval(ONSET - 300, ONSET, "scan")})
    assert of(row) == ChangeTime(ONSET - 300, ONSET, "scan")
    old = ChangeRow(id="y", node_id="n", time=ONSET, kind="updated", source="skygraph", summary="s")
    assert of(old) == ChangeTime(None, ONSET, "detected")
    written = ChangeRow(id="z", node_id="n", time=ONSET, kind="cloudtrail", source="deepdrift", summary="s")
    assert of(written) == ChangeTime(ONSET, ONSET, "reported")


def test_observers_of_one_change_narrow_its_interval() -> None:
    from airdig.engine.intel.changetime import narrow, overlaps

    drift = ChangeTime(ONSET - 300, ONSET - 60, "drift watch")
    scan = ChangeTime(ONSET - 1200, ONSET - 120, "scan")
    assert overlaps(drift, scan)
    assert narrow(drift, [scan]) == ChangeTime(ONSET - 300, ONSET - 120, "drift watch + scan")
    point = ChangeTime(ONSET - 200, ONSET - 200, "cloudtrail")
    assert narrow(point, [scan]) == point  # a point stays a point
    assert narrow(drift, [ChangeTime(ONSET - 50, ONSET, "scan")]) == drift  # disagreeing: keep the wider
    assert narrow(ChangeTime(None, ONSET, "detected"), [scan]).earliest == ONSET - 1200


def test_a_drift_row_stored_before_intervals_is_timed_by_its_cause() -> None:
    drift = ChangeRow(id="d", node_id="n", time=ONSET, kind="drift", source="deepdrift", summary="s", actor="alice",
                      details={"cause": {"event_time": "1970-01-01T02:40:00Z"}})  # a row from before intervals
    assert of(drift) == ChangeTime(9600.0, 9600.0, "cloudtrail")


def test_an_onset_known_only_to_a_span_scores_a_change_inside_it_by_the_onsets_it_precedes() -> None:
    """Statistics every minute with a quiet minute between: the onset lies between the end of the last
    window at the old level and the end of the first at the new one. A change in that span preceded only
    part of the possible onsets; one before the span preceded all of them."""
    from airdig.engine.intel.changetime import proximity_to_span

    lo, hi = ONSET - 60, ONSET + 60
    inside = ChangeTime(ONSET + 30, ONSET + 30, "cloudtrail")
    before = ChangeTime(lo - 30, lo - 30, "cloudtrail")
    assert proximity(inside, hi, 1800) > 0.9  # against the latest possible onset alone: as if surely before
    assert proximity_to_span(inside, lo, hi, 1800) < 0.3  # it precedes a quarter of the possible onsets
    assert proximity_to_span(before, lo, hi, 1800) > 3 * proximity_to_span(inside, lo, hi, 1800)
    assert proximity_to_span(ChangeTime(hi + 1, hi + 1, "cloudtrail"), lo, hi, 1800) == 0.0
    assert proximity_to_span(before, hi, hi, 1800) == proximity(before, hi, 1800)  # a known onset
