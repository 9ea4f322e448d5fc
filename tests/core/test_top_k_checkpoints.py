"""A study keeps the checkpoints of its top k trials (``checkpoints.keep``): exactly those files
on disk and in the history after every trial, whatever order parallel trials finish in; the
rest are deleted as they fall out; resuming tidies up; export and ``history`` know which."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metagui.cli import main
from metagui.core.errors import MetaguiError
from metagui.core.execution import Finished, Placed, TrialEvent, TrialJob
from metagui.core.experiment import ExperimentSpec
from metagui.core.history import HistoryReader, HistoryWriter, artifact_folder
from metagui.core.reports import EvalResult, TrainingFinished
from metagui.core.runner import StudyRunner, StudyStarted, TrialEnded
from metagui.core.study_export import export_from_history


def experiment(keep: int | None = None, trials: int = 7, **overrides: Any) -> ExperimentSpec:
    data: dict[str, Any] = {
        "name": "topk",
        "taskset": {"family": "sinusoid", "k_shot": 5, "q_query": 5},
        "model": {"hidden_sizes": [8]},
        "algorithm": {"name": "maml", "inner_steps": 1},
        "training": {"iterations": 4, "meta_batch_size": 2, "eval_every": 2, "log_every": 2},
        "search_space": {
            "params": [{"name": "algorithm.inner_lr", "type": "float", "low": 1e-3, "high": 0.3}]
        },
        "strategy": {"name": "random"},
        "budget": {"trials": trials},
        "device": "cpu",
    }
    if keep is not None:
        data["checkpoints"] = {"keep": keep}
    data.update(overrides)
    return ExperimentSpec.model_validate(data)


def model_of(number: int) -> bytes:
    """The checkpoint bytes trial ``number`` trains (a stand-in: nothing reads them)."""
    return f"the model of trial {number}".encode()


class ScriptedExecutor:
    """Trains nothing: trial ``n`` finishes with ``values[n]`` and :func:`model_of` ``n``; with
    ``capacity`` > 1, the trials in flight finish together, the last started first."""

    where = "in process"

    def __init__(self, values: list[float], capacity: int = 1) -> None:
        self.values = values
        self.capacity = capacity
        self._started: list[int] = []

    def submit(self, job: TrialJob) -> None:
        self._started.append(job.number)

    def events(self, timeout_s: float) -> list[TrialEvent]:
        out: list[TrialEvent] = []
        for number in reversed(self._started):
            value = self.values[number]
            result = EvalResult("mse", (value, value), (0.0, 0.0), 8)
            done = TrainingFinished(
                steps=4, test=result, device="cpu", elapsed_s=0.0, validation=result
            )
            out.append(Placed(number, "here", "cpu", 1, "cpu"))
            out.append(Finished(number, done, model_of(number)))
        self._started = []
        return out

    def cancel(self, number: int) -> None:
        pass

    def close(self) -> None:
        pass


def run(
    spec: ExperimentSpec, db: Path, values: list[float], capacity: int = 1, **kwargs: Any
) -> Iterator[Any]:
    runner = StudyRunner(spec, db, **kwargs)
    return runner.run(executor=ScriptedExecutor(values, capacity))  # type: ignore[arg-type]


def kept_now(db: Path, study: str = "topk") -> dict[int, tuple[str, str | None]]:
    """Trial number -> (file name, note) of each checkpoint the history records, checking that
    its file holds that trial's model and that no other checkpoint file is on disk."""
    with HistoryReader(db) as reader:
        found = reader.study(study)
        assert found is not None
        number_of = {t.id: t.number for t in reader.trials(found.id)}
        rows = [a for a in reader.artifacts(found.id) if a.kind == "checkpoint"]
    kept = {}
    for row in rows:
        assert row.trial_id is not None
        number = number_of[row.trial_id]
        path = Path(row.path)
        assert path.read_bytes() == model_of(number)
        kept[number] = (path.name, row.note)
    on_disk = sorted(p.name for p in artifact_folder(db, study).iterdir())
    assert on_disk == sorted(name for name, _ in kept.values())
    return kept


def top(values: list[float], finished: list[int], k: int, maximize: bool = False) -> list[int]:
    """The oracle: the k best of the finished trials, by value, the lower number on a tie."""
    sign = -1 if maximize else 1
    return sorted(finished, key=lambda n: (sign * values[n], n))[:k]


def check_each_step(
    spec: ExperimentSpec, db: Path, values: list[float], k: int, capacity: int = 1
) -> list[int]:
    """Run the study; after every trial, exactly the oracle's top k are kept, with their ranks.
    Returns the order the trials finished in."""
    maximize = spec.objective.direction == "maximize"
    finished: list[int] = []
    for report in run(spec, db, values, capacity):
        if isinstance(report, TrialEnded):
            finished.append(report.number)
            best = top(values, finished, k, maximize)
            kept = kept_now(db)
            assert sorted(kept) == sorted(best), (finished, kept)
            for rank, number in enumerate(best, start=1):
                assert kept[number] == (
                    f"trial-{number:04d}.pt",
                    f"rank {rank} of the study (the top {k} are kept)",
                )
    return finished


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_exactly_the_k_best_are_kept_after_each_trial(tmp_path: Path, direction: str) -> None:
    values = [5.0, 3.0, 8.0, 1.0, 4.0, 2.0, 9.0, 0.5]
    spec = experiment(keep=3, trials=len(values), objective={"direction": direction})
    finished = check_each_step(spec, tmp_path / "h.sqlite", values, 3)
    assert finished == list(range(len(values)))


def test_parallel_trials_finishing_out_of_order_and_ties(tmp_path: Path) -> None:
    # Trials finish two at a time, the later one first; equal values rank by trial number, so
    # the order of finishing changes nothing (and the best, as export picks it, is kept).
    values = [2.0, 2.0, 1.0, 2.0, 1.0, 3.0]
    spec = experiment(keep=2, trials=len(values))
    finished = check_each_step(spec, tmp_path / "h.sqlite", values, 2, capacity=2)
    assert finished == [1, 0, 3, 2, 5, 4]
    assert sorted(kept_now(tmp_path / "h.sqlite")) == [2, 4]


def test_keep_1_is_the_default_and_keeps_the_best_trial_only(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    values = [5.0, 3.0, 8.0, 1.0, 4.0]
    spec = experiment(trials=len(values))
    assert spec.checkpoints.keep == 1
    check_each_step(spec, db, values, 1)
    assert kept_now(db) == {3: ("trial-0003.pt", "rank 1 of the study (the top 1 are kept)")}
    out = export_from_history(db, "checkpoint", tmp_path / "best.pt")
    assert out.read_bytes() == model_of(3)


def test_an_excluded_trial_loses_its_place_at_the_next_completion(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    kept_after: list[list[int]] = []
    for report in run(experiment(keep=2, trials=len(values)), db, values):
        if isinstance(report, TrialEnded):
            kept_after.append(sorted(kept_now(db)))
            if report.number == 2:  # the user excludes the best trial while the study runs
                with HistoryReader(db) as reader, HistoryWriter(db) as writer:
                    study = reader.study("topk")
                    assert study is not None
                    (first,) = [t for t in reader.trials(study.id) if t.number == 0]
                    writer.set_excluded(first.id, True)
    # Trial 2 was never kept (third of three) and cannot come back: its place goes to the
    # next trial with a model, 3; 4 is worse than both kept.
    assert kept_after == [[0], [0, 1], [0, 1], [1, 3], [1, 3]]
    notes = {n: note for n, (_, note) in kept_now(db).items()}
    assert notes == {
        1: "rank 1 of the study (the top 2 are kept)",
        3: "rank 3 of the study (the top 2 are kept)",
    }


def test_resume_keeps_the_new_top_k_and_deletes_leftovers(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    values = [5.0, 3.0, 8.0, 1.0, 4.0, 9.0]
    list(run(experiment(keep=3, trials=5), db, values))
    assert sorted(kept_now(db)) == [1, 3, 4]
    folder = artifact_folder(db, "topk")
    # What a killed run leaves: a file written but never recorded (or forgotten but not
    # deleted), and half a write.
    (folder / "trial-0002.pt").write_bytes(model_of(2))
    (folder / ".trial-0007.pt.0123456789ab.tmp").write_bytes(b"half")
    reports = list(run(experiment(keep=2, trials=6), db, values, resume=True))
    (started,) = [r for r in reports if isinstance(r, StudyStarted)]
    assert "removed 2 checkpoint file(s) not of the top 2 trials" in started.notes
    assert any("partial checkpoint" in note for note in started.notes)
    assert kept_now(db) == {
        3: ("trial-0003.pt", "rank 1 of the study (the top 2 are kept)"),
        1: ("trial-0001.pt", "rank 2 of the study (the top 2 are kept)"),
    }


def test_export_of_a_kept_and_of_a_dropped_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    values = [5.0, 3.0, 8.0, 1.0, 4.0]
    list(run(experiment(keep=3, trials=len(values)), db, values))
    out = export_from_history(db, "checkpoint", tmp_path / "t4.pt", trial=4)
    assert out.read_bytes() == model_of(4)
    with pytest.raises(MetaguiError, match=r"trial 2's checkpoint was not kept \(only the top k=3"):
        export_from_history(db, "checkpoint", tmp_path / "t2.pt", trial=2)
    argv = ["export", "--db", str(db), "--format", "checkpoint", "--trial", "0"]
    assert main([*argv, "-o", str(tmp_path / "t0.pt")]) != 0
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert "trial 0's checkpoint was not kept (only the top k=3 are); kept: trial(s) 1, 3, 4" in (
        line
    )
    assert not (tmp_path / "t0.pt").exists() and not (tmp_path / "t2.pt").exists()


def test_history_marks_the_trials_whose_checkpoint_is_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "h.sqlite"
    values = [5.0, 3.0, 8.0, 1.0, 4.0]
    list(run(experiment(keep=2, trials=len(values)), db, values))
    assert main(["history", "--db", str(db), "--study", "topk"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line[1:5].strip().isdigit()]
    marked = [int(line[1:5]) for line in lines if " ckpt " in line]
    assert marked == [1, 3]
    assert main(["history", "--db", str(db), "--study", "topk", "--trial", "3"]) == 0
    assert " ckpt " in capsys.readouterr().out
