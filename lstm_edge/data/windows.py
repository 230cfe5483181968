"""From a Series to training windows: time-ordered split, normalization, windowing.

Normalization statistics come from the training split only and travel with the model
(checkpoint JSON, bundle manifest), so every stage and the device see identical inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstm_edge.data.series import Series
from lstm_edge.errors import InvalidInputError


@dataclass(frozen=True)
class Normalization:
    columns: tuple[str, ...]
    mean: np.ndarray          # (C,) float32, from the training split
    std: np.ndarray           # (C,) float32, > 0

    def apply(self, values):  # (..., C) raw units → standard units
        return ((values - self.mean) / self.std).astype(np.float32)

    def invert(self, values, columns):  # (..., K) standard units of `columns` → raw units
        idx = [self.columns.index(c) for c in columns]
        return values * self.std[idx] + self.mean[idx]

    def to_dict(self) -> dict:
        return {"columns": list(self.columns), "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        return cls(tuple(d["columns"]), np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


@dataclass(frozen=True)
class SeriesWindows:
    """One contiguous part of the series, with the windows cut from it."""

    start: int                # index of the first row of this split in the full series
    x: np.ndarray             # (Nw, T, F) normalized inputs
    y: np.ndarray             # (Nw, T, O) normalized targets: target value at t + horizon
    last_time: np.ndarray     # (Nw,) series index of the value y[:, -1] forecasts


@dataclass(frozen=True)
class Prepared:
    features: tuple[str, ...]
    targets: tuple[str, ...]
    norm: Normalization
    values: np.ndarray        # (N, C) raw series, all columns (for baselines)
    anomaly: np.ndarray | None
    train: SeriesWindows
    val: SeriesWindows
    test: SeriesWindows


def prepare(series: Series, *, features, targets, window: int, horizon: int, split) -> Prepared:
    features = tuple(features) or series.columns
    for c in (*features, *targets):
        series.column_index(c)  # raises InvalidInputError naming the column
    n = len(series.values)
    bounds = np.cumsum([0] + [int(round(f * n)) for f in split[:-1]] + [0])
    bounds[-1] = n
    need = window + horizon
    for name, a, b in zip(("train", "validation", "test"), bounds[:-1], bounds[1:]):
        if b - a < need:
            raise InvalidInputError(
                f"the {name} split has {b - a} rows but one window needs {need} (window {window} + horizon {horizon})",
                hint="use a longer series or a smaller data.window",
            )
    train_vals = series.values[bounds[0]:bounds[1]]
    std = train_vals.std(axis=0)
    if np.any(std == 0):
        col = series.columns[int(np.argmax(std == 0))]
        raise InvalidInputError(f"column '{col}' is constant over the training split: it cannot be normalized",
                                hint="drop the column from data.features")
    norm = Normalization(series.columns, train_vals.mean(axis=0).astype(np.float32), std.astype(np.float32))
    z = norm.apply(series.values)
    fi = [series.columns.index(c) for c in features]
    ti = [series.columns.index(c) for c in targets]
    parts = [_cut(z, fi, ti, a, b, window, horizon) for a, b in zip(bounds[:-1], bounds[1:])]
    return Prepared(features, tuple(targets), norm, series.values, series.anomaly, *parts)


def _cut(z, fi, ti, a, b, window, horizon) -> SeriesWindows:
    """All windows (stride 1) inside rows [a, b): inputs z[s:s+T], targets z[s+h:s+h+T]."""
    starts = np.arange(a, b - window - horizon + 1)
    steps = starts[:, None] + np.arange(window)[None, :]            # (Nw, T)
    x = z[steps][:, :, fi]                                           # (Nw, T, F)
    y = z[steps + horizon][:, :, ti]                                 # (Nw, T, O)
    return SeriesWindows(a, x.astype(np.float32), y.astype(np.float32), steps[:, -1] + horizon)
