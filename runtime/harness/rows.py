"""Live input, one row at a time: shared by `lstm-edge stream` (host) and
`python -m lstm_edge.runtime run` (device).

Rows are read lazily (CSV or npz), so memory stays flat however long the input; each row is
normalized with the model's statistics, stepped through a Stream, and turned into the
forecast of the next step (raw units) and, per target, an anomaly flag: the observed value
lies further than `threshold` × σ from the forecast made for it one step earlier, σ being
the artefact's forecast-error spread on the validation windows.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Iterator

import numpy as np

from lstm_edge.errors import InvalidInputError


def rows_from_file(path: Path, features: list[str]) -> Iterator[np.ndarray]:
    """(F,) raw-unit rows, in feature order, one at a time. CSV (header naming the features) or npz ("x": (T, F))."""
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"{path}: no such file")
    if path.suffix == ".npz":
        from lstm_edge.runtime.sniff import read_npz

        x = read_npz(path).get("x")
        if x is None or x.ndim != 2 or x.shape[1] != len(features):
            raise InvalidInputError(f"{path}: expected an array 'x' of shape (T, {len(features)}) "
                                    f"with columns {features}")
        yield from x.astype(np.float32)
        return
    # utf-8-sig: a byte-order mark (Excel's "CSV UTF-8") is not part of the first column's name;
    # newline="": CRLF and a line break inside a quoted field are the csv module's to split
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        try:
            header = [h.strip() for h in next(reader, [])]
            missing = [c for c in features if c not in header]
            if missing:
                raise InvalidInputError(f"{path}: no column(s) {missing} (header: {', '.join(header)})",
                                        hint=f"the model reads {features}")
            idx = [header.index(c) for c in features]
            for row in reader:
                if row:                                     # a blank line (a trailing one too) holds no row
                    yield _row(path, reader.line_num, row, idx, features, len(header))
        except UnicodeDecodeError as e:
            raise InvalidInputError(f"{path}: not UTF-8 text (near byte {e.start} of a block): "
                                    "not a CSV, or save it as UTF-8")
        except csv.Error as e:                              # NUL bytes, an unterminated quote at the end
            raise InvalidInputError(f"{path}: line {reader.line_num}: not a CSV ({e})")


def parse_number(cell: str, where, line: int, name: str) -> float:
    """One CSV cell as a finite float, or an error naming the line, the column and the value. The one
    reading of a number from a CSV: `train` (lstm_edge/data/csv_loader.py) and live rows alike."""
    try:
        v = float(cell)
    except ValueError:
        shown = cell if len(cell) <= 30 else cell[:27] + "..."
        what = "is empty" if cell == "" else f"is '{shown}', not a number"
        raise InvalidInputError(f"{where}: line {line}, column '{name}' {what}",
                                hint="fill or drop the row; lstm-edge does not guess missing values")
    if not math.isfinite(v):
        raise InvalidInputError(f"{where}: line {line}, column '{name}' is {cell} (not finite)")
    return v


def _row(path: Path, line: int, row: list[str], idx: list[int], features: list[str], width: int) -> np.ndarray:
    """One CSV row as (F,) float32; a bad cell is named by line, column and value, as `train` names it
    (lstm_edge/data/csv_loader.py)."""
    if max(idx) >= len(row):
        raise InvalidInputError(f"{path}: line {line} has {len(row)} fields, the header has {width}")
    values = np.empty(len(idx), np.float32)
    for k, (i, name) in enumerate(zip(idx, features)):
        cell = row[i].strip()
        v = parse_number(cell, path, line, name)
        with np.errstate(over="ignore"):
            values[k] = v
        if not np.isfinite(values[k]):
            raise InvalidInputError(f"{path}: line {line}, column '{name}' is {cell} (not finite in float32)")
    return values


def forecast_steps(stream, rows, *, mean: np.ndarray, std: np.ndarray, target_pos: list[int],
                   sigma: np.ndarray | None = None, threshold: float = 4.0):
    """→ (t, forecast (O,) raw units for step t + 1, {target k: (observed, forecast made for it)}).

    mean, std (F,): the features' training statistics; target_pos: each target's feature index
    (targets are inputs too: the head is residual). No σ, no anomaly flags."""
    mean, std = np.asarray(mean, np.float64), np.asarray(std, np.float64)
    previous = None
    for t, row in enumerate(rows):
        z = ((row - mean) / std).astype(np.float32)
        y = stream.step(z[None])[0]                                       # (O,) normalized forecast of t + 1
        forecast = y.astype(np.float64) * std[target_pos] + mean[target_pos]
        anomalies = {}
        if previous is not None and sigma is not None:
            for k, pos in enumerate(target_pos):
                observed = float(row[pos])
                if abs(observed - previous[k]) > threshold * sigma[k]:
                    anomalies[k] = (observed, float(previous[k]))
        previous = forecast
        yield t, forecast, anomalies
