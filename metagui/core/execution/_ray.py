"""The Ray executor: a study's trials on a long-lived pool of Ray actors, one per trial slot,
on this machine (a local Ray cluster started for the study) or on a running cluster.

Each actor pays its Python start and torch import once, then trains trial after trial; it
sets torch's threads to its CPU share (with the default, two trials on two cores each start
one thread per core and run several times slower). A trial is a streaming-generator call
that sends its events in small batches (every ~100 ms, and at once for the first and last),
so a fast trial does not cost one object-store round trip per step.

Ray's own retries are off: a retried task would splice two attempts into one curve. A dead
actor is a lost trial, reported as such, and is replaced. Ray is imported only here, and this
module only when a study runs with ``parallel > 1`` or a cluster address.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ray

from metagui.core.errors import MetaguiError
from metagui.core.execution._data import PackedData, data_path, materialise, pack_data
from metagui.core.execution._events import (
    Failed,
    Finished,
    Placed,
    Reported,
    TrialEvent,
    TrialJob,
)
from metagui.core.execution._trial import describe_error, train_trial, worker_host
from metagui.core.reports import Tick

if TYPE_CHECKING:
    from metagui.core.experiment import ExecutionSpec

__all__ = ["RayExecutor", "TrialWorker", "cluster_capacity"]

_BATCH_S = 0.1
_READY_TIMEOUT_S = 300.0
_PROBE_TIMEOUT_S = 5.0


class TrialWorker:
    """A Ray actor that trains one trial at a time (``run`` calls queue behind each other);
    ``halt`` stops the running one from a thread of its own (the ``control`` group)."""

    def __init__(self, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self._halt = threading.Event()
        self._current: int | None = None
        self._lock = threading.Lock()

    def where(self) -> dict[str, Any]:
        """Where this worker runs: host, Ray node id, pid, and the GPUs Ray gave it (their
        ids, and ``CUDA_VISIBLE_DEVICES`` as Ray set it for torch)."""
        import socket

        return {
            "host": socket.gethostname(),
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "gpu_ids": [str(i) for i in ray.get_gpu_ids()],
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }

    @ray.method(concurrency_group="control")
    def halt(self, number: int) -> None:
        """Stop trial ``number`` at its next report, if it is the one running."""
        with self._lock:
            if self._current == number:
                self._halt.set()

    def run(self, job: TrialJob, data: PackedData | None) -> Iterator[list[TrialEvent]]:
        from platformdirs import user_cache_path

        with self._lock:
            self._current = job.number
            self._halt.clear()
        try:
            try:
                if data is not None and not Path(data.source).exists():
                    archive = ray.get(data.archive)
                    data = PackedData(data.field, data.source, data.digest, archive)
                else:
                    data = None  # the path is here (a shared filesystem): nothing to unpack
                cache = user_cache_path("metagui", appauthor=False) / "data"
                spec_json = materialise(job.spec_json, data, cache)
            except Exception as exc:
                yield [Failed(job.number, describe_error(exc))]
                return
            job = TrialJob(job.number, spec_json, job.device, job.study, job.objective_split)
            node = ray.get_runtime_context().get_node_id()
            gpu_ids = tuple(str(i) for i in ray.get_gpu_ids())
            trial = train_trial(job, node=node, gpu_ids=gpu_ids)
            batch: list[TrialEvent] = []
            sent = time.monotonic()
            try:
                for event in trial:
                    if self._halt.is_set():
                        return
                    ticking = isinstance(event, Reported) and isinstance(event.report, Tick)
                    if not ticking:
                        batch.append(event)
                    now = time.monotonic()
                    urgent = isinstance(event, Placed | Finished | Failed)
                    if batch and (urgent or now - sent >= _BATCH_S):
                        yield batch
                        batch, sent = [], now
            finally:
                trial.close()
            if batch:
                yield batch
        finally:
            with self._lock:
                self._current = None


@dataclass
class _Slot:
    actor: Any
    host: str = "?"
    node: str = ""
    pid: int = 0
    place: dict[str, Any] = field(default_factory=dict)  # what the actor's where() said
    number: int | None = None  # the trial it runs (None: free)
    stream: Any = None  # that trial's ObjectRefGenerator


def _lost(slot: _Slot, error: BaseException) -> str:
    detail = type(error).__name__
    return f"worker lost on {slot.host} (pid {slot.pid}): {detail}"


def cluster_capacity(
    nodes: list[dict[str, Any]], cpus_per_trial: float, gpus_per_trial: float
) -> int:
    """How many trials of this size the alive ``nodes`` (``ray.nodes()``) can run at once."""
    total = 0
    for node in nodes:
        if not node.get("Alive"):
            continue
        resources = node.get("Resources", {})
        fits = math.floor(resources.get("CPU", 0.0) / cpus_per_trial + 1e-9)
        if gpus_per_trial > 0:
            fits = min(fits, math.floor(resources.get("GPU", 0.0) / gpus_per_trial + 1e-9))
        total += max(fits, 0)
    return total


class RayExecutor:
    """``execution.parallel`` trials at once on Ray. Connects (or starts a local cluster),
    checks that the cluster can place them, and starts the actors, all before the first
    trial: a cluster that cannot run the study raises :class:`MetaguiError` here."""

    def __init__(self, execution: ExecutionSpec) -> None:
        self.capacity = execution.parallel
        self._execution = execution
        self._own_cluster = False
        self._connect(execution.address)
        try:
            nodes = [n for n in ray.nodes() if n.get("Alive")]
            self._check_resources(nodes)
            self.where = _describe_cluster(nodes)
            self._remote = ray.remote(concurrency_groups={"control": 1})(  # type: ignore[call-overload]
                TrialWorker
            )
            self._slots = [self._new_slot() for _ in range(self.capacity)]
            self._meet(self._slots)
            self._multi_node = len(nodes) > 1
            self._packed: dict[str, PackedData] = {}
            self._by_stream: dict[Any, _Slot] = {}  # the running trials' streams
            self._draining: dict[Any, _Slot] = {}  # streams of trials that ended here
        except BaseException:
            self.close()
            raise

    # -- set-up ------------------------------------------------------------------------------
    def _connect(self, address: str) -> None:
        if ray.is_initialized():
            return  # a cluster this process already joined (a test, a notebook): use it
        quiet: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
            "configure_logging": True,
        }
        if address not in ("local", "auto"):
            _probe(address)
        try:
            if address == "local":
                ray.init(**quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as exc:
            where = "a local Ray cluster" if address == "local" else f"Ray at {address}"
            hint = (
                ""
                if address == "local"
                else "; a cluster started with `ray start --head` wants its token: copy "
                "~/.ray/auth_token from the head node here, or set RAY_AUTH_TOKEN"
            )
            raise MetaguiError(
                f"execution.address: cannot reach {where} ({describe_error(exc)}){hint}"
            ) from exc
        self._own_cluster = True

    def _check_resources(self, nodes: list[dict[str, Any]]) -> None:
        e = self._execution
        cpus, gpus = _totals(nodes)
        if e.gpus_per_trial > 0 and gpus == 0:
            raise MetaguiError(
                f"execution.gpus_per_trial: {e.gpus_per_trial} GPU per trial, but the Ray "
                f"cluster has no GPU ({len(nodes)} node(s), {cpus:g} CPUs)"
            )
        fits = cluster_capacity(nodes, e.cpus_per_trial, e.gpus_per_trial)
        if fits < e.parallel:
            size = f"{e.cpus_per_trial:g} CPU" + (
                f" and {e.gpus_per_trial:g} GPU" if e.gpus_per_trial else ""
            )
            raise MetaguiError(
                f"execution.parallel: {e.parallel} trials of {size} each do not fit in the Ray "
                f"cluster ({len(nodes)} node(s), {cpus:g} CPUs, {gpus:g} GPUs: at most {fits} "
                "at once); lower parallel or the resources per trial"
            )

    def _new_slot(self) -> _Slot:
        e = self._execution
        threads = max(1, math.floor(e.cpus_per_trial))
        actor = self._remote.options(
            num_cpus=e.cpus_per_trial,
            num_gpus=e.gpus_per_trial,
            max_restarts=0,
            max_task_retries=0,
        ).remote(threads)
        return _Slot(actor)

    def _meet(self, slots: list[_Slot]) -> None:
        """Wait until the actors have started (torch imported) and learn where they run."""
        refs = [slot.actor.where.remote() for slot in slots]
        try:
            places = ray.get(refs, timeout=_READY_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise MetaguiError(
                f"Ray did not start {len(slots)} trial worker(s) in {_READY_TIMEOUT_S:.0f} s "
                "(is the cluster busy with other work?)"
            ) from None
        except ray.exceptions.RayError as exc:
            raise MetaguiError(
                f"Ray could not start a trial worker ({describe_error(exc)})"
            ) from exc
        for slot, place in zip(slots, places, strict=True):
            slot.place = place
            slot.node, slot.pid = place["node"], place["pid"]
            slot.host = worker_host(place["host"], slot.node)

    # -- trials ------------------------------------------------------------------------------
    def submit(self, job: TrialJob) -> None:
        """Start ``job`` on a free worker. A worker is free as soon as its trial's last event
        arrived or its trial was cancelled: the new trial's ``run`` queues behind the old
        one's last moments on the actor, which trains one trial at a time."""
        slot = next((s for s in self._slots if s.number is None), None)
        if slot is None:
            raise RuntimeError(f"all {self.capacity} trial workers are busy")
        stream = slot.actor.run.remote(job, self._data_for(job))
        slot.number, slot.stream = job.number, stream
        self._by_stream[stream] = slot

    def _data_for(self, job: TrialJob) -> PackedData | None:
        """The packed data of a job's task set, when other hosts may lack its path."""
        if not self._multi_node:
            return None
        found = data_path(job.spec_json)
        if found is None:
            return None
        field, source = found
        if source not in self._packed:
            packed = pack_data(field, source)
            self._packed[source] = PackedData(field, source, packed.digest, ray.put(packed.archive))
        # Ray resolves references at the top level of an argument only: this one travels
        # as a reference, fetched by a worker whose host lacks the path.
        return self._packed[source]

    def events(self, timeout_s: float) -> list[TrialEvent]:
        streams = list(self._by_stream) + list(self._draining)
        if not streams:
            time.sleep(min(timeout_s, 0.05))
            return []
        ready, _ = ray.wait(streams, num_returns=1, timeout=timeout_s)
        if ready:  # take whatever else is ready too, without waiting
            ready, _ = ray.wait(streams, num_returns=len(streams), timeout=0)
        out: list[TrialEvent] = []
        for stream in ready:
            if stream in self._draining:
                self._drain(stream)
            else:
                out += self._take(self._by_stream[stream])
        return out

    def _take(self, slot: _Slot) -> list[TrialEvent]:
        number, stream = slot.number, slot.stream
        assert number is not None
        try:
            batch: list[TrialEvent] = ray.get(next(stream))
        except StopIteration:
            self._release(slot)
            return [Failed(number, "the trial's worker stopped without a result")]
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            error = _lost(slot, exc)
            self._replace(slot)
            return [Failed(number, error, lost=True)]
        except ray.exceptions.RayError as exc:
            self._release(slot)
            return [Failed(number, describe_error(exc))]
        if any(isinstance(event, Finished | Failed) for event in batch):
            self._release(slot)
        return batch

    def _release(self, slot: _Slot) -> None:
        """The slot's trial is over for the driver: the rest of its stream is drained."""
        if slot.stream is not None:
            del self._by_stream[slot.stream]
            self._draining[slot.stream] = slot
        slot.number, slot.stream = None, None

    def _drain(self, stream: Any) -> None:
        """Take (and drop) the next item of an ended trial's stream."""
        slot = self._draining[stream]
        try:
            ray.get(next(stream))
        except StopIteration:
            del self._draining[stream]
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError):
            del self._draining[stream]
            if slot.number is None:
                self._replace(slot)
            # else: its next trial's own stream reports the loss
        except ray.exceptions.RayError:
            del self._draining[stream]

    def _replace(self, slot: _Slot) -> None:
        """Put a new actor in place of a dead one."""
        if slot.stream is not None:
            self._by_stream.pop(slot.stream, None)
        slot.number, slot.stream = None, None
        slot.actor = self._new_slot().actor
        self._meet([slot])

    def cancel(self, number: int) -> None:
        """Stop trial ``number``: none of its events arrive after this, and its worker is
        free for the next trial at once (which starts once the worker has stopped this one)."""
        for slot in self._slots:
            if slot.number == number:
                slot.actor.halt.remote(number)
                self._release(slot)

    def workers(self) -> list[dict[str, Any]]:
        """Where each trial worker runs (see :meth:`TrialWorker.where`)."""
        return [dict(slot.place) for slot in self._slots]

    def close(self) -> None:
        for slot in getattr(self, "_slots", []):
            with contextlib.suppress(Exception):  # an actor that is already gone
                ray.kill(slot.actor)
        self._slots = []
        self._by_stream = {}
        self._draining = {}
        if self._own_cluster and ray.is_initialized():
            ray.shutdown()
        self._own_cluster = False


def _totals(nodes: list[dict[str, Any]]) -> tuple[float, float]:
    """The CPUs and GPUs of ``nodes`` together."""
    resources = [n.get("Resources", {}) for n in nodes]
    return sum(r.get("CPU", 0.0) for r in resources), sum(r.get("GPU", 0.0) for r in resources)


def _describe_cluster(nodes: list[dict[str, Any]]) -> str:
    cpus, gpus = _totals(nodes)
    text = f"Ray, {len(nodes)} node{'s' if len(nodes) != 1 else ''}, {cpus:g} CPUs"
    return text + (f", {gpus:g} GPUs" if gpus else "")


def _probe(address: str) -> None:
    """Refuse at once an address where nothing answers: ``ray.init`` would wait for it for
    many minutes."""
    import socket

    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise MetaguiError(
            f"execution.address: {address!r} is not a Ray address (host:port, ray://host:port, "
            "auto or local)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise MetaguiError(
            f"execution.address: no Ray cluster answers at {address} ({exc.strerror or exc}); "
            "start one with `ray start --head` there"
        ) from exc
