"""The status bar's figures: throughput with significant digits, an ETA that counts down
steadily, and the trial read-out in the trials table's numbers."""

from __future__ import annotations

import math

import pytest

from metagui.core.reports import format_rate
from metagui.qt._run_controller import RunningTrial, RunProgress
from metagui.qt._status import SmoothedEta, trials_text


@pytest.mark.parametrize(
    ("rate", "text"),
    [(0.0512, "0.051"), (0.05, "0.05"), (5.34, "5.3"), (68.4, "68"), (1234.5, "1,234"),
     (0.0, "0")],
)  # fmt: skip
def test_a_slow_rate_is_not_shown_as_zero(rate: float, text: str) -> None:
    assert format_rate(rate) == text


def test_an_estimate_that_counts_down_exactly_is_shown_exactly() -> None:
    eta = SmoothedEta()
    for t in range(0, 600, 5):
        shown = eta.update(float(t), 3600.0 - t)
        assert shown == pytest.approx(3600.0 - t)


def test_swings_of_the_estimate_are_smoothed_and_a_lasting_change_is_followed() -> None:
    # About two hours left; for the first 30 s of each 3-minute trial the estimate jumps by
    # half (the trial's slow first steps), as the raw figure did between 1:40 and 2:30 h.
    eta = SmoothedEta()
    raw_seen, shown_seen = [], []
    for t in range(0, 1800, 1):
        base = 7200.0 - t
        raw = base * 1.5 if t % 180 < 30 else base
        shown = eta.update(float(t), raw)
        assert shown is not None
        if t >= 1800 - 2 * 180:  # the last two trials
            raw_seen.append(raw / base)
            shown_seen.append(shown / base)
    assert max(raw_seen) - min(raw_seen) == pytest.approx(0.5)
    assert max(shown_seen) - min(shown_seen) < 0.05  # a tenth of the raw swing or less
    # The pace halves for good: within 20 minutes the shown ETA has moved most of the way.
    start = 1800.0
    for t in range(0, 1200, 5):
        shown = eta.update(start + t, 2 * (7200.0 - 1800.0 - t))
    assert shown is not None and shown > 0.8 * 2 * (7200.0 - 3000.0)


def test_the_first_estimates_of_a_young_run_are_followed_closely() -> None:
    # The first steps are slow (imports, the first evaluation): the first estimate is far
    # too long. A minute later the shown ETA is near the real one, not still counting down.
    eta = SmoothedEta()
    for t in range(0, 20):
        eta.update(float(t), 7200.0)
    for t in range(20, 60):
        shown = eta.update(float(t), 600.0 - t)
    assert shown is not None and shown < 1.2 * (600.0 - 59)


def test_the_eta_holds_still_while_paused_and_unknown_is_unknown() -> None:
    eta = SmoothedEta()
    assert eta.update(0.0, None) is None
    assert eta.update(0.0, 600.0) == 600.0
    assert eta.update(100.0, 600.0, paused=True) == 600.0
    assert eta.update(101.0, 599.0) == pytest.approx(599.0)
    assert eta.update(102.0, math.inf) is None


def test_the_serial_read_out_uses_the_tables_trial_numbers() -> None:
    p = RunProgress(planned_trials=16, finished=1, where="in process")
    p.running = {1: RunningTrial(1, step=240, total_steps=500)}
    text, tip = trials_text(p, running=True)
    assert text == "Trial 1 · step 240/500 · 1/16 done"
    assert "trial 1: step 240 of 500" in tip
    p.running = {}
    assert trials_text(p, running=True)[0] == "1/16 done"
