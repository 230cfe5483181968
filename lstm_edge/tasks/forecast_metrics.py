"""The task metric: forecast MAE on the test split, against the seasonal-naive baseline.

Each test window's last step is scored (full context, every forecast time once). MAE is
reported per target in raw units, and as one unitless figure: MAE in training-std units,
averaged over targets. The seasonal-naive forecast of time s is the value one season
earlier, x[s − period·⌈horizon/period⌉]; persistence (x[s − horizon]) is shown beside it.

The test set is saved with the checkpoint (test_set.npz), so `verify` scores every stage
on the same windows without regenerating or re-reading the user's data.
"""
from __future__ import annotations

import math

import numpy as np

from lstm_edge.data.windows import Normalization, Prepared


def test_set(prep: Prepared, *, period: int, horizon: int, split: str = "test") -> dict[str, np.ndarray]:
    """x (Nw, T, F) normalized inputs; truth, seasonal_naive, persistence (Nw, O) raw units.

    split="val" gives the same for the validation windows: quantization recipes are chosen
    (and refused) on those, so the test split only ever judges."""
    part = prep.test if split == "test" else prep.val
    s = part.last_time                                                 # (Nw,) forecast times
    ti = [prep.norm.columns.index(c) for c in prep.targets]
    lag = period * math.ceil(horizon / period)
    return {"x": part.x, "truth": prep.values[s][:, ti].astype(np.float64),
            "seasonal_naive": prep.values[s - lag][:, ti].astype(np.float64),
            "persistence": prep.values[s - horizon][:, ti].astype(np.float64)}


def forecast_metrics(pred_last: np.ndarray, test: dict, norm: Normalization, targets) -> dict:
    """pred_last (Nw, O): normalized forecasts at the last step of each test window."""
    truth = test["truth"]
    pred = norm.invert(np.asarray(pred_last, np.float64), targets)
    std = norm.std[[norm.columns.index(c) for c in targets]].astype(np.float64)

    def mae(a):
        return np.abs(a - truth).mean(axis=0)                          # (O,)

    m_model, m_seasonal, m_persist = mae(pred), mae(test["seasonal_naive"]), mae(test["persistence"])
    mae_std, naive_std = float((m_model / std).mean()), float((m_seasonal / std).mean())
    return {
        "test_windows": int(len(truth)),
        "mae_std_units": mae_std,
        "seasonal_naive_mae_std_units": naive_std,
        "persistence_mae_std_units": float((m_persist / std).mean()),
        "improvement_vs_seasonal_naive_pct": 100 * (1 - mae_std / naive_std),
        "beats_seasonal_naive": bool(np.all(m_model < m_seasonal)),
        "per_target": {
            name: {"mae": float(m_model[k]), "seasonal_naive_mae": float(m_seasonal[k]),
                   "persistence_mae": float(m_persist[k]),
                   "improvement_vs_seasonal_naive_pct": float(100 * (1 - m_model[k] / m_seasonal[k]))}
            for k, name in enumerate(targets)
        },
    }
