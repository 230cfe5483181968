"""The report's picture: one-hour-ahead forecasts vs truth over the test split, per artefact."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from lstm_edge.files import write_bytes_atomic

PLOT = "forecast.png"


def forecast_plot(directory: Path, truth: np.ndarray, forecasts: dict[str, np.ndarray], targets, *,
                  steps: int = 168) -> str:
    """truth (Nw, O) and each forecast (Nw, O) in raw units → DIR/forecast.png; returns the file name.

    Consecutive test windows forecast consecutive hours, so their last steps form one series;
    the first `steps` (a week) are drawn, one panel per target; below, each artefact's difference
    from the first (fp32) forecast, which is what quantization changed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(steps, len(truth))
    fig, axes = plt.subplots(2, len(targets), figsize=(6 * len(targets), 6), squeeze=False, sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]})
    for k, name in enumerate(targets):
        top, bottom = axes[0, k], axes[1, k]
        base_name, base = next(iter(forecasts.items()))
        top.plot(truth[:n, k], color="black", lw=2, label="truth")
        for stage, pred in forecasts.items():
            top.plot(pred[:n, k], lw=1, label=stage)
            bottom.plot(pred[:n, k] - base[:n, k], lw=1, label=stage)
        top.set_title(f"{name}: forecast one step ahead, test split")
        bottom.set_xlabel("test hour")
        bottom.set_ylabel(f"− {base_name}")
    axes[0, 0].legend(fontsize=7)
    return _save(fig, directory, PLOT)


DRIFT_PLOT = "drift.png"


def drift_plot(directory: Path, streams) -> str:
    """|y − y_torch| per time step of the long stream, one line per streaming artefact (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    for r in streams:
        curve = np.maximum(r.error_curve, 1e-12)
        ax.plot(np.arange(1, len(curve) + 1), curve, lw=0.8, label=f"{r.stage} ({r.precision})")
    for d in streams[0].drift if streams else []:
        ax.axvline(d["horizon"], color="grey", lw=0.5, ls=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("time step (one step per call, state carried)")
    ax.set_ylabel("max |y − y_PyTorch|")
    ax.set_title("streaming drift against PyTorch")
    ax.legend(fontsize=7)
    return _save(fig, directory, DRIFT_PLOT)


def _save(fig, directory: Path, name: str) -> str:
    """PNG bytes written atomically into the output directory; returns the file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    write_bytes_atomic(Path(directory) / name, buf.getvalue())
    return name
