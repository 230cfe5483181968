"""Load and run an artefact in a child process, so a native crash cannot take us down.

Native runtimes can abort on models our own tools made (measured: onnxruntime segfaults
creating a session for convert_float_to_float16 output; LiteRT's integer LSTM aborts with
"free(): invalid pointer" when its batch is resized). Every candidate artefact is probed
here before it is loaded in-process.

    python -m lstm_edge.runtime.probe ARTIFACT --batches 1,2   →  one JSON line
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def probe(path: Path, batches=(1, 2, 7), timeout: float = 120.0) -> dict[int, str]:
    """→ {batch: "ok" | "crashed: SIGSEGV" | "mismatch: …" | "error: …"} per batch size.

    At B > 1 the batched result must equal the rows run one by one: a kernel that corrupts
    memory when resized does not always crash (measured: LiteRT's integer LSTM passed a
    B = 2, T = 3 run, then aborted the next process at B = 50)."""
    from lstm_edge.runtime.child import run_child

    results = {}
    for b in batches:   # one child per batch size: a crash at B = 2 must not hide B = 1
        r = run_child("lstm_edge.runtime.probe", [path, "--batches", b], timeout=timeout)
        if r.crash and r.crash.startswith("hung"):
            results[b] = f"error: {r.crash}"
        elif r.crash:
            results[b] = f"crashed: {r.crash}"
        elif r.failed or not r.stdout.strip():
            results[b] = f"crashed: exit {r.returncode} ({r.last_error[:200]})"
        else:
            results[b] = json.loads(r.stdout.strip().splitlines()[-1])[str(b)]
    return results


def _run_here(path: Path, batches) -> dict[str, str]:
    import os

    from lstm_edge.runtime.contract import row
    from lstm_edge.runtime.feeds import runner_inputs
    from lstm_edge.runtime.runner import open_sequence_runner

    if os.environ.get("LSTM_EDGE_INJECT_CRASH") == Path(path).name:   # fault injection for the tests
        os.abort()
    runner = open_sequence_runner(path, in_process=True)
    bx = runner.info.get("x_layout", "BTF").index("B")           # time-major x: (T, B, …)
    y_axis = runner.info.get("y_batch_axis", 0)
    out = {}
    rng = np.random.default_rng(0)
    for b in batches:
        feeds = runner_inputs(rng, runner, b, 50)       # the artefact's own inputs: names, layout, dtype, T
        try:
            rows = [runner.run(row(feeds, r, bx)) for r in range(b)] if b > 1 else []
            batched = runner.run(feeds)
            gap = max((float(np.abs(np.take(batched["y"], [k], axis=y_axis) - r["y"]).max()) for k, r in enumerate(rows)),
                      default=0.0)
            out[str(b)] = "ok" if gap <= 1e-5 else f"mismatch: batched y differs from row-by-row by {gap:.3g}"
        except Exception as e:  # the runtime's own error types
            out[str(b)] = f"error: {str(e)[:200]}"
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact", type=Path)
    ap.add_argument("--batches", default="1,2")
    a = ap.parse_args()
    print(json.dumps(_run_here(a.artifact, [int(b) for b in a.batches.split(",")])))
