"""Users' own models for tests/test_project.py: the README's example (examples/your_model/), written as a
user writes them — not built from lstm_edge.model, trained by their own loop (make.py), saved as users
save (safetensors, npz, a metric function in a file). The tests copy the module files beside the data,
as a user's project directory holds them.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "your_model"


def _make():
    spec = importlib.util.spec_from_file_location("example_make", EXAMPLE / "make.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_kws(directory: Path) -> dict:
    """Train the keyword spotter into `directory`; → what `lstm-edge init` is given."""
    shutil.copy(EXAMPLE / "kws.py", directory / "kws.py")
    _make().make_kws(directory)
    return {"module": f"{directory / 'kws.py'}:KeywordSpotter", "weights": directory / "kws.safetensors",
            "evaluation": directory / "kws_eval.npz", "calibration": directory / "kws_calib.npz", "shape": "2,30,13"}


def make_conv_attention(directory: Path) -> dict:
    """The keyword frames through a module of several layers (Conv1d, two LSTMs, residual, LayerNorm, attention)."""
    shutil.copy(EXAMPLE / "conv_attention.py", directory / "conv_attention.py")
    _make().make_conv_attention(directory)
    return {"module": f"{directory / 'conv_attention.py'}:ConvAttentionClassifier",
            "weights": directory / "conv_attention.safetensors", "evaluation": directory / "kws_eval.npz",
            "calibration": directory / "kws_calib.npz", "shape": "2,30,13"}


def make_forecaster(directory: Path) -> dict:
    for f in ("forecaster.py", "smape.py"):
        shutil.copy(EXAMPLE / f, directory / f)
    _make().make_forecaster(directory)
    return {"module": f"{directory / 'forecaster.py'}:Forecaster", "weights": directory / "forecaster.safetensors",
            "evaluation": directory / "forecaster_eval.npz", "calibration": None, "shape": "2,64,2",
            "metric_function": f"{directory / 'smape.py'}:smape"}


def make_residual(directory: Path) -> dict:
    """The two-tone series through a module of several layers that streams (Linear, LSTM ×2, residual LayerNorm, GRU)."""
    shutil.copy(EXAMPLE / "residual.py", directory / "residual.py")
    _make().make_residual(directory)
    return {"module": f"{directory / 'residual.py'}:ResidualForecaster", "weights": directory / "residual.safetensors",
            "evaluation": directory / "forecaster_eval.npz", "calibration": None, "shape": "2,64,2"}
