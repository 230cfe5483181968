"""Shared fixtures: tiny seeded specs and one tiny trained model taken through the pipeline once."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")    # before anything imports tensorflow
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import pytest

from lstm_edge.model.spec import spec_from_dict

FP32 = {"atol": 1e-5, "rtol": 1e-5}
FP32_STAGES = ("numpy-reference", "onnx-fp32", "tflite-fp32", "tflite-step-fp32")
QUANT_BUDGETS = [  # the shipped spec's budgets (models/sensor.toml)
    {"parent": "onnx-fp32", "child": "onnx-int8-dynamic", "metric_increase": 0.02},
    {"parent": "onnx-fp32", "child": "onnx-int8-static", "metric_increase": 0.02},
    {"parent": "onnx-fp32", "child": "onnx-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-fp32", "child": "tflite-dynamic-range", "metric_increase": 0.02},
    {"parent": "tflite-fp32", "child": "tflite-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-step-fp32", "child": "tflite-step-dynamic-range", "metric_increase": 0.02},
    {"parent": "tflite-step-fp32", "child": "tflite-step-fp16", "atol": 1e-3, "rtol": 1e-3, "metric_increase": 0.005},
    {"parent": "tflite-fp32", "child": "tflite-int8", "metric_increase": 0.02},
    {"parent": "tflite-fp32", "child": "tflite-int8-io", "metric_increase": 0.02},
]


def tiny_spec_dict(**over) -> dict:
    """A spec small enough to train in seconds; the same budgets as the shipped specs."""
    d = {
        "name": "tiny",
        "data": {"days": 21, "window": 30, "split": [0.7, 0.15, 0.15], "targets": ["temperature", "load"]},
        "model": {"hidden_size": 8, "num_layers": 2},
        "train": {"max_epochs": 3, "batch_size": 32, "warmup_steps": 6, "patience": 2},
        "parity": {"batch_sizes": [1, 2, 7], "lengths": [1, 2, 50, 1000]},
        "tolerance": [dict(parent="pytorch", child=c, **FP32) for c in FP32_STAGES]
        + QUANT_BUDGETS,
    }
    for k, v in over.items():
        d[k] = v
    return d


# Session fixtures that train a model: every test using one (directly or through another
# fixture) is marked `slow`, so `make test-fast` (pytest -m "not slow") never trains.
TRAINING_FIXTURES = frozenset({"tiny_run"})


@pytest.hookimpl(tryfirst=True)   # before `-m` deselects by marker
def pytest_collection_modifyitems(items):
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_spec():
    return spec_from_dict(tiny_spec_dict())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_spec):
    """Train → export → verify the tiny model once; tests read (and copy) what it wrote."""
    from lstm_edge.pipeline import pipeline

    out = tmp_path_factory.mktemp("tiny") / "run"
    report = pipeline(tiny_spec, out, bar=False)
    return out, report
