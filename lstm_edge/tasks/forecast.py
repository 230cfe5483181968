"""Forecasting (the default `sensor` model, and any CSV): y[t] is the target one horizon ahead.

Data, windows and the metric are the forecast modules' own (data/windows.py, tasks/forecast_metrics.py):
this class only gives them the task interface. The metric is the test MAE of the last step
of each window in training-std units; the baseline is seasonal-naive, which must be beaten
on every target.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.tasks.base import Examples, TaskData, generic


class ForecastTask:
    name = "forecast"
    metric = "mae_std_units"
    lower_is_better = True
    scored_steps = "last"      # the device scores y[:, -1] against golden "windows.target"

    def __init__(self, spec, meta: dict | None = None):
        self.spec, self.meta = spec, meta
        self.prep = None

    def load(self, csv: Path | None = None, *, time_column: str | None = None) -> TaskData:
        from lstm_edge.data.load import load_series
        from lstm_edge.data.windows import prepare

        d = self.spec.data
        series = load_series(self.spec, csv, time_column=time_column)
        self.prep = prep = prepare(series, features=d.features, targets=d.targets, window=d.window,
                                   horizon=d.horizon, split=d.split)
        self.meta = {"normalization": prep.norm.to_dict(), "targets": list(prep.targets)}
        residual = [prep.features.index(c) for c in prep.targets] if set(prep.targets) <= set(prep.features) else []
        return TaskData(Examples(prep.train.x, prep.train.y), Examples(prep.val.x, prep.val.y),
                        Examples(prep.test.x, prep.test.y), prep.features, prep.targets, prep.norm.to_dict(),
                        series.source, {"residual": residual, "rows": len(series.values)})

    def loss(self, out, y):
        """MSE of normalized forecasts, steps t ≥ warmup: the first steps have too little context."""
        w = self.spec.train.warmup_steps
        return ((out[:, w:] - y[:, w:]) ** 2).mean()

    def eval_set(self, data: TaskData, split: str) -> dict[str, np.ndarray]:
        """x, truth, seasonal_naive, persistence (metrics.test_set): scored without the series."""
        from lstm_edge.tasks.forecast_metrics import test_set

        return test_set(self.prep, period=self.spec.data.period, horizon=self.spec.data.horizon, split=split)

    def score(self, y: np.ndarray, ev: dict) -> dict:
        """y (N, T, O) normalized forecasts of the windows of `ev`."""
        from lstm_edge.data.windows import Normalization
        from lstm_edge.tasks.forecast_metrics import forecast_metrics

        norm = Normalization.from_dict(self.meta["normalization"])
        m = forecast_metrics(y[:, -1], ev, norm, self.meta["targets"])
        return generic(self.metric, m["mae_std_units"], True, "seasonal-naive", m["seasonal_naive_mae_std_units"],
                       m["beats_seasonal_naive"],
                       f"test MAE {m['mae_std_units']:.4f} std units vs seasonal-naive "
                       f"{m['seasonal_naive_mae_std_units']:.4f} ({m['improvement_vs_seasonal_naive_pct']:+.1f} %), "
                       f"persistence {m['persistence_mae_std_units']:.4f}", **m)

    def golden_target(self, ev: dict) -> np.ndarray:
        """The truth in training-std units: |y[:, -1] − target| averages to the MAE in std units."""
        from lstm_edge.data.windows import Normalization

        norm = Normalization.from_dict(self.meta["normalization"])
        ti = [norm.columns.index(c) for c in self.meta["targets"]]
        return (ev["truth"] - norm.mean[ti].astype(np.float64)) / norm.std[ti].astype(np.float64)
