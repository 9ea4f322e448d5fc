"""Ray clusters of other shapes, each started and stopped by its test: a node with (fake)
GPUs shared by fractional trials, and two nodes joined with ``ray start`` that one study's
trials spread over."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
import yaml
from test_runner import experiment, trials_of  # tests/core is on sys.path (rootdir import)

from metagui.core.execution._ray import RayExecutor
from metagui.core.experiment import ExecutionSpec
from metagui.core.runner import StudyRunner, TrialPlaced

pytestmark = pytest.mark.slow


def test_fractional_gpus_place_two_trials_per_gpu_and_set_each_workers_device(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Ray schedules GPUs as resources: a node that declares two is enough to check placement.
    ray.init(
        num_cpus=2,
        num_gpus=2,
        include_dashboard=False,
        log_to_driver=False,
        # short: Ray's socket paths under it must fit in 107 bytes
        _temp_dir=str(tmp_path_factory.mktemp("ray")),
    )
    try:
        execution = ExecutionSpec(parallel=4, cpus_per_trial=0.5, gpus_per_trial=0.5)
        executor = RayExecutor(execution)
        workers = executor.workers()
        assert sorted(w["gpu_ids"][0] for w in workers) == ["0", "0", "1", "1"]
        for w in workers:
            (gpu,) = w["gpu_ids"]
            assert w["cuda_visible_devices"] == gpu  # what torch in that worker sees as cuda:0
        spec = experiment(budget={"trials": 4}, execution=execution.model_dump())
        reports = list(StudyRunner(spec, tmp_path / "h.sqlite").run(executor))
        assert len({r.pid for r in reports if isinstance(r, TrialPlaced)}) == 4
        devices = Counter(t.device for t in trials_of(tmp_path / "h.sqlite", "tiny"))
        assert sum(n for d, n in devices.items() if d and d.endswith("(Ray GPU 0)")) == 2
        assert sum(n for d, n in devices.items() if d and d.endswith("(Ray GPU 1)")) == 2
    finally:
        ray.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_cluster(temp_dir: Path) -> None:
    """Stop the Ray processes of the cluster under ``temp_dir`` only (``ray stop`` would stop
    every Ray cluster of this machine's user): those whose command line names it (in full:
    ``-ww``, as ps may cut lines to a terminal's width)."""
    listing = subprocess.run(["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True)
    mine = [
        int(line.split(None, 1)[0])
        for line in listing.stdout.splitlines()
        if str(temp_dir) in line and int(line.split(None, 1)[0]) != os.getpid()
    ]
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        for pid in mine:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(pid) for pid in mine):
            time.sleep(0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def two_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head node and a second node on this machine, one CPU each, joined with ``ray start``
    as a user joins machines, with token authentication as Ray 2.5x sets it up."""
    temp_dir = tmp_path_factory.mktemp("ray2")
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_AUTH_MODE": "token"}
    ray_cli = str(Path(sys.executable).with_name("ray"))
    common = ["--num-cpus=1", f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    try:
        subprocess.run(
            [ray_cli, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
             "--include-dashboard=false", *common],
            env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        subprocess.run(
            [ray_cli, "start", f"--address=127.0.0.1:{port}", "--node-ip-address=127.0.0.1",
             *common],
            env=env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield env["RAY_AUTH_TOKEN"] + "@" + f"127.0.0.1:{port}"
    finally:
        _stop_cluster(temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_one_study_runs_on_both_nodes_of_a_two_node_cluster(tmp_path: Path, two_nodes: str) -> None:
    token, address = two_nodes.split("@")
    spec = experiment(budget={"trials": 4})
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True)))
    db = tmp_path / "h.sqlite"
    # What a user on the driver's machine has: the cluster's token, and metagui run's flags
    # (RAY_AUTH_MODE is set by metagui when a token is at hand).
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["RAY_AUTH_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-m", "metagui.cli", "run", str(exp), "--db", str(db),
         "--ray", address, "--parallel", "2"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "2 trial(s) at once on Ray, 2 nodes, 2 CPUs" in done.stdout
    trials = trials_of(db, "tiny")
    assert [t.state for t in trials] == ["COMPLETE"] * 4
    nodes = {t.host for t in trials}
    assert len(nodes) == 2 and all(h is not None and "[node " in h for h in nodes)
