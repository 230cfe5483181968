"""The fuzz loop: real artefacts mutated one relation at a time, fed to their loaders in a child
process. A crash (signal), a hang, an untyped exception, or a malformed input accepted fails.

Budget per target: LSTM_EDGE_FUZZ_ITERATIONS (default 30 in `make test`; e.g. 2000 for a long
run). Inputs that once crashed a loader live in tests/crashers/ and are replayed every run.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # fuzz loops in child processes over the trained tiny run's artefacts

HERE = Path(__file__).parent
ITERATIONS = int(os.environ.get("LSTM_EDGE_FUZZ_ITERATIONS", "30"))
ALLOWED = {"onnx": {"ok", "3", "4"}, "tflite": {"ok", "3", "4"}, "safetensors": {"ok", "3", "4"},
           "manifest": {"ok", "3", "4"}, "npz": {"ok", "1", "3"}, "csv": {"ok", "3"}}


def fuzz(target: str, src: Path, work: Path, iterations: int, seed: int) -> list[str]:
    """→ the problems found (empty when the loaders held)."""
    cmd = [sys.executable, str(HERE / "fuzz_targets.py"), target, str(src), str(work), str(iterations), str(seed)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 + 20 * iterations)
    except subprocess.TimeoutExpired as e:
        last = [ln for ln in (e.stdout or b"").decode(errors="replace").splitlines() if ln.startswith("start")][-1:]
        return [f"{target}: hang after {last} (input kept in {work / 'current-input'})"]
    problems, started = [], None
    for line in r.stdout.splitlines():
        if line.startswith("start"):
            started = line
        elif line.startswith("done"):
            _, k, outcome = line.split(" ", 2)
            if outcome not in ALLOWED[target]:
                problems.append(f"{target} mutation {k}: outcome {outcome!r}")
    if r.returncode != 0:
        problems.append(f"{target}: the loader process died (exit {r.returncode}) at {started!r}; "
                        f"input kept in {work / 'current-input'}; stderr: {r.stderr[-300:]}")
    return problems


@pytest.mark.parametrize("target", sorted(ALLOWED))
def test_fuzz_loaders(tiny_run, tmp_path, target):
    out, _ = tiny_run
    problems = fuzz(target, out, tmp_path / target, ITERATIONS, seed=sorted(ALLOWED).index(target))
    assert not problems, "\n".join(problems)
