"""`lstm-edge stream DIR --input FILE`: a live session over one artefact, one row per step.

The rows are read and stepped by lstm_edge.runtime.harness.rows (shared with the device harness's
`run`); this module finds the artefact in an output directory, checks its hash, and
measures σ, the artefact's own forecast-error spread on the validation windows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from lstm_edge.errors import InvalidInputError, UsageError
from lstm_edge.runtime.harness.rows import forecast_steps, rows_from_file


@dataclass
class StepResult:
    t: int
    forecast: dict[str, float]          # target → forecast of the next step, raw units
    anomalies: dict[str, tuple[float, float]]   # target → (observed, forecast made for it)


def residual_sigma(runner, directory: Path, meta: dict) -> np.ndarray:
    """σ of (forecast − truth) per target, raw units, on the validation windows, through this artefact."""
    from lstm_edge.train.checkpoint import load_val_set
    from lstm_edge.data.windows import Normalization

    val, norm = load_val_set(directory, meta), Normalization.from_dict(meta["normalization"])
    L, H = meta["dims"]["num_layers"], meta["dims"]["hidden_size"]
    zero = np.zeros((L, len(val["x"]), H), np.float32)
    y = runner.run({"x": val["x"], "h0": zero, "c0": zero})["y"][:, -1]
    return (norm.invert(y.astype(np.float64), meta["targets"]) - val["truth"]).std(axis=0)


def stream_session(directory: Path, source: Path, *, artifact: str = "onnx-fp32.onnx",
                   threshold: float = 4.0) -> Iterator[StepResult]:
    from lstm_edge.files import read_sidecar
    from lstm_edge.data.windows import Normalization
    from lstm_edge.runtime import Stream, open_runner
    from lstm_edge.runtime.runner import open_sequence_runner

    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text()) if (directory / "model.json").exists() else None
    if meta is None:
        raise InvalidInputError(f"{directory} holds no model.json", hint="run lstm-edge pipeline first")
    task = meta.get("task", {"name": "forecast"})["name"]
    if task != "forecast":
        raise UsageError(f"{directory} holds a {task} model; `stream` forecasts sensor rows",
                         hint="use `lstm-edge sample` for a character model" if task == "charlm" else None)
    path = directory / artifact
    if not path.exists():
        raise UsageError(f"{path} does not exist", hint="choose an artefact that returns the cell state, e.g. onnx-fp32.onnx")
    read_sidecar(path)   # hash check before use
    stream = Stream(open_runner(path))
    sigma = residual_sigma(open_sequence_runner(path), directory, meta)
    norm = Normalization.from_dict(meta["normalization"])
    features, targets = meta["features"], meta["targets"]
    fi = [norm.columns.index(c) for c in features]
    steps = forecast_steps(stream, rows_from_file(source, features), mean=norm.mean[fi], std=norm.std[fi],
                           target_pos=[features.index(c) for c in targets], sigma=sigma, threshold=threshold)
    for t, forecast, anomalies in steps:
        yield StepResult(t, {n: float(v) for n, v in zip(targets, forecast)},
                         {targets[k]: v for k, v in anomalies.items()})
