"""`python -m lstm_edge.runtime run BUNDLE --input FILE`: use the bundled model on the device.

- `.npz` with `x` (B, T, F) in model units, and optionally `h0`, `c0` (L, B, H): one call;
  writes y, hn, cn (those the artefact returns) to an npz. An artefact of a user's module takes x
  in that module's layout and dtype, as its sidecar says ((T, B, F); int64 ids (B, T)).
- `.csv` with the model's feature columns in raw units: a live stream, one row per step
  (normalized with the manifest's statistics); writes one CSV row per step with the forecast
  of the next step in raw units and the targets flagged as anomalous.

The artefact is `--artifact`, or the first one the installed runtime can run (for CSV: the
first that returns the cell state, so it can carry the stream).
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from lstm_edge.errors import EnvironmentFault, InvalidInputError, UsageError


def choose_artifact(bundle, name: str | None, *, streaming: bool) -> dict:
    from lstm_edge.runtime.harness.verify import RUNTIME_MODULES, runtime_installed

    if name:
        a = bundle.artifact(name)                     # not in the bundle: 2, naming those that are
        if streaming and "cn" not in a["outputs"]:   # the artefact cannot do it: 3, as from lstm-edge stream/sample
            raise InvalidInputError(f"{a['file']} does not return the cell state 'cn', so it cannot carry a stream",
                                    hint="choose a streaming artefact: " + ", ".join(
                                        x["file"] for x in bundle.artifacts if "cn" in x["outputs"]))
        if not runtime_installed(a["runtime"]):
            raise EnvironmentFault(f"{a['file']} needs {RUNTIME_MODULES[a['runtime']]}, which is not installed here",
                                   hint=f"pip install {a['runtime'].replace('litert', 'ai-edge-litert')}")
        return a
    for a in bundle.artifacts:
        if runtime_installed(a["runtime"]) and (not streaming or "cn" in a["outputs"]):
            return a
    raise EnvironmentFault(f"{bundle.root}: no {'streaming ' if streaming else ''}artefact here can run with the "
                           "runtimes installed", hint="pip install lstm-edge")


def run_bundle(bundle, source: Path, *, artifact: str | None = None, output: Path | None = None,
               threads: int = 1, threshold: float = 4.0) -> str:
    """Run `source` through one artefact; → a one-line summary. Output goes to `output`
    (default: beside the input, `<name>.out.npz` / `.out.csv`; "-" for stdout, CSV only)."""
    source = Path(source)
    if not source.exists():
        raise InvalidInputError(f"{source}: no such file")
    if source.suffix == ".npz":
        return _run_npz(bundle, source, artifact, output or source.with_suffix(".out.npz"), threads)
    if source.suffix == ".csv":
        return _run_csv(bundle, source, artifact, output or source.with_suffix(".out.csv"), threads, threshold)
    raise UsageError(f"{source}: expected a .npz (model inputs) or a .csv (raw sensor rows)")


def _run_npz(bundle, source: Path, name, output: Path, threads: int) -> str:
    from lstm_edge.runtime.contract import X_LAYOUTS, XSpec
    from lstm_edge.runtime.runner import open_sequence_runner

    a = choose_artifact(bundle, name, streaming=False)
    from lstm_edge.runtime.sniff import read_npz

    arrays = read_npz(source)
    if "x" not in arrays:
        raise InvalidInputError(f"{source}: no array 'x' (B, T, F); found {sorted(arrays)}")
    feeds = {k: arrays[k] for k in ("x", "h0", "c0") if k in arrays}
    x = feeds["x"]
    runner = open_sequence_runner(bundle.root / a["file"], threads=threads)
    spec = getattr(runner, "x_spec", XSpec())          # a user's module's own x: (T, B, F), int64 ids (B, T) …
    if x.ndim != len(spec.layout):
        raise InvalidInputError(f"{source}: 'x' has shape {x.shape}, expected {X_LAYOUTS[spec.layout]}")
    L, H = bundle.manifest["model"]["num_layers"], bundle.manifest["model"]["hidden_size"]
    for s in (n for n in runner.input_names if n != "x"):   # zero states the artefact takes (a GRU has no c0)
        declared = runner.expected[s]
        feeds.setdefault(s, np.zeros((declared[0] or L, x.shape[spec.batch_axis], declared[2] or H), np.float32))
    outs = runner.run(feeds)   # checks dtype/shape/NaN
    np.savez(output, **outs)
    return f"{a['file']}: x {x.shape} → " + ", ".join(f"{k} {v.shape}" for k, v in outs.items()) + f"; wrote {output}"


def _run_csv(bundle, source: Path, name, output, threads: int, threshold: float) -> str:
    from lstm_edge.runtime.harness.rows import forecast_steps, rows_from_file
    from lstm_edge.runtime import Stream, open_runner

    task = bundle.manifest.get("task", {"name": "forecast"})["name"]
    if task != "forecast":
        raise UsageError(f"a CSV of raw sensor rows feeds a forecasting model; this bundle holds a {task} model",
                         hint="pass model inputs as .npz (x (B, T, F))" + (", or use `sample`" if task == "charlm" else ""))
    a = choose_artifact(bundle, name, streaming=True)
    m = bundle.manifest["model"]
    norm, features, targets = m["normalization"], m["features"], m["targets"]
    fi = [norm["columns"].index(c) for c in features]
    sigma = a.get("residual_sigma")
    steps = forecast_steps(Stream(open_runner(bundle.root / a["file"], threads=threads)),
                           rows_from_file(source, features),
                           mean=np.array(norm["mean"])[fi], std=np.array(norm["std"])[fi],
                           target_pos=[features.index(c) for c in targets],
                           sigma=None if sigma is None else np.array(sigma), threshold=threshold)
    out = sys.stdout if str(output) == "-" else open(output, "w", newline="", encoding="utf-8")
    n = flagged = 0
    try:
        w = csv.writer(out)
        w.writerow(["t"] + [f"forecast_next_{c}" for c in targets] + ["anomaly"])
        for t, forecast, anomalies in steps:
            w.writerow([t] + [f"{v:.6g}" for v in forecast] + [";".join(targets[k] for k in anomalies)])
            n, flagged = n + 1, flagged + bool(anomalies)
    finally:
        if out is not sys.stdout:
            out.close()
    where = "stdout" if out is sys.stdout else output
    return f"{a['file']}: {n} rows streamed, {flagged} flagged as anomalous (threshold {threshold} σ); wrote {where}"
