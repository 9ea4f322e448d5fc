"""The Pareto front against a direct computation of the non-dominated set."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from metagui.core.history import TrialRow
from metagui.core.pareto import front_trials, pareto_front


def _brute_force(points, directions):
    sign = [-1 if d == "maximize" else 1 for d in directions]
    costs = [[s * v for s, v in zip(sign, p, strict=True)] for p in points]

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b, strict=True)) and any(
            x < y for x, y in zip(a, b, strict=True)
        )

    return [
        i
        for i, p in enumerate(costs)
        if all(math.isfinite(v) for v in p)
        and not any(
            dominates(q, p) for j, q in enumerate(costs) if j != i and all(map(math.isfinite, q))
        )
    ]


# Few distinct values, so that ties (equal x, equal y, identical points) are common.
_value = st.one_of(st.integers(-4, 4).map(float), st.sampled_from([math.nan, math.inf]))


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(_value, min_size=k, max_size=k), max_size=40),
            st.lists(st.sampled_from(["minimize", "maximize"]), min_size=k, max_size=k),
        )
    )
)
def test_the_front_is_the_non_dominated_set(case):
    points, directions = case
    assert pareto_front(points, directions) == _brute_force(points, directions)


def test_a_known_front():
    # accuracy up, parameters down: (0.9, 100) and (0.8, 10) trade off; (0.7, 50) loses to
    # (0.8, 10); the identical pair is on the front twice.
    points = [(0.9, 100.0), (0.7, 50.0), (0.8, 10.0), (0.8, 10.0), (0.6, 200.0)]
    assert pareto_front(points, ["maximize", "minimize"]) == [0, 2, 3]


def test_front_trials_counts_only_complete_included_trials():
    def trial(number, values, state="COMPLETE", excluded=False):
        return TrialRow(
            number,
            1,
            number,
            state,
            {},
            values[0],
            None,
            None,
            0.0,
            1.0,
            None,
            None,
            None,
            excluded,
            None,
            0,
            values=values,
        )

    trials = [
        trial(0, (1.0, 1.0)),
        trial(1, (0.0, 0.0), state="PRUNED"),
        trial(2, (0.5, 2.0)),
        trial(3, (0.0, 0.0), excluded=True),
        trial(4, (2.0, 0.5)),
        trial(5, (3.0, 3.0)),
    ]
    front = front_trials(trials, ["minimize", "minimize"])
    assert [t.number for t in front] == [0, 2, 4]
