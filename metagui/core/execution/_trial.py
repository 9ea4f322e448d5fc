"""The worker's side of a trial: settings in, events out. The only code that trains; it runs
in the driver's own thread (serial executor) or in a Ray actor on any host (Ray executor), and
writes nothing anywhere: the driver records what it yields."""

from __future__ import annotations

import gc
import os
import socket
import time
from collections.abc import Generator
from typing import TYPE_CHECKING

from metagui.core.execution._events import Failed, Finished, Placed, Reported, TrialEvent, TrialJob
from metagui.core.reports import StepReport, TrainingFinished

if TYPE_CHECKING:
    from metagui.core.training import MetaTraining

__all__ = ["describe_error", "release_memory", "train_trial", "trial_measures", "worker_host"]


def train_trial(
    job: TrialJob,
    *,
    node: str = "",
    gpu_ids: tuple[str, ...] = (),
    collect_garbage: bool = True,
) -> Generator[TrialEvent, None, None]:
    """Train ``job``'s trial: :class:`Placed` first, then its progress, then :class:`Finished`
    or :class:`Failed`. Closing the generator stops the training at its next report.
    ``gpu_ids``: the accelerators Ray gave this worker, recorded with the device name.
    ``collect_garbage=False`` leaves cyclic garbage collection to the caller (a GUI collects
    in its own thread, see ``StudyRunner``)."""
    from metagui.core.checkpoint import checkpoint_bytes
    from metagui.core.device import describe_device, resolve_device
    from metagui.core.spec import TrainSpec
    from metagui.core.training import MetaTraining

    failed = False
    try:
        spec = TrainSpec.model_validate_json(job.spec_json)
        device = describe_device(resolve_device(job.device or spec.device))
        if gpu_ids:
            device += f" (Ray GPU {', '.join(gpu_ids)})"
        yield Placed(job.number, worker_host(socket.gethostname(), node), node, os.getpid(), device)
        training = MetaTraining(spec, device=job.device)
        finished: TrainingFinished | None = None
        # Seconds spent inside the training (not paused at a yield): up to its last step
        # report, the meta-training; after it, the final evaluations.
        busy = training_s = 0.0
        reports = training.run()
        while True:
            began = time.perf_counter()
            report = next(reports, None)
            busy += time.perf_counter() - began
            if report is None:
                break
            if isinstance(report, TrainingFinished):
                finished = report
                continue
            if isinstance(report, StepReport):
                training_s = busy
            yield Reported(job.number, report)
        assert finished is not None
        result = finished.result(job.objective_split)
        extra = {
            "study": job.study,
            "trial": job.number,
            "value": result.final,
            "iterations": finished.steps,
        }
        data = checkpoint_bytes(training.learner, spec, extra)
        measures = trial_measures(training, training_s, job.objective_split)
        training = None  # type: ignore[assignment]
        yield Finished(job.number, finished, data, measures)
    except MemoryError as exc:
        failed = True
        yield Failed(job.number, f"out of memory: {exc}")
    except Exception as exc:
        failed = True
        yield Failed(job.number, describe_error(exc))
    finally:
        training = None  # type: ignore[assignment]
        # A failed trial's tensors may sit in cycles through its exception's frames; a
        # completed or pruned one's go with their last reference (the garbage its training
        # leaves in cycles dies young), so only failures pay for a full collection.
        release_memory(collect_garbage and failed)


def trial_measures(training: MetaTraining, training_s: float, split: str) -> dict[str, float]:
    """What a trained trial cost (see :attr:`Finished.measures`): its model's trainable
    parameters, ``training_s`` seconds of meta-training, and the milliseconds per task of its
    last evaluation on ``split`` (adapting to a task and predicting its queries)."""
    model = training.learner.model
    parameters = sum(p.numel() for p in model.parameters() if p.requires_grad)
    measures = {"parameters": float(parameters), "training_time": training_s}
    per_task = training.eval_s_per_task.get(split)
    if per_task is not None:
        measures["adaptation_time"] = 1000.0 * per_task
    return measures


def worker_host(hostname: str, node: str) -> str:
    """How a trial's host is recorded: its name, and on Ray its node (several Ray nodes can
    share a machine and its name)."""
    return f"{hostname} [node {node[:8]}]" if node else hostname


def describe_error(exc: BaseException) -> str:
    """``Type: first line of the message``: what the history and the table show."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def release_memory(collect_garbage: bool) -> None:
    """Free what a trial held, including cached CUDA blocks; ``collect_garbage``: after a
    full collection (about 200 ms: worth it after a failure, too slow after every trial)."""
    import torch

    if collect_garbage:
        gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
