"""`lstm-edge stream DIR --input FILE`: a live session over one artefact, one row per step.

Reads the input row by row (CSV) — nothing accumulates, so memory stays flat however long
the input — normalizes with the model's statistics, steps a Stream, and yields per step the
forecast for the next step (raw units) and, for each target, an anomaly flag: the observed
value is further than `threshold` × σ from the forecast made one step earlier, σ being the
artefact's own forecast-error spread on the validation windows.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from lstm_edge.errors import InvalidInputError, UsageError


@dataclass
class StepResult:
    t: int
    forecast: dict[str, float]          # target → forecast of the next step, raw units
    anomalies: dict[str, tuple[float, float]]   # target → (observed, forecast made for it)


def rows_from_file(path: Path, features: list[str]) -> Iterator[np.ndarray]:
    """(F,) raw-unit rows, in feature order, one at a time. CSV (header naming the features) or npz ("x": (T, F))."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z.files or z["x"].ndim != 2 or z["x"].shape[1] != len(features):
                raise InvalidInputError(f"{path}: expected an array 'x' of shape (T, {len(features)}) "
                                        f"with columns {features}")
            yield from z["x"].astype(np.float32)
        return
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in features if c not in header]
        if missing:
            raise InvalidInputError(f"{path}: no column(s) {missing} (header: {', '.join(header)})",
                                    hint=f"the model reads {features}")
        idx = [header.index(c) for c in features]
        for line, row in enumerate(reader, start=2):
            try:
                values = np.array([float(row[i]) for i in idx], np.float32)
            except (ValueError, IndexError):
                raise InvalidInputError(f"{path}: line {line}: expected numbers in columns {features}")
            if not np.isfinite(values).all():
                raise InvalidInputError(f"{path}: line {line}: a value is not finite")
            yield values


def residual_sigma(runner, directory: Path, meta: dict) -> np.ndarray:
    """σ of (forecast − truth) per target, raw units, on the validation windows, through this artefact."""
    from lstm_edge.checkpoint import load_val_set
    from lstm_edge.data.windows import Normalization

    val, norm = load_val_set(directory, meta), Normalization.from_dict(meta["normalization"])
    L, H = meta["dims"]["num_layers"], meta["dims"]["hidden_size"]
    zero = np.zeros((L, len(val["x"]), H), np.float32)
    y = runner.run({"x": val["x"], "h0": zero, "c0": zero})["y"][:, -1]
    return (norm.invert(y.astype(np.float64), meta["targets"]) - val["truth"]).std(axis=0)


def stream_session(directory: Path, source: Path, *, artifact: str = "onnx-fp32.onnx",
                   threshold: float = 4.0) -> Iterator[StepResult]:
    from lstm_edge.artifacts import read_sidecar
    from lstm_edge.data.windows import Normalization
    from lstm_edge.runtime import Stream, open_runner
    from lstm_edge.runtime.stream import open_sequence_runner

    directory = Path(directory)
    meta = json.loads((directory / "model.json").read_text()) if (directory / "model.json").exists() else None
    if meta is None:
        raise InvalidInputError(f"{directory} holds no model.json", hint="run lstm-edge pipeline first")
    path = directory / artifact
    if not path.exists():
        raise UsageError(f"{path} does not exist", hint="choose an artefact that returns the cell state, e.g. onnx-fp32.onnx")
    read_sidecar(path)   # hash check before use
    stream = Stream(open_runner(path))
    sigma = residual_sigma(open_sequence_runner(path), directory, meta)
    norm = Normalization.from_dict(meta["normalization"])
    features, targets = meta["features"], meta["targets"]
    fi = [norm.columns.index(c) for c in features]
    target_pos = [features.index(c) for c in targets]
    previous = None
    for t, row in enumerate(rows_from_file(source, features)):
        z = ((row - norm.mean[fi]) / norm.std[fi]).astype(np.float32)
        y = stream.step(z[None])[0]                                     # (O,) normalized forecast of t + 1
        forecast = norm.invert(y.astype(np.float64), targets)
        anomalies = {}
        if previous is not None:
            for k, name in enumerate(targets):
                observed = float(row[target_pos[k]])
                if abs(observed - previous[k]) > threshold * sigma[k]:
                    anomalies[name] = (observed, float(previous[k]))
        previous = forecast
        yield StepResult(t, {n: float(v) for n, v in zip(targets, forecast)}, anomalies)
