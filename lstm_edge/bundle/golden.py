"""Golden vectors for the device: inputs, and every stage's outputs as the host computed them.

Two cases, both drawn from the parity cases `verify` judged:
- "windows": every test window from a zero state (B = Nw, T = window); the task metric is
  scored on it, so a quantized artefact is judged on the device as on the host (a task that
  scores every step, charlm, keeps its first ALL_STEP_WINDOWS windows: y is (N, T, V) there);
- "state": the largest random-state case of at most 100 steps (inputs ~ N(0, 1), h0, c0 ≠ 0),
  so the state inputs and hn, cn are exercised too.

Stored in one npz (no pickles) as "<case>.<x|h0|c0|target>" and "<stage>.<case>.<y|hn|cn>",
with "model_sha256", the hash of the weights they came from. Of the windows case only y's
last step is kept (what the metric scores: (Nw, 1, O)); the state case keeps every output at
every step. That keeps golden.npz small (0.23 MiB for the default model, not 10 MB).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.verify.parity import parity_cases

CASES = ("windows", "state")
ALL_STEP_WINDOWS = 16


def golden_cases(spec, dims: dict, test: dict, task) -> dict[str, dict[str, np.ndarray]]:
    cases = parity_cases(spec, dims, test["x"])
    windows = cases[0].feeds
    target = task.golden_target(test)           # what the device's metric compares y with
    if task.scored_steps == "all":
        windows = {k: v[:, :ALL_STEP_WINDOWS] if k in ("h0", "c0") else v[:ALL_STEP_WINDOWS] for k, v in windows.items()}
        target = target[:ALL_STEP_WINDOWS]
    short = [c for c in cases[1:] if c.feeds["x"].shape[1] <= 100] or cases[1:]
    state = max(short, key=lambda c: c.feeds["x"].shape[0] * c.feeds["x"].shape[1]).feeds
    return {"windows": dict(windows, target=target), "state": dict(state)}


def host_outputs(runner, cases: dict, scored_steps: str = "last") -> dict[str, dict[str, np.ndarray]]:
    """{case: {output: array}} of one stage, float32 as the runtime returned it (windows: y's
    last step, or the whole y for a task that scores every step and for a user's metric)."""
    outputs = {case: runner.run({k: feeds[k] for k in runner.input_names}) for case, feeds in cases.items()}
    y = outputs["windows"]["y"]
    outputs["windows"] = {"y": np.ascontiguousarray(y if scored_steps == "all" else y[:, -1:])}
    return outputs


def write_golden(path: Path, weights_sha256: str, cases: dict, outputs: dict[str, dict]) -> None:
    arrays = {"model_sha256": np.array(weights_sha256)}
    for case, feeds in cases.items():
        arrays |= {f"{case}.{k}": v for k, v in feeds.items()}
    for stage, per_case in outputs.items():
        for case, outs in per_case.items():
            arrays |= {f"{stage}.{case}.{k}": v for k, v in outs.items()}
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def describe(cases: dict) -> dict:
    """For the manifest: each case's input shapes."""
    return {case: {k: list(v.shape) for k, v in feeds.items()} for case, feeds in cases.items()}
