"""The change-point detector on its own: steps, noise, no change, gaps, direction."""

from __future__ import annotations

import random

from airdig.engine.intel.changepoint import (
    Window,
    error_count_step,
    error_step,
    latency_step,
    step_up,
    within_window,
)

T = 1_790_000_000.0


def series(values: list[float], start: float = T, width: float = 60.0) -> list[tuple[float, float]]:
    return [(start + i * width, v) for i, v in enumerate(values)]


def test_a_latency_step_is_found_at_the_first_slow_window() -> None:
    pts = series([5.0] * 20 + [300.0] * 5)
    cp = latency_step(pts)
    assert cp is not None and cp.time == T + 20 * 60 and cp.earliest == T + 20 * 60
    assert cp.before == 5.0 and cp.after == 300.0


def test_a_step_in_noise_is_found_and_noise_alone_is_not() -> None:
    rng = random.Random(7)
    noisy = [10.0 * rng.uniform(0.85, 1.15) for _ in range(30)]
    assert latency_step(series(noisy)) is None
    stepped = noisy[:22] + [v * 4 for v in noisy[22:]]
    cp = latency_step(series(stepped))
    assert cp is not None and cp.time == T + 22 * 60


def test_a_flat_series_and_a_small_rise_are_no_change() -> None:
    assert latency_step(series([8.0] * 15)) is None
    assert latency_step(series([8.0] * 10 + [9.0] * 5)) is None  # +12 %: below the 50 % a step needs
    assert latency_step(series([8.0, 8.0])) is None  # too short to have a before and an after


def test_only_upward_steps_count() -> None:
    assert latency_step(series([300.0] * 10 + [5.0] * 10)) is None  # recovery is not onset


def test_gaps_move_the_earliest_bound_back_to_the_last_window_before() -> None:
    pts = series([5.0] * 10) + series([200.0] * 3, start=T + 15 * 60)  # minutes 10-14 missing (no calls)
    cp = latency_step(pts)
    assert cp is not None and cp.time == T + 15 * 60 and cp.earliest == T + 10 * 60


def test_the_last_window_alone_can_show_the_step() -> None:
    cp = latency_step(series([5.0] * 12 + [400.0]))
    assert cp is not None and cp.time == T + 12 * 60


def test_error_ratio_steps_are_absolute() -> None:
    cp = error_step(series([0.001] * 10 + [0.15] * 4))
    assert cp is not None and cp.time == T + 10 * 60
    assert error_step(series([0.001] * 10 + [0.01] * 4)) is None  # +0.9 points: below the 2-point step


def test_unordered_points_and_non_positive_latencies() -> None:
    pts = list(reversed(series([5.0] * 8 + [0.0] + [90.0] * 3)))
    cp = step_up(pts, log=True, min_step=0.4)
    assert cp is not None and cp.time == T + 9 * 60 and cp.earliest == T + 8 * 60  # the 0 ms window is skipped


def test_an_error_step_in_few_calls_is_placed_by_the_counts() -> None:
    """Ten calls a window, 40 % of them failing from window 14: the ratios read 0.2, 0.3, 0.6 — least
    squares on the ratios puts the step a window late (the first bad window looks like noise), while the
    counts say fourteen windows without one error, then errors: the step begins at window 14."""
    from airdig.engine.intel.changepoint import error_count_step

    errors = [0] * 14 + [2, 3, 6]
    windows = [(T + i * 120, e, 10) for i, e in enumerate(errors)]  # a window every two minutes
    late = error_step([(t, e / n) for t, e, n in windows], 60.0)
    assert late is not None and late.time == T + 15 * 120  # the ratios alone: one window late
    cp = error_count_step(windows, 60.0)
    assert cp is not None and cp.time == T + 14 * 120 and cp.before == 0.0
    # a single failed call in a window is no onset, and a steady error rate is no step
    assert error_count_step([(T + i * 60, 0, 300) for i in range(20)] + [(T + 20 * 60, 1, 300)]) is None
    assert error_count_step([(T + i * 60, 30, 1000) for i in range(20)]) is None
    assert error_count_step([(T, 0, 10)]) is None


# ---- placing the onset inside its window (within_window)

def _errors(per_window: list[tuple[int, int]]) -> tuple[list[tuple[float, int, int]], list[Window]]:
    """(errors, calls) per minute from T → the counts for error_count_step and the windows to place it."""
    counts = [(T + i * 60.0, e, n) for i, (e, n) in enumerate(per_window)]
    return counts, [Window(t, e / n, n) for t, e, n in counts]


def test_a_window_the_errors_began_in_places_the_onset_inside_it() -> None:
    # 20 calls a minute; from 40 s into minute 10 on, 60 % of the calls fail: minute 10 shows 4 of 20
    counts, windows = _errors([(0, 20)] * 10 + [(4, 20)] + [(12, 20)] * 4)
    cp = error_count_step(counts)
    assert cp is not None
    placed = within_window(cp, windows, 60.0)
    assert placed.latest is not None and T + 10 * 60 <= placed.earliest <= placed.time <= placed.latest
    assert abs(placed.time - (T + 10 * 60 + 40)) <= 15  # the share erring says where: about 40 s in
    assert placed.latest - placed.earliest <= 2 * 60 / 20 ** 0.5 + 1e-6  # ± width/sqrt(calls)


def test_a_clean_last_window_and_a_wholly_bad_first_one_put_the_onset_at_their_border() -> None:
    # the last minute before is clean, the first after as bad as the rest: the step came at the border
    windows = [Window(T + i * 60.0, 0.0, 20) for i in range(10)] + [Window(T + i * 60.0, 1.0, 20)
                                                                    for i in range(10, 14)]
    cp = latency_step([(w.start, 300.0 if w.bad else 5.0) for w in windows])
    assert cp is not None and cp.time == T + 600
    placed = within_window(cp, windows, 60.0)
    assert placed.latest is not None and placed.latest < T + 600 + 60  # not the end of the window any more
    assert placed.earliest < T + 600 <= placed.latest  # the border, give or take what 20 calls resolve


def test_a_share_indistinguishable_from_a_level_counts_the_window_wholly() -> None:
    # 7 of 20 failing against a level of 8/20: noise, not a partial window — the window is wholly new
    counts, windows = _errors([(0, 20)] * 10 + [(7, 20)] + [(8, 20)] * 4)
    cp = error_count_step(counts)
    assert cp is not None and cp.time == T + 600
    placed = within_window(cp, windows, 60.0)
    assert placed.latest is not None and placed.latest <= T + 600 + 60 / 20 ** 0.5 + 1e-6


def test_without_calls_to_go_by_the_change_point_is_kept() -> None:
    counts, windows = _errors([(0, 3)] * 10 + [(2, 3)] * 4)  # three calls a minute: too few to place
    cp = error_count_step(counts)
    assert cp is not None
    assert within_window(cp, windows, 60.0) == cp
    gap = [w for w in windows if w.start != T + 540]  # no calls in the minute before the step either
    assert within_window(cp, gap, 60.0) == cp


def test_across_a_gap_only_the_upper_bound_narrows() -> None:
    windows = [Window(T + i * 60.0, 0.0, 20) for i in range(8)] + [Window(T + i * 60.0, 0.5, 20)
                                                                   for i in range(10, 14)]
    cp = error_count_step([(w.start, int(w.bad * w.calls), w.calls) for w in windows])
    assert cp is not None and cp.time == T + 600 and cp.earliest == T + 480
    placed = within_window(cp, windows, 60.0)
    assert placed.earliest == T + 480 and placed.latest is not None and placed.latest < T + 660
