"""The figures of ``metagui bench --transfer``, read back from the histories a run kept: for
each (target, seed) pair, the trials a warm search needed to reach the cold search's final
best, and the best values of both, early and final; then medians and interquartile ranges
over the pairs."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "EARLY",
    "StudyTrials",
    "best_of",
    "describe_pool",
    "format_summary",
    "read_study",
    "transfer_figures",
    "trials_to_reach",
]

#: Trials after which the best values are compared (the issue's "best after 10 trials").
EARLY = 10


def trials_to_reach(values: Sequence[float | None], target: float, trials: int) -> int:
    """The first trial (1-based) whose best-so-far value is at most ``target`` (minimising);
    ``trials + 1`` if none of the first ``trials`` is."""
    best = math.inf
    for i, v in enumerate(values[:trials], start=1):
        if v is not None and math.isfinite(v):
            best = min(best, v)
        if best <= target:
            return i
    return trials + 1


def best_of(values: Sequence[float | None], first: int) -> float | None:
    seen = [v for v in values[:first] if v is not None and math.isfinite(v)]
    return min(seen) if seen else None


@dataclass(frozen=True)
class StudyTrials:
    """A finished study: its trials' values in trial order, what the first trial came from,
    and the studies its pool held."""

    values: list[float | None]
    first_seeded_from: str | None
    seeded: int
    pool: list[str]
    similarity: list[float]


def read_study(db: Path, study: int | str) -> StudyTrials:
    """A study of the history at ``db`` as the figures need it."""
    from metagui.core.history import HistoryReader

    with HistoryReader(db) as reader:
        row = reader.study(study)
        assert row is not None, study
        study_id = row.id
        rows = sorted(reader.trials(study_id), key=lambda t: t.number)
        record = reader.experience(study_id) or {}
    values = [t.value if t.state == "COMPLETE" and not t.excluded else None for t in rows]
    return StudyTrials(
        values,
        rows[0].seeded_from if rows else None,
        sum(t.seeded_from is not None for t in rows),
        [str(s["name"]) for s in record.get("studies", [])],
        [float(s["similarity"]) for s in record.get("studies", [])],
    )


def describe_pool(ran: StudyTrials) -> str:
    return ", ".join(f"{n} ({s:.2f})" for n, s in zip(ran.pool, ran.similarity, strict=True))


def _pair(
    target: str, seed: int, cold: StudyTrials, warm: StudyTrials, trials: int
) -> dict[str, Any]:
    cold_best = best_of(cold.values, trials)
    warm_best = best_of(warm.values, trials)
    reach = trials + 1 if cold_best is None else trials_to_reach(warm.values, cold_best, trials)
    return {
        "target": target,
        "seed": seed,
        "pool": warm.pool,
        "pool_similarity": warm.similarity,
        "seeded_trials": warm.seeded,
        "first_seeded_from": warm.first_seeded_from,
        "cold_best": cold_best,
        "warm_best": warm_best,
        f"cold_best_at_{EARLY}": best_of(cold.values, EARLY),
        f"warm_best_at_{EARLY}": best_of(warm.values, EARLY),
        f"cold_median_first_{EARLY}": _median_value(cold.values[:EARLY]),
        f"warm_median_first_{EARLY}": _median_value(warm.values[:EARLY]),
        "trials_to_reach": reach,
        "cold_trials_to_best": (
            trials + 1 if cold_best is None else trials_to_reach(cold.values, cold_best, trials)
        ),
    }


def _median_value(values: Sequence[float | None]) -> float | None:
    """The median value of ``values``, a failed trial (None) counted as worse than any; None
    if half of them or more failed."""
    median = statistics.median(math.inf if v is None else v for v in values) if values else None
    return median if median is not None and math.isfinite(median) else None


def _median_of(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 4) if known else None


def _quartiles(values: Sequence[float]) -> dict[str, float]:
    if len(values) == 1:
        return {"median": round(values[0], 4), "q1": round(values[0], 4), "q3": round(values[0], 4)}
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return {"median": round(median, 4), "q1": round(q1, 4), "q3": round(q3, 4)}


def _relative(warm: float | None, cold: float | None) -> float | None:
    """(warm - cold) / cold: below 0 where warm is better (smaller MSE)."""
    if warm is None or cold is None or cold == 0:
        return None
    return (warm - cold) / abs(cold)


def _compare(pairs: list[dict[str, Any]], trials: int) -> dict[str, Any]:
    """The figures over (target, seed) pairs."""
    reach = [p["trials_to_reach"] for p in pairs]
    own = [p["cold_trials_to_best"] for p in pairs]
    out: dict[str, Any] = {
        "pairs": len(pairs),
        "trials_to_reach": _quartiles(reach),
        "never_reached": sum(r > trials for r in reach),
        "cold_trials_to_own_best": _quartiles(own),
        "ratio_budget_to_warm": round(trials / statistics.median(reach), 3),
        "ratio_cold_to_warm": round(statistics.median(own) / statistics.median(reach), 3),
    }
    for label, w, c in (
        (f"best_at_{EARLY}", f"warm_best_at_{EARLY}", f"cold_best_at_{EARLY}"),
        ("best_final", "warm_best", "cold_best"),
        (f"median_first_{EARLY}", f"warm_median_first_{EARLY}", f"cold_median_first_{EARLY}"),
    ):
        rel = [r for p in pairs if (r := _relative(p[w], p[c])) is not None]
        out[label] = {
            "warm_median": _median_of(p[w] for p in pairs),
            "cold_median": _median_of(p[c] for p in pairs),
            "relative_difference": _quartiles(rel) if rel else None,
            "warm_no_worse": sum(
                p[w] is not None and (p[c] is None or p[w] <= p[c]) for p in pairs
            ),
        }
    return out


def _seed_noise(cold: dict[tuple[str, int], StudyTrials], trials: int) -> float | None:
    """How much a cold study's final best moves with the seed alone: per target, the
    interquartile range of its final best over the seeds relative to their median; the
    median over the targets."""
    spreads = []
    for name in {t for t, _ in cold}:
        bests = [b for (t, _), r in cold.items() if t == name and (b := best_of(r.values, trials))]
        if len(bests) >= 2:
            q = _quartiles(bests)
            spreads.append((q["q3"] - q["q1"]) / q["median"])
    return round(statistics.median(spreads), 4) if spreads else None


def transfer_figures(
    folder: str | Path,
    seeds: int,
    trials: int,
    *,
    targets: Sequence[str],
    unrelated: str,
    negative_targets: int,
) -> dict[str, Any]:
    """The figures of a run from the histories it kept in ``folder`` (``seed-N.sqlite``):
    per (target, seed) pair and summed up, for the related pool and the unrelated one
    (``negative`` is None with no negative targets)."""
    cold: dict[tuple[str, int], StudyTrials] = {}
    pairs: list[dict[str, Any]] = []
    negative: list[dict[str, Any]] = []
    for seed in range(seeds):
        db = Path(folder) / f"seed-{seed}.sqlite"
        for name in targets:
            cold[name, seed] = read_study(db, f"{name}-cold")
            warm = read_study(db, f"{name}-warm")
            pairs.append(_pair(name, seed, cold[name, seed], warm, trials))
        for name in targets[:negative_targets]:
            warm = read_study(db, f"{name}-warm-unrelated")
            negative.append(_pair(name, seed, cold[name, seed], warm, trials))
    return {
        "transfer": _compare(pairs, trials),
        "negative": (
            {**_compare(negative, trials), "seed_noise": _seed_noise(cold, trials)}
            if negative
            else None
        ),
        "pairs": pairs,
        "negative_pairs": negative,
    }


def format_summary(result: dict[str, Any]) -> str:
    """The figures in words, one line each."""
    trials, early = result["trials"], result["early"]

    def block(title: str, c: dict[str, Any]) -> list[str]:
        r, own = c["trials_to_reach"], c["cold_trials_to_own_best"]
        lines = [
            f"{title} ({c['pairs']} target-seed pairs):",
            f"  trials to reach the cold search's best after {trials}: median {r['median']:g} "
            f"(IQR {r['q1']:g}-{r['q3']:g}); never reached: {c['never_reached']}",
            f"  the cold search found that best at trial {own['median']:g} "
            f"(IQR {own['q1']:g}-{own['q3']:g}); {trials} / warm: x{c['ratio_budget_to_warm']}, "
            f"cold / warm: x{c['ratio_cold_to_warm']}",
        ]
        for key, label in (
            (f"best_at_{early}", f"best after {early}"),
            ("best_final", "best final"),
            (f"median_first_{early}", f"median value of the first {early} trials"),
        ):
            b = c[key]
            rel = b["relative_difference"]
            diff = "" if rel is None else f", warm - cold {rel['median']:+.1%} (median)"
            lines.append(
                f"  {label}: warm {b['warm_median']}, cold {b['cold_median']} "
                f"(medians{diff}); warm no worse in {b['warm_no_worse']} of {c['pairs']}"
            )
        return lines

    lines = [
        f"transfer from the experience pool: {result['seeds']} seeds, {trials} TPE trials of "
        f"{result['iterations']} meta-iterations per search, targets "
        f"{', '.join(result['problems'])}",
        *block("related pool (the other targets' cold searches)", result["transfer"]),
    ]
    negative = result["negative"]
    if negative is not None:
        lines += block(f"unrelated pool ({result['unrelated']}, min_similarity 0)", negative)
        if negative["seed_noise"] is not None:
            lines.append(
                f"  seed noise: a cold search's final best moves by "
                f"{negative['seed_noise']:.1%} (IQR/median)"
            )
    lines.append(f"{result['wall_s']:g} s wall, {result['cpu_s']:g} CPU-s")
    return "\n".join(lines)
