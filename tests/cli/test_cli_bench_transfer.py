"""``metagui bench --transfer`` from the command line: one JSON object at a tiny size, the
progress on stderr, and the options that belong to other benchmarks refused in one line."""

from __future__ import annotations

import json

import pytest

from metagui.cli import main
from metagui.core.bench_transfer import PROBLEMS, UNRELATED


@pytest.mark.slow
def test_the_transfer_benchmark_prints_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "--transfer", "--json", "--seeds", "1", "--trials", "2", "--iterations", "1"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    result = json.loads(line)
    assert (result["seeds"], result["trials"], result["iterations"]) == (1, 2, 1)
    assert len(result["pairs"]) == len(PROBLEMS) and len(result["negative_pairs"]) == 2
    assert f"seed 0 {UNRELATED.name}-cold" in err  # progress, one line per study


def test_the_cli_refuses_what_the_transfer_benchmark_cannot_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for argv in (
        ["bench", "--transfer", "--study"],
        ["bench", "--transfer", "--history"],
        ["bench", "--transfer", "--seconds", "3"],
        ["bench", "--transfer", "--only", "sinusoid-maml"],
        ["bench", "--transfer", "--parallel", "2"],
        ["bench", "--transfer", "--seeds", "0"],
        ["bench", "--transfer", "--trials", "1"],
        ["bench", "--seeds", "3"],
        ["bench", "--study", "--iterations", "3"],
    ):
        assert main(argv) == 2, argv
        assert capsys.readouterr().err.startswith("metagui: error: bench"), argv
