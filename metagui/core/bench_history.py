"""What ``metagui bench --history`` needs outside Qt: a big synthetic history written with the
history's own schema, the writer's throughput, ``metagui history``'s cost, and a writer that
keeps appending to a history while the app follows it.

The synthetic history is one study of ``trials`` finished trials (mostly complete, some pruned
or failed) of ``steps`` logged steps each, one metric (``train/loss``): ``trials * steps``
metric rows. The file is made by the history's own schema code (:func:`connect_writer`, so
every migration ran) and then filled in bulk, without the per-call checks of
:class:`HistoryWriter` and with ``synchronous = OFF``: a benchmark input, not a record.
Whatever else the schema keeps per trial (a stored downsampled curve, from schema 3 on) is
written as the writer would have written it.

Run as ``python -m metagui.core.bench_history append DB SECONDS``, the module appends trials
to the study of a generated history for ``SECONDS`` (the live part of the benchmark).
"""

from __future__ import annotations

import json
import math
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from metagui._resources import resources_dir
from metagui.core.errors import MetaguiError

__all__ = [
    "STUDY_NAME",
    "GeneratedHistory",
    "append_live",
    "cpu_seconds",
    "generate_history",
    "measure_cli_history",
    "measure_writer",
]

STUDY_NAME = "bench-history"
METRIC = "train/loss"
_SPEC = resources_dir() / "examples" / "sinusoid-search.yaml"
_STATES = ("COMPLETE", "PRUNED", "FAILED")
_STATE_SHARES = (0.85, 0.10, 0.05)
_TRIAL_SECONDS = 60.0  # a generated trial's duration: 10,000 of them span a week
_CHUNK_ROWS = 200_000  # metric rows per transaction while generating


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User plus system CPU time of this process (or of its waited-for children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class GeneratedHistory:
    """A generated history: where it is, what it holds and what writing it cost."""

    path: Path
    study_id: int
    trials: int
    steps: int
    metric_rows: int
    cpu_s: float
    wall_s: float


def _spec_json() -> str:
    from metagui.core.experiment_io import load_experiment

    return load_experiment(_SPEC).model_dump_json(by_alias=True)


def _trial_params(rng: np.random.Generator) -> dict[str, Any]:
    """Parameters drawn from the example search space (``sinusoid-search.yaml``)."""
    algorithm = str(rng.choice(["maml", "fomaml", "metasgd", "mamlpp", "anil", "reptile", "cnp"]))
    params: dict[str, Any] = {"algorithm.name": algorithm}
    if algorithm != "cnp":
        params["algorithm.inner_lr"] = float(10 ** rng.uniform(-3, -1))
        params["algorithm.inner_steps"] = int(rng.integers(1, 6))
    params["optimizer.lr"] = float(10 ** rng.uniform(-4, -2))
    params["model.activation"] = str(rng.choice(["relu", "tanh"]))
    return params


def _loss_curve(rng: np.random.Generator, steps: int, floor: float) -> np.ndarray:
    """A meta-train loss: a noisy decay to ``floor`` with rare spikes; one trial in a hundred
    diverges towards 1e6 in its last tenth."""
    s = np.arange(steps, dtype=float)
    tau = rng.uniform(0.05, 0.4) * steps + 1.0
    loss = floor + rng.uniform(1.0, 4.0) * np.exp(-s / tau)
    loss *= 1.0 + 0.08 * rng.standard_normal(steps)
    spikes = rng.random(steps) < 0.002
    loss[spikes] *= rng.uniform(3.0, 10.0, int(spikes.sum()))
    if rng.random() < 0.01:
        tail = steps - steps // 10
        loss[tail:] *= np.logspace(0, 6, steps - tail)
    return np.abs(loss)


def generate_history(
    path: str | Path, trials: int, steps: int, *, seed: int = 0
) -> GeneratedHistory:
    """Write a new history at ``path`` (which must not exist) holding one study of ``trials``
    finished trials with ``steps`` ``train/loss`` rows each (see the module's documentation).
    """
    from metagui.core.history._schema import connect_writer

    path = Path(path)
    if trials < 1 or steps < 1:
        raise MetaguiError("bench --history: --trials and --steps must be at least 1")
    if path.exists():
        raise MetaguiError(f"{path}: already exists; the generator writes a new history")
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    db = connect_writer(path)  # creates the file through every migration
    conn: sqlite3.Connection = getattr(db, "conn", db)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        summarize = None
        if "curves" in tables:
            from metagui.core.history._curves import summarize_rows

            summarize = summarize_rows
        rng = np.random.default_rng(seed)
        t0 = time.time() - trials * _TRIAL_SECONDS
        seq = int(conn.execute("SELECT value FROM meta WHERE key = 'seq'").fetchone()[0]) + 1
        conn.execute("BEGIN")
        study_id: int = conn.execute(  # type: ignore[assignment]
            "INSERT INTO studies (name, created, spec_json, direction, strategy, status, seed, "
            "updated_seq) VALUES (?, ?, ?, 'minimize', 'random', 'finished', ?, ?)",
            [STUDY_NAME, t0, _spec_json(), seed, seq],
        ).lastrowid
        assert study_id is not None
        states = rng.choice(len(_STATES), size=trials, p=_STATE_SHARES)
        step_numbers = list(range(steps))
        rows_in_transaction = 0
        for number in range(trials):
            seq += 1
            state = _STATES[states[number]]
            floor = float(rng.lognormal(-1.5, 0.6))
            started = t0 + number * _TRIAL_SECONDS
            finished = started + _TRIAL_SECONDS * 0.9
            value = floor * float(1.0 + 0.05 * rng.standard_normal())
            trial_id: int = conn.execute(  # type: ignore[assignment]
                "INSERT INTO trials (study_id, number, state, params_json, value, test_value, "
                "seed, started, finished, error, pruned_at_step, pruned_reason, device, "
                "updated_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'cpu', ?)",
                [
                    study_id,
                    number,
                    state,
                    json.dumps(_trial_params(rng), sort_keys=True),
                    value if state == "COMPLETE" else None,
                    value * 1.02 if state == "COMPLETE" else None,
                    number,
                    started,
                    finished,
                    "RuntimeError: loss is NaN" if state == "FAILED" else None,
                    steps - 1 if state == "PRUNED" else None,
                    "median pruner: above the median" if state == "PRUNED" else None,
                    seq,
                ],
            ).lastrowid
            loss = _loss_curve(rng, steps, floor)
            times = (started + np.arange(steps) * (_TRIAL_SECONDS * 0.9 / steps)).tolist()
            values = loss.tolist()
            conn.executemany(
                "INSERT INTO metrics (trial_id, step, name, value, time) VALUES (?, ?, ?, ?, ?)",
                zip(repeat(trial_id), step_numbers, repeat(METRIC), values, times, strict=False),
            )
            if summarize is not None:
                summarize(conn, trial_id, METRIC, step_numbers, values)
            rows_in_transaction += steps
            if rows_in_transaction >= _CHUNK_ROWS:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
                rows_in_transaction = 0
        conn.execute("UPDATE meta SET value = ? WHERE key = 'seq'", [seq])
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return GeneratedHistory(
        path=path,
        study_id=int(study_id),
        trials=trials,
        steps=steps,
        metric_rows=trials * steps,
        cpu_s=cpu_seconds() - cpu0,
        wall_s=time.monotonic() - wall0,
    )


def measure_writer(steps: int = 50_000, folder: str | Path | None = None) -> dict[str, Any]:
    """The writer's throughput as a run uses it: one trial logging two metrics per step
    through :meth:`HistoryWriter.add_metrics` with the default flushing, into a new history
    in ``folder`` (a temporary one if None), closed at the end. Rows per CPU second and per
    wall second (the latter includes waiting for the disk)."""
    from metagui.core.history import HistoryWriter

    with tempfile.TemporaryDirectory(prefix="metagui-bench-history-", dir=folder) as scratch:
        writer = HistoryWriter(Path(scratch) / "writer.sqlite")
        study = writer.create_study("writer", "{}", "minimize", "random")
        trial = writer.start_trial(study, 0, {"x": 1.0})
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        for step in range(steps):
            writer.add_metrics(
                trial, step, {"train/loss": 1.0 / (step + 1), "train/accuracy": step / steps}
            )
        writer.close()
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
    rows = 2 * steps
    return {
        "rows": rows,
        "cpu_s": cpu,
        "wall_s": wall,
        "rows_per_cpu_s": rows / cpu if cpu > 0 else math.inf,
        "rows_per_s": rows / wall if wall > 0 else math.inf,
    }


def measure_cli_history(path: str | Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """``metagui history --db PATH`` in a new process: its CPU time (interpreter start and
    imports included) and wall time, and the lines it printed."""
    cpu0, wall0 = cpu_seconds(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "metagui.cli", "history", "--db", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    cpu, wall = cpu_seconds(resource.RUSAGE_CHILDREN) - cpu0, time.monotonic() - wall0
    if done.returncode != 0:
        raise MetaguiError(f"bench --history: metagui history failed: {done.stderr.strip()}")
    return {"cpu_s": cpu, "wall_s": wall, "lines": len(done.stdout.splitlines())}


def append_live(
    path: str | Path,
    seconds: float,
    *,
    steps_per_s: float = 200.0,
    steps_per_trial: int = 400,
) -> int:
    """Append to the study of a generated history for ``seconds``, as a run would: trials
    one after another, each logging ``train/loss`` ``steps_per_s`` times a second for
    ``steps_per_trial`` steps, then completing. Returns the steps written."""
    from metagui.core.history import HistoryWriter

    probe = sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)
    try:
        study_id, number = probe.execute(
            "SELECT s.id, (SELECT MAX(number) FROM trials WHERE study_id = s.id) "
            "FROM studies s WHERE s.name = ?",
            [STUDY_NAME],
        ).fetchone()
    finally:
        probe.close()
    rng = np.random.default_rng(int(number))
    written = 0
    deadline = time.monotonic() + seconds
    with HistoryWriter(path) as writer:
        while time.monotonic() < deadline:
            number += 1
            trial_id = writer.start_trial(study_id, number, _trial_params(rng), seed=number)
            floor = float(rng.lognormal(-1.5, 0.6))
            loss = _loss_curve(rng, steps_per_trial, floor).tolist()
            step = 0
            next_at = time.monotonic()
            while step < steps_per_trial and time.monotonic() < deadline:
                writer.add_metrics(trial_id, step, {METRIC: loss[step]})
                written += 1
                step += 1
                next_at += 1.0 / steps_per_s
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            writer.finish_trial(trial_id, "COMPLETE", value=floor, test_value=floor)
    return written


def _main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "append":
        print("usage: python -m metagui.core.bench_history append DB SECONDS", file=sys.stderr)
        return 2
    print(append_live(argv[1], float(argv[2])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
