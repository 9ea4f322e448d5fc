"""Meta-training as a generator: build everything from a ``TrainSpec``, then yield small
reports between pieces of work so the caller can stop, pause or draw at any yield.

The batched path computes a whole meta-batch at once (it is chosen where that is fast); the
per-task loop yields after every task. Both split the work the same way on every run, never
by measured time, so that a seeded CPU run is reproducible bit for bit.

A time budget (``training.time_budget_s``) is the one exception: it ends the training by the
clock (the iterations that ran are reported), after which the final evaluation still happens.

The training meta-batches are sampled ahead, in a background thread (:class:`EpisodePrefetcher`),
while the current one trains; the sampling generator is used by that thread alone, one batch
after another, so the episodes and their order are those of a plain loop.

``training.precision`` runs the forward passes in bf16, or in fp16 on CUDA with a
``GradScaler``; ``training.compile`` compiles the network calls where that is exact (both in
:mod:`metagui.core.learners._base`).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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
    from metagui.core.tasksets import EpisodeBatch, Split

__all__ = [
    "AUTO_PATHS",
    "DivergedError",
    "EpisodePrefetcher",
    "MetaTraining",
    "auto_path",
    "meta_train",
    "optimizer_step",
    "precision_dtype",
    "prepare_learner",
]

Report = Tick | StepReport | TrainingFinished

# Tasks evaluated per batch: fixed, so results never depend on timing.
_EVAL_CHUNK = 25
# Validation and test tasks come from fixed streams so that every evaluation of a run (and of
# runs with the same seed) sees the same tasks.
_VALIDATION_SEED_OFFSET = 1
_TEST_SEED_OFFSET = 2
# The tasks timed to estimate the final evaluation's cost (``time_budget_includes_eval``
# without periodic evaluations): a stream of their own, so no result depends on them.
_PROBE_SEED_OFFSET = 3
# The estimated final evaluation is reserved with this margin: its tasks vary in cost and
# the checkpoint is written after it.
_EVAL_RESERVE_MARGIN = 1.25


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


def cosine_factor(progress: float) -> float:
    """The cosine schedule's learning-rate factor at ``progress`` (0: start, 1: end)."""
    return 0.5 * (1.0 + math.cos(math.pi * min(max(progress, 0.0), 1.0)))


@dataclass
class _TrainingClock:
    """How far a run is through its training, by iterations and, with a time budget, by the
    clock: whichever ends first sets the progress of the learning-rate schedule and when the
    training stops. With ``includes_eval`` the final evaluation's estimated cost is kept out
    of the training's time."""

    iterations: int
    budget_s: float | None
    includes_eval: bool
    final_eval_tasks: int
    started: float
    eval_s_per_task: float | None = None
    last_iteration_s: float = 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def training_s(self) -> float | None:
        """The seconds the training may take (None: no time budget)."""
        if self.budget_s is None:
            return None
        if not self.includes_eval:
            return self.budget_s
        per_task = self.eval_s_per_task or 0.0
        return self.budget_s - _EVAL_RESERVE_MARGIN * per_task * self.final_eval_tasks

    def progress(self, steps_done: int) -> float:
        by_steps = steps_done / self.iterations
        available = self.training_s()
        if available is None:
            return by_steps
        return max(by_steps, self.elapsed() / max(available, 1e-9))

    def out_of_time(self) -> bool:
        """Whether another iteration would end past the training's time."""
        available = self.training_s()
        return available is not None and self.elapsed() + self.last_iteration_s >= available

    @property
    def needs_eval_estimate(self) -> bool:
        return self.budget_s is not None and self.includes_eval and self.eval_s_per_task is None


# What ``training.batched: auto`` runs, by (device type, network kind), chosen by measurement:
#   cpu, ``metagui bench --seconds 4`` (2 shared cores, load 1.5-2), meta-it/s batched / loop:
#   sinusoid-maml (mlp) 267 / 27.6; omniglot-maml (conv4) 0.172 / 0.366; omniglot-protonet
#   0.190 / 0.486; omniglot-mamlpp 0.061 / 0.158; omniglot-metasgd 0.193 / 0.394. Batched in
#   chunks of 32 / 8 / 4 / 2 / 1 tasks (best of 3, load 1-2): maml 0.165 / 0.214 / 0.300 /
#   0.251 / 0.294 against 0.414 for the loop, protonet 0.192 / 0.232 / 0.346 / 0.339 / 0.407
#   against 0.483: even one task under vmap is slower than the loop, because batch norm under
#   vmap adds separate scale and shift passes and layout copies (README, Benchmarks). Text
#   models (an MLP over an embedding bag): not measured, batched like the MLP.
#   cuda: not measured yet (``scripts/gpu-check`` does); batched, the shape GPUs favour.
# A pair not listed runs batched.
AUTO_PATHS: dict[tuple[str, str], Literal["batched", "loop"]] = {
    ("cpu", "conv4"): "loop",
    ("cpu", "mlp"): "batched",
    ("cpu", "text"): "batched",
    ("cuda", "conv4"): "batched",
    ("cuda", "mlp"): "batched",
    ("cuda", "text"): "batched",
}


def auto_path(device: torch.device, model_kind: str) -> Literal["batched", "loop"]:
    """The path ``training.batched: auto`` takes on ``device`` for a network of ``model_kind``."""
    return AUTO_PATHS.get((device.type, model_kind), "batched")


def choose_batched(mode: str, learner: MetaLearner, spec: TrainSpec, device: torch.device) -> bool:
    """Whether to run meta-batches batched. Both paths compute the same meta-gradient; ``auto``
    takes the one measured faster for the device and network (:data:`AUTO_PATHS`)."""
    if mode == "off" or not learner.supports_batched:
        return False
    if mode == "on":
        return True
    from metagui.core.models import resolve_kind

    return auto_path(device, resolve_kind(spec.model, learner.info)) == "batched"


def precision_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype ``training.precision`` computes in on ``device`` (None: fp32); a
    :class:`MetaguiError` where the device cannot run it."""
    if precision == "fp32":
        return None
    if device.type == "mps":
        raise MetaguiError(f"training.precision: {precision} is not supported on mps; use fp32")
    if precision == "fp16":
        if device.type != "cuda":
            # fp16 autocast exists on CPUs but is emulated there (slower than fp32), and
            # the range problems it brings are what bf16 avoids.
            raise MetaguiError(
                f"training.precision: fp16 needs a CUDA device (this run is on {device.type}); "
                "use bf16 or fp32"
            )
        return torch.float16
    if device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        raise MetaguiError("training.precision: this GPU has no bf16 arithmetic; use fp16 or fp32")
    return torch.bfloat16


def prepare_learner(
    learner: MetaLearner, spec: TrainSpec, device: torch.device
) -> torch.amp.GradScaler | None:
    """Set ``learner`` up for ``spec``'s precision and compilation on ``device`` (training
    and ``metagui bench`` alike); the loss scale an fp16 run steps through, else None."""
    dtype = precision_dtype(spec.training.precision, device)
    learner.set_precision(device.type, dtype)
    scaler = None
    # fp16 gradients underflow without a loss scale; bf16 has fp32's range and needs none.
    # Reptile's meta-gradient is a difference of fp32 weights, not a backward pass.
    if dtype == torch.float16 and learner.backpropagates:
        scaler = torch.amp.GradScaler(device.type)
        learner.loss_scaler = scaler.scale
    if spec.training.compile:
        learner.set_compile("inductor")
    return scaler


def optimizer_step(optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None) -> None:
    """The outer step; through the loss scale, which skips a step whose scaled gradients
    overflowed and lowers the scale."""
    if scaler is None:
        optimizer.step()
    else:
        scaler.step(optimizer)
        scaler.update()


class EpisodePrefetcher:
    """Meta-batches from ``sample``, drawn ``depth`` ahead in a background thread while the
    caller trains on the current one. ``sample`` is called by that thread alone, one batch
    after another, so the batches come in the order of calling it in a loop. ``pin``: the
    batches are put in pinned memory, so that their copy to a CUDA device does not block the
    host. ``depth=0`` samples in the caller's thread when asked."""

    def __init__(
        self, sample: Callable[[], EpisodeBatch], depth: int = 1, *, pin: bool = False
    ) -> None:
        self._sample = sample
        self._pin = pin
        self._stop = threading.Event()
        self._queue: queue.Queue[EpisodeBatch | BaseException] = queue.Queue(max(depth, 1))
        self._thread: threading.Thread | None = None
        if depth > 0:
            self._thread = threading.Thread(target=self._work, name="episode-prefetch", daemon=True)
            self._thread.start()

    def _draw(self) -> EpisodeBatch:
        batch = self._sample()
        if self._pin:
            from metagui.core.tasksets import EpisodeBatch

            batch = EpisodeBatch(
                batch.x_support.pin_memory(),
                batch.y_support.pin_memory(),
                batch.x_query.pin_memory(),
                batch.y_query.pin_memory(),
            )
        return batch

    def _work(self) -> None:
        while not self._stop.is_set():
            item: EpisodeBatch | BaseException
            try:
                item = self._draw()
            except BaseException as exc:  # handed to the training thread, raised there
                item = exc
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def next(self) -> EpisodeBatch:
        """The next meta-batch (an error of the sampling is raised here)."""
        if self._thread is None:
            return self._draw()
        item = self._queue.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the background thread (the batches drawn ahead are dropped)."""
        self._stop.set()
        if self._thread is not None:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._thread.join(timeout=10)


class MetaTraining:
    """One meta-training run: the task set, the learner, its optimizer and the device.

    ``run()`` is the generator; ``learner`` holds the trained model afterwards.
    ``prefetch``: meta-batches sampled ahead in a background thread (0: none; the same
    episodes either way)."""

    def __init__(self, spec: TrainSpec, *, device: str | None = None, prefetch: int = 2) -> None:
        self.spec = spec
        self.device = resolve_device(device or spec.device)
        self.device_name = describe_device(self.device)
        precision_dtype(spec.training.precision, self.device)  # refused before any work
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
        self.base_lrs = [group["lr"] for group in self.optimizer.param_groups]
        self.scaler = prepare_learner(self.learner, spec, self.device)
        self.prefetch = prefetch
        self._started = time.perf_counter()  # reset when the run starts
        # Seconds per task of each split's last evaluation, for a study that scores a trial by
        # its adaptation time too (``objective.second``).
        self.eval_s_per_task: dict[str, float] = {}

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

    def run(self) -> Generator[Report, None, None]:
        spec = self.spec
        t = spec.training
        generator = torch.Generator().manual_seed(spec.seed)
        started = self._started = time.perf_counter()
        clock = _TrainingClock(
            iterations=t.iterations,
            budget_s=t.time_budget_s,
            includes_eval=t.time_budget_includes_eval,
            final_eval_tasks=(t.test_tasks if self.taskset.has_split("test") else 0)
            + (t.eval_tasks if self.taskset.has_split("validation") else 0),
            started=started,
        )
        episodes = EpisodePrefetcher(
            lambda: self.taskset.sample("train", t.meta_batch_size, generator),
            self.prefetch,
            pin=self.device.type == "cuda",
        )
        try:
            yield from self._train(clock, episodes)
        finally:
            episodes.close()

    def _train(self, clock: _TrainingClock, episodes: EpisodePrefetcher) -> Iterator[Report]:
        spec = self.spec
        t = spec.training
        started = clock.started
        window_start, window_steps = started, 0
        loss_sum = torch.zeros((), device=self.device)
        acc_sum = torch.zeros((), device=self.device)
        last_validation: EvalResult | None = None
        steps_run = 0
        for step in range(1, t.iterations + 1):
            if step > 1 and clock.out_of_time():
                break
            iteration_started = time.perf_counter()
            self.learner.set_iteration(step - 1)
            self.learner.train()
            batch = episodes.next().to(self.device)
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
            optimizer_step(self.optimizer, self.scaler)
            steps_run = step
            clock.last_iteration_s = time.perf_counter() - iteration_started
            window_steps += 1
            if clock.needs_eval_estimate:
                yield from self._time_probe(clock, step)
            validation = None
            if t.eval_every and step % t.eval_every == 0:
                validation = yield from self._evaluated("validation", step)
                clock.eval_s_per_task = self.eval_s_per_task["validation"]
                last_validation = validation
            if spec.optimizer.schedule == "cosine":
                # Set for the next step, by the progress so far: over the iterations, or over
                # the time actually available when a time budget ends the training first.
                self._set_lr_factor(cosine_factor(clock.progress(step)))
            if step % t.log_every == 0 or step == t.iterations or validation is not None:
                yield self._step_report(
                    step, loss_sum, acc_sum, window_steps, window_start, validation
                )
                loss_sum.zero_()
                acc_sum.zero_()
                window_start, window_steps = time.perf_counter(), 0
            else:
                yield Tick(step)
        episodes.close()  # nothing more to sample: free what was drawn ahead
        stopped_by_time = steps_run < t.iterations
        if window_steps:
            # The last steps before the time budget ended the run.
            yield self._step_report(steps_run, loss_sum, acc_sum, window_steps, window_start)
        validates = self.taskset.has_split("validation")
        if validates and (last_validation is None or steps_run % max(t.eval_every, 1)):
            last_validation = yield from self._evaluated("validation", steps_run)
        test = None
        if self.taskset.has_split("test"):
            test = yield from self._evaluated("test", steps_run)
        yield TrainingFinished(
            steps_run,
            test,
            self.device_name,
            time.perf_counter() - started,
            last_validation,
            stopped_by_time=stopped_by_time,
        )

    def _step_report(
        self,
        step: int,
        loss_sum: torch.Tensor,
        acc_sum: torch.Tensor,
        window_steps: int,
        window_start: float,
        validation: EvalResult | None = None,
    ) -> StepReport:
        """The report of the ``window_steps`` steps up to ``step``: the loop's only host
        synchronisation."""
        t = self.spec.training
        mean_loss = float(loss_sum) / window_steps
        if not math.isfinite(mean_loss):
            raise DivergedError(f"the training loss became {mean_loss} at step {step}")
        now = time.perf_counter()
        rate = window_steps / max(now - window_start, 1e-9)
        has_acc = self.taskset.info.kind == "classification"
        return StepReport(
            step=step,
            total_steps=t.iterations,
            train_loss=mean_loss,
            train_accuracy=float(acc_sum) / window_steps if has_acc else None,
            learned=self.learner.learned_hyperparameters(),
            validation=validation,
            meta_iters_per_s=rate,
            tasks_per_s=rate * t.meta_batch_size,
            elapsed_s=now - self._started,
        )

    def _set_lr_factor(self, factor: float) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    def _time_probe(self, clock: _TrainingClock, step: int) -> Iterator[Tick]:
        """Time a few evaluation tasks (their results are dropped) to estimate what the final
        evaluation will cost, for a time budget that includes it."""
        t = self.spec.training
        split: Split = "test" if self.taskset.has_split("test") else "validation"
        tasks = min(_EVAL_CHUNK, t.test_tasks if split == "test" else t.eval_tasks)
        base = self.spec.seed if t.eval_seed is None else t.eval_seed
        _, busy = yield from self._timed_evaluation(split, tasks, base + _PROBE_SEED_OFFSET, step)
        clock.eval_s_per_task = busy / tasks

    def _evaluated(self, split: Split, step: int) -> Generator[Tick, None, EvalResult]:
        """Evaluate on the fixed task stream of ``split``, ticking; returns the result."""
        t = self.spec.training
        base = self.spec.seed if t.eval_seed is None else t.eval_seed
        if split == "validation":
            tasks, seed = t.eval_tasks, base + _VALIDATION_SEED_OFFSET
        else:
            tasks, seed = t.test_tasks, base + _TEST_SEED_OFFSET
        result, busy = yield from self._timed_evaluation(split, tasks, seed, step)
        assert result is not None
        self.eval_s_per_task[split] = busy / tasks
        return result

    def _timed_evaluation(
        self, split: Split, tasks: int, seed: int, step: int
    ) -> Generator[Tick, None, tuple[EvalResult | None, float]]:
        """Evaluate, ticking; the result and the seconds spent evaluating. Only those: a
        caller that pauses at a yield (the app's Pause) must not make evaluation look slow
        to a time budget or to ``objective.second: adaptation_time``."""
        result: EvalResult | None = None
        busy, began = 0.0, time.perf_counter()
        for item in self.evaluation(split, tasks, seed):
            busy += time.perf_counter() - began
            if isinstance(item, EvalResult):
                result = item
            else:
                yield Tick(step)
            began = time.perf_counter()
        return result, busy


def meta_train(spec: TrainSpec, *, device: str | None = None) -> Iterator[Report]:
    """Meta-train as described by ``spec``; see :class:`MetaTraining`."""
    return MetaTraining(spec, device=device).run()
