"""Meta-training as a generator: build everything from a ``TrainSpec``, then yield small
reports between pieces of work so the caller can stop, pause or draw at any yield.

The batched path computes a whole meta-batch at once (it is chosen where that is fast); the
per-task loop yields after every task. Both split the work the same way on every run, never
by measured time, so that a seeded CPU run is reproducible bit for bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import torch

from metagui.core.device import describe_device, resolve_device
from metagui.core.errors import MetaguiError
from metagui.core.evaluation import summarise
from metagui.core.learners import build_learner
from metagui.core.reports import EvalResult, StepReport, Tick, TrainingFinished
from metagui.core.tasksets import build_taskset

if TYPE_CHECKING:
    from metagui.core.learners import MetaLearner
    from metagui.core.spec import TrainSpec
    from metagui.core.tasksets import Split

__all__ = ["DivergedError", "MetaTraining", "meta_train"]

Report = Tick | StepReport | TrainingFinished

# Tasks evaluated per batch: fixed, so results never depend on timing.
_EVAL_CHUNK = 25
# Validation and test tasks come from fixed streams so that every evaluation of a run (and of
# runs with the same seed) sees the same tasks.
_VALIDATION_SEED_OFFSET = 1
_TEST_SEED_OFFSET = 2


class DivergedError(MetaguiError):
    """The training loss became NaN or infinite."""


def _optimizer(spec: TrainSpec, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    o = spec.optimizer
    if o.name == "sgd":
        return torch.optim.SGD(params, lr=o.lr, weight_decay=o.weight_decay, foreach=True)
    if o.name in ("momentum", "nesterov"):
        return torch.optim.SGD(
            params,
            lr=o.lr,
            momentum=o.momentum,
            nesterov=o.name == "nesterov",
            weight_decay=o.weight_decay,
            foreach=True,
        )
    if o.name == "adam":
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay, foreach=True)
    return torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay, foreach=True)


def choose_batched(mode: str, learner: MetaLearner, spec: TrainSpec, device: torch.device) -> bool:
    """Whether to run meta-batches batched. Both paths compute the same meta-gradient; ``auto``
    takes the faster one: batched, except for conv nets on a CPU, where oneDNN's convolutions
    run faster per task than over the folded batch (see ``metagui bench``)."""
    if mode == "off" or not learner.supports_batched:
        return False
    if mode == "on":
        return True
    from metagui.core.models import resolve_kind

    return not (device.type == "cpu" and resolve_kind(spec.model, learner.info) == "conv4")


class MetaTraining:
    """One meta-training run: the task set, the learner, its optimizer and the device.

    ``run()`` is the generator; ``learner`` holds the trained model afterwards."""

    def __init__(self, spec: TrainSpec, *, device: str | None = None) -> None:
        self.spec = spec
        self.device = resolve_device(device or spec.device)
        self.device_name = describe_device(self.device)
        self.taskset = build_taskset(spec.taskset)
        torch.manual_seed(spec.seed)
        self.learner: MetaLearner = build_learner(spec.algorithm, spec.model, self.taskset.info)
        self.learner.to(self.device)
        mode = spec.training.batched
        if mode == "on" and not self.learner.supports_batched:
            raise MetaguiError(f"training.batched: {spec.algorithm.name} has no batched path here")
        self.batched = choose_batched(mode, self.learner, spec, self.device)
        params = [p for p in self.learner.parameters() if p.requires_grad]
        self.optimizer = _optimizer(spec, params)
        self.scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, spec.training.iterations)
            if spec.optimizer.schedule == "cosine"
            else None
        )

    @property
    def eval_steps(self) -> int:
        if not self.learner.adapts_by_gradient:
            return 0
        return self.spec.algorithm.adaptation_steps_at_eval

    def evaluation(self, split: Split, tasks: int, seed: int) -> Iterator[Tick | EvalResult]:
        """Evaluate on ``tasks`` tasks of ``split``; yields ticks, then the result."""
        generator = torch.Generator().manual_seed(seed)
        columns: list[torch.Tensor] = []
        done = 0
        chunk = _EVAL_CHUNK if self.batched else 1
        while done < tasks:
            size = min(chunk, tasks - done)
            batch = self.taskset.sample(split, size, generator).to(self.device)
            columns.append(self.learner.evaluate(batch, self.eval_steps, batched=self.batched))
            done += size
            yield Tick(done)
        metric = "mse" if self.taskset.info.kind == "regression" else "accuracy"
        yield summarise(torch.cat(columns, dim=1).cpu(), metric)

    def run(self) -> Iterator[Report]:
        spec = self.spec
        t = spec.training
        generator = torch.Generator().manual_seed(spec.seed)
        started = time.perf_counter()
        window_start, window_steps = started, 0
        loss_sum = torch.zeros((), device=self.device)
        acc_sum = torch.zeros((), device=self.device)
        has_acc = self.taskset.info.kind == "classification"
        last_validation: EvalResult | None = None
        for step in range(1, t.iterations + 1):
            self.learner.set_iteration(step - 1)
            self.learner.train()
            batch = self.taskset.sample("train", t.meta_batch_size, generator).to(self.device)
            self.optimizer.zero_grad(set_to_none=True)
            done = 0
            # The loop path yields after each task; its gradient accumulates task by task in
            # the same order either way, so this changes nothing in the result.
            chunk = t.meta_batch_size if self.batched else 1
            while done < t.meta_batch_size:
                size = min(chunk, t.meta_batch_size - done)
                out = self.learner.meta_gradient(
                    batch.slice(done, done + size),
                    batched=self.batched,
                    scale=size / t.meta_batch_size,
                )
                loss_sum += out.loss * (size / t.meta_batch_size)
                if out.accuracy is not None:
                    acc_sum += out.accuracy * (size / t.meta_batch_size)
                done += size
                if done < t.meta_batch_size:
                    yield Tick(step)
            self.optimizer.step()
            if self.scheduler is not None:
                self.scheduler.step()
            window_steps += 1
            validation = None
            if t.eval_every and step % t.eval_every == 0:
                validation = yield from self._evaluated("validation", step)
                last_validation = validation
            if step % t.log_every == 0 or step == t.iterations or validation is not None:
                # The only host synchronisation of the loop: once per report.
                mean_loss = float(loss_sum) / window_steps
                if not math.isfinite(mean_loss):
                    raise DivergedError(f"the training loss became {mean_loss} at step {step}")
                now = time.perf_counter()
                rate = window_steps / max(now - window_start, 1e-9)
                yield StepReport(
                    step=step,
                    total_steps=t.iterations,
                    train_loss=mean_loss,
                    train_accuracy=float(acc_sum) / window_steps if has_acc else None,
                    learned=self.learner.learned_hyperparameters(),
                    validation=validation,
                    meta_iters_per_s=rate,
                    tasks_per_s=rate * t.meta_batch_size,
                    elapsed_s=now - started,
                )
                loss_sum.zero_()
                acc_sum.zero_()
                window_start, window_steps = now, 0
            else:
                yield Tick(step)
        if last_validation is None or t.iterations % max(t.eval_every, 1):
            last_validation = yield from self._evaluated("validation", t.iterations)
        test = yield from self._evaluated("test", t.iterations)
        yield TrainingFinished(
            t.iterations, test, self.device_name, time.perf_counter() - started, last_validation
        )

    def _evaluated(self, split: Split, step: int) -> Generator[Tick, None, EvalResult]:
        """Evaluate on the fixed task stream of ``split``, ticking; returns the result."""
        t = self.spec.training
        base = self.spec.seed if t.eval_seed is None else t.eval_seed
        if split == "validation":
            tasks, seed = t.eval_tasks, base + _VALIDATION_SEED_OFFSET
        else:
            tasks, seed = t.test_tasks, base + _TEST_SEED_OFFSET
        result: EvalResult | None = None
        for item in self.evaluation(split, tasks, seed):
            if isinstance(item, EvalResult):
                result = item
            else:
                yield Tick(step)
        assert result is not None
        return result


def meta_train(spec: TrainSpec, *, device: str | None = None) -> Iterator[Report]:
    """Meta-train as described by ``spec``; see :class:`MetaTraining`."""
    return MetaTraining(spec, device=device).run()
